"""GET /me: the current user with credits, and every way a token can fail."""

import time

import pytest
from jose import jwt
from sqlmodel import select

from app.models import User
from app.security import AUDIENCE
from tests.support.utils import TEST_SECRET_KEY, bearer, register

KEY = TEST_SECRET_KEY


def test_me_returns_the_user_with_credits(make_client):
    client = make_client(default_credits=10)
    registered = register(client).json()
    token = client.post(
        "/auth/login", json={"email": "alice@example.com", "password": "correct horse battery"}
    ).json()["access_token"]

    response = client.get("/me", headers=bearer(token))

    assert response.status_code == 200
    assert response.json() == registered
    assert response.json()["credits"] == 10


def test_me_shows_credits_as_stored_now(client, session, token):
    user = session.exec(select(User)).one()
    user.credits = 42
    session.add(user)
    session.commit()

    assert client.get("/me", headers=bearer(token)).json()["credits"] == 42


def _claims(**changes):
    now = int(time.time())
    claims = {"sub": "1", "iat": now, "exp": now + 600, "typ": "access", "aud": AUDIENCE}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: jwt.encode(_claims(exp=int(time.time()) - 60), KEY), id="expired"),
        pytest.param(lambda: jwt.encode(_claims(), "another key"), id="wrong-key"),
        pytest.param(lambda: jwt.encode(_claims(sub="2"), KEY), id="unknown-user"),
        pytest.param(lambda: "not.a.token", id="garbage"),
    ],
)
def test_bad_tokens_are_401_with_bearer_challenge(client, token, make_token):
    response = client.get("/me", headers=bearer(make_token()))

    assert response.status_code == 401
    assert response.json() == {"detail": "Could not validate credentials"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_tampered_token_is_401(client, token):
    header, payload, signature = token.split(".")
    forged_payload = jwt.encode(_claims(sub="1"), "x").split(".")[1]
    assert forged_payload != payload

    response = client.get("/me", headers=bearer(f"{header}.{forged_payload}.{signature}"))

    assert response.status_code == 401


def test_missing_token_is_401(client):
    response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_token_of_a_deleted_user_is_401(client, session, token):
    assert client.get("/me", headers=bearer(token)).status_code == 200
    session.delete(session.exec(select(User)).one())
    session.commit()

    response = client.get("/me", headers=bearer(token))

    assert response.status_code == 401
