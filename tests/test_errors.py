"""Errors answer generically: nothing secret in a response or a log, a crash is a plain 500
with its traceback only in the server log."""

import logging

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app import crud
from app.config import Settings
from app.main import create_app
from app.models import User
from tests.support.utils import PASSWORD, bearer, login, register

INTERNAL_ERROR = {"detail": "Internal Server Error"}


# --- Nothing secret is answered or logged ---


def test_no_response_ever_contains_the_password_or_its_hash(client, caplog):
    with caplog.at_level(logging.DEBUG):
        responses = [register(client)]
        with Session(client.app.state.engine) as session:
            password_hash = session.exec(select(User)).one().password_hash
        responses += [
            register(client),  # 409
            login(client),
            login(client, password="wrong password"),
            client.post(
                "/auth/token", data={"username": "alice@example.com", "password": PASSWORD}
            ),
            register(client, email="not-an-email"),  # 422
            register(client, email="bob@example.com", password=PASSWORD + "x" * 60),  # 422
            client.post("/auth/login", json={"password": PASSWORD}),  # 422
        ]
        token = responses[2].json()["access_token"]
        responses.append(client.get("/me", headers=bearer(token)))
        with Session(client.app.state.engine) as session:
            user = session.exec(select(User)).one()
            user.is_active = False
            session.add(user)
            session.commit()
        responses += [login(client), client.get("/me", headers=bearer(token))]  # 403s

    assert [r.status_code for r in responses] == [
        201,
        409,
        200,
        401,
        200,
        422,
        422,
        422,
        200,
        403,
        403,
    ]
    for response in responses:
        text = response.text + str(response.headers)
        assert PASSWORD not in text
        assert password_hash not in text
        assert password_hash[7:29] not in text  # not even the salt
        assert "password_hash" not in text
        assert "$2b$" not in text
    assert PASSWORD not in caplog.text
    assert password_hash not in caplog.text


# --- Unexpected errors: generic 500, traceback only in the server log ---


def test_an_unexpected_exception_is_a_generic_500_and_its_traceback_is_logged(
    client, monkeypatch, caplog
):
    register(client)

    def broken(*args, **kwargs):
        raise RuntimeError("database exploded at /var/lib/secret/path")

    monkeypatch.setattr(crud, "get_user_by_email", broken)
    with caplog.at_level(logging.ERROR, logger="app"):
        response = login(client)

    assert response.status_code == 500
    assert response.json() == INTERNAL_ERROR
    assert response.headers["content-type"] == "application/json"
    assert "exploded" not in response.text and "Traceback" not in response.text
    assert "Unhandled error on POST /auth/login" in caplog.text
    assert "RuntimeError: database exploded" in caplog.text
    assert "Traceback" in caplog.text


def test_a_crashing_route_added_to_the_app_is_a_generic_500(caplog):
    app: FastAPI = create_app(Settings(database_url="sqlite://", bcrypt_rounds=4))
    crashing = APIRouter()

    @crashing.get("/crash")
    async def crash() -> None:
        raise KeyError("internal-key-name")

    @crashing.get("/crash-sync")
    def crash_sync() -> None:
        1 / 0  # noqa: B018

    app.include_router(crashing)
    with (
        caplog.at_level(logging.ERROR, logger="app"),
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        responses = [client.get("/crash"), client.get("/crash-sync")]
        health = client.get("/health")

    for response in responses:
        assert response.status_code == 500
        assert response.json() == INTERNAL_ERROR
        assert "internal-key-name" not in response.text and "ZeroDivision" not in response.text
    assert "KeyError: 'internal-key-name'" in caplog.text
    assert "ZeroDivisionError" in caplog.text
    assert health.status_code == 200  # the app keeps serving


def test_a_4xx_error_body_never_carries_a_traceback(client):
    for response in (
        client.get("/me"),
        client.post("/auth/login", content=b"{"),
        client.get("/no-such-route"),
    ):
        assert 400 <= response.status_code < 500
        assert "Traceback" not in response.text and 'File "' not in response.text


def test_a_422_body_has_no_input_and_only_plain_context_values(client):
    too_short = register(client, password="short")
    assert too_short.status_code == 422
    assert too_short.json() == {
        "detail": [
            {
                "type": "string_too_short",
                "loc": ["body", "password"],
                "msg": "String should have at least 8 characters",
                "ctx": {"min_length": 8},
            }
        ]
    }
    # A validator's ValueError: pydantic's ctx holds the exception itself, which JSON showed
    # as {"error": {}}; its message is in msg, so no ctx at all.
    invalid = register(client, email="not-an-email")
    assert invalid.status_code == 422
    (problem,) = invalid.json()["detail"]
    assert problem["type"] == "value_error" and problem["loc"] == ["body", "email"]
    assert problem["msg"].startswith("Value error, ")
    assert set(problem) == {"type", "loc", "msg"}


# --- A JSON body sent without saying so ---

BODY = b'{"email": "alice@example.com", "password": "correct horse battery"}'


@pytest.mark.parametrize(
    ("content_type", "said"),
    [
        (None, "no Content-Type"),
        ("application/x-www-form-urlencoded", "Content-Type: application/x-www-form-urlencoded"),
        ("text/plain; charset=utf-8", "Content-Type: text/plain; charset=utf-8"),
    ],
    ids=["none", "curl-d", "text"],
)
def test_json_sent_without_its_content_type_is_422_saying_what_to_send(client, content_type, said):
    """`curl -d '{...}'` sends form-urlencoded: the answer names the header to send, not
    "Input should be a valid dictionary"."""
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.post("/auth/register", content=BODY, headers=headers)

    assert response.status_code == 422
    message = "Send the body as JSON, with the header Content-Type: application/json"
    assert response.json() == {
        "detail": [
            {"type": "content_type", "loc": ["body"], "msg": f"{message} (this request had {said})"}
        ]
    }
    # Login, another JSON route, answers alike.
    login_answer = client.post("/auth/login", content=BODY, headers=headers)
    assert (login_answer.status_code, login_answer.json()) == (422, response.json())
    # The same bytes as JSON work (201, not 409: nothing was registered before).
    sent = client.post("/auth/register", content=BODY, headers={"Content-Type": "application/json"})
    assert sent.status_code == 201


def test_json_that_is_not_an_object_keeps_the_schema_message(client):
    for content_type in ("application/json", "application/merge-patch+json"):
        response = client.post(
            "/auth/register", content=b"[1]", headers={"Content-Type": content_type}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["type"] == "model_attributes_type"
    # And an authenticated JSON route says the same as a public one.
    register(client)
    token = login(client).json()["access_token"]
    response = client.post(
        "/videos/link",
        content=b'{"url": "https://example.com/a.mp4"}',
        headers={**bearer(token), "Content-Type": "text/plain"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "content_type"
