"""Register, login and /auth/token, through the public API."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from app.models import User
from app.security import access_token_claims
from tests.support.utils import PASSWORD, bearer, login, register


def test_register_returns_the_user_without_the_hash(client, session):
    response = register(client, email="  Alice@Example.COM ")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "created_at", "is_active", "credits", "email_verified"}
    assert body["email"] == "alice@example.com"
    assert body["is_active"] is True
    assert body["credits"] == 0
    created_at = datetime.fromisoformat(body["created_at"])
    assert created_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created_at) < timedelta(minutes=1)
    stored = session.exec(select(User)).one()
    assert stored.id == body["id"] and stored.email == "alice@example.com"
    assert stored.password_hash.startswith("$2b$") and PASSWORD not in stored.password_hash


def test_new_users_get_the_configured_default_credits(make_client):
    client = make_client(default_credits=25)
    assert register(client).json()["credits"] == 25


@pytest.mark.parametrize(
    "spelling", ["alice@example.com", "ALICE@EXAMPLE.COM", " Alice@example.com"]
)
def test_registering_an_existing_email_in_any_case_is_409(client, session, spelling):
    first = register(client)

    response = register(client, email=spelling, password="another password")

    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}
    stored = session.exec(select(User)).all()
    assert [user.id for user in stored] == [first.json()["id"]]
    assert login(client).status_code == 200  # the original password still works


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "user@localhost", "password": PASSWORD},
        {"email": "user@[127.0.0.1]", "password": PASSWORD},
        {"email": "", "password": PASSWORD},
        {"email": "alice@example.com", "password": "short7!"},
        {"email": "alice@example.com", "password": "x" * 73},
        {"email": "alice@example.com", "password": "é" * 37},  # 37 chars, 74 bytes
        {"email": "alice@example.com", "password": "nul\x00byte password"},
        {"email": "alice@example.com"},
        {"password": PASSWORD},
        {},
        {"email": 12345, "password": PASSWORD},
        {"email": "alice@example.com", "password": 12345678},
        {"email": ["alice@example.com"], "password": PASSWORD},
        {"email": "alice@example.com", "password": None},
    ],
)
def test_invalid_registration_is_422_and_stores_nothing(client, session, body):
    response = client.post("/auth/register", json=body)

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert session.exec(select(User)).all() == []


def test_password_of_exactly_72_bytes_is_accepted_and_not_truncated(client):
    password = "é" * 36  # 72 bytes
    assert register(client, password=password).status_code == 201
    assert login(client, password=password).status_code == 200
    assert login(client, password="é" * 35 + "e").status_code == 401


def test_login_returns_a_bearer_token_for_the_user(client):
    user_id = register(client).json()["id"]

    response = login(client, email="ALICE@example.com ")

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    key = client.app.state.settings.jwt_key
    claims = access_token_claims(body["access_token"], key=key)
    assert claims is not None and claims.user_id == user_id


def test_token_lifetime_follows_the_setting(make_client):
    client = make_client(access_token_expire_minutes=5)
    register(client)
    assert login(client).json()["expires_in"] == 300


def test_oauth2_token_form_logs_in_like_login(client):
    register(client)

    response = client.post(
        "/auth/token", data={"username": "Alice@Example.com", "password": PASSWORD}
    )
    wrong = client.post(
        "/auth/token", data={"username": "alice@example.com", "password": "nope-nope"}
    )

    assert response.status_code == 200
    me = client.get("/me", headers=bearer(response.json()["access_token"]))
    assert me.json()["email"] == "alice@example.com"
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Incorrect email or password"}
