"""Hostile or malformed input on every route: always a 4xx, never a 500, and nothing breaks.

Each test registers a user first and proves that user still logs in afterwards, so no bad
request leaves the database or the app in a broken state.
"""

import asyncio
import json

import pytest
from sqlmodel import select

from app.body_limit import BodySizeLimit
from app.models import User
from tests.support.utils import PASSWORD, bearer, login, register

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ONE_MB = 1024 * 1024

SQL_LOOKING = [
    "' OR '1'='1",
    "alice@example.com' --",
    "alice@example.com'; DROP TABLE users; --",
    '" OR ""="',
    "1; SELECT * FROM users",
    "%' OR 1=1 --",
]

# JSON bodies for /auth/register and /auth/login: wrong types, invalid emails, odd unicode.
BAD_JSON_BODIES = [
    {},
    {"email": None, "password": None},
    {"email": 12345, "password": PASSWORD},
    {"email": "alice@example.com", "password": 12345678},
    {"email": ["alice@example.com"], "password": PASSWORD},
    {"email": {"$ne": None}, "password": {"$ne": None}},
    {"email": True, "password": False},
    {"email": 1.5e308, "password": PASSWORD},
    {"email": "alice@example.com", "password": [PASSWORD]},
    {"email": "not-an-email", "password": PASSWORD},
    {"email": "@example.com", "password": PASSWORD},
    {"email": "alice@", "password": PASSWORD},
    {"email": "alice@@example.com", "password": PASSWORD},
    {"email": "alice@example..com", "password": PASSWORD},
    {"email": "a" * 300 + "@example.com", "password": PASSWORD},
    {"email": "alice\x00@example.com", "password": PASSWORD},
    {"email": "alice@example.com\x00", "password": PASSWORD},
    {"email": "alice@example.com", "password": "pass\x00word-long"},
    {"email": "alice@example.com\r\nBcc: eve@example.com", "password": PASSWORD},
    {"email": "\u202eevil@example.com", "password": PASSWORD},
    {"email": "alice@example.com", "password": "\U0001f600" * 19},  # 76 bytes
    {"email": "alice@example.com", "password": "x" * 100_000},
    *({"email": text, "password": PASSWORD} for text in SQL_LOOKING),
    *({"email": "alice@example.com", "password": text} for text in SQL_LOOKING),
    [{"email": "alice@example.com", "password": PASSWORD}],
    ["alice@example.com", PASSWORD],
    "alice@example.com",
    12345,
    None,
]

# Raw bytes a JSON library would never produce.
BAD_RAW_BODIES = [
    b"",
    b"{",
    b'{"email": "alice@example.com", "password": }',
    b"\x00\x00\x00\x00",
    b"\xff\xfe\xfd",
    b'{"email": "\xff@example.com", "password": "correct horse battery"}',
    b'{"email": "alice@example.com", "password": "\\ud800 lone surrogate"}',
    b'{"email": "\\udfff@example.com", "password": "correct horse battery"}',
    b'{"email": "a\\ud800@example.com", "password": "correct horse battery"}',
    b'{"email": "alice@example.com", "password": "correct horse battery", "email": 1}',
    b"[" * 10_000 + b"]" * 10_000,
    b'{"email": "alice@example.com", "password": NaN}',
    b'{"email": "alice@example.com", "password": 1e999999}',
    b"email=alice%40example.com&password=correct+horse+battery",
]

BAD_FORMS = [
    b"",
    b"username=&password=",
    b"username=alice%40example.com",
    b"password=correct+horse+battery",
    b"username=alice%40example.com&password=%00%00%00%00%00%00%00%00",
    b"username=%00&password=correct+horse+battery",
    b"username=alice%40example.com&password=%ED%A0%80%ED%A0%80%ED%A0%80xx",
    b"username=%FF%FE&password=%FF%FE%FD",
    b"username=alice%40example.com&password=" + b"x" * 60_000,
    b"username=' OR '1'='1&password=' OR '1'='1",
    b"username=alice%40example.com&password=correct+horse+battery&password=x",
    b"%%%%%%%%%%",
    b'{"username": "alice@example.com", "password": "correct horse battery"}',
]


@pytest.fixture
def alice(client):
    """A user registered before the attack, whose login must still work after it."""
    assert register(client).status_code == 201
    yield
    assert login(client).status_code == 200


def assert_client_error(response):
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert "detail" in response.json()


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
@pytest.mark.parametrize("body", BAD_JSON_BODIES, ids=lambda body: repr(body)[:40])
def test_malformed_json_bodies_are_4xx_never_500(client, alice, path, body):
    assert_client_error(client.post(path, json=body))


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
@pytest.mark.parametrize("raw", BAD_RAW_BODIES, ids=lambda raw: repr(raw)[:40])
def test_undecodable_json_bodies_are_4xx_never_500(client, alice, path, raw):
    assert_client_error(client.post(path, content=raw, headers=JSON))


@pytest.mark.parametrize("raw", BAD_FORMS, ids=lambda raw: repr(raw)[:40])
def test_malformed_oauth2_forms_are_4xx_never_500(client, alice, raw):
    assert_client_error(client.post("/auth/token", content=raw, headers=FORM))


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "multipart/form-data",
        "application/x-www-form-urlencoded",
        "",
        "application/octet-stream",
    ],
)
@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
def test_json_under_a_non_json_content_type_is_422_and_stores_nothing(
    client, session, alice, path, content_type
):
    body = json.dumps({"email": "bob@example.com", "password": PASSWORD}).encode()
    response = client.post(path, content=body, headers={"Content-Type": content_type})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert session.exec(select(User).where(User.email == "bob@example.com")).first() is None


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login", "/auth/token"])
def test_missing_body_is_422(client, alice, path):
    response = client.post(path)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_token_route_refuses_json_it_only_takes_the_oauth2_form(client, alice):
    response = client.post(
        "/auth/token", json={"username": "alice@example.com", "password": PASSWORD}
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "path"),
    [
        (method, path)
        for method in ("PUT", "PATCH", "DELETE")
        for path in ("/auth/register", "/auth/login", "/auth/token", "/me", "/health")
        if (method, path) != ("DELETE", "/me")  # deletes the account (tests/test_accounts.py)
    ],
)
def test_unsupported_methods_are_405(client, alice, method, path):
    response = client.request(method, path, json={"email": "alice@example.com"})
    assert response.status_code == 405


@pytest.mark.parametrize("path", ["/me", "/health"])
def test_get_routes_ignore_a_hostile_query_and_body(client, alice, path):
    token = login(client).json()["access_token"]
    response = client.request(
        "GET",
        path,
        params={"id": "1 OR 1=1", "email": "' --"},
        content=b"\xff" * 1000,
        headers=bearer(token),
    )
    assert response.status_code == 200


def test_sql_looking_email_is_stored_as_plain_text_not_executed(client, session, alice):
    email = "o'brien--@example.com"
    assert register(client, email=email).status_code == 201
    assert login(client, email=email).status_code == 200
    assert login(client, email="' OR '1'='1").status_code == 401
    assert len(session.exec(select(User)).all()) == 2


class HashSpy:
    """Wraps the app's hasher and counts how often bcrypt is asked to do anything."""

    def __init__(self, hasher):
        self.hasher, self.calls = hasher, 0

    def hash(self, password):
        self.calls += 1
        return self.hasher.hash(password)

    def verify(self, password, password_hash):
        self.calls += 1
        return self.hasher.verify(password, password_hash)


@pytest.fixture
def hash_spy(client, alice):
    spy = HashSpy(client.app.state.hasher)
    client.app.state.hasher = spy
    yield spy
    client.app.state.hasher = spy.hasher


def one_mb_json() -> bytes:
    return json.dumps({"email": "bob@example.com", "password": "x" * ONE_MB}).encode()


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
def test_a_1_mb_body_is_413_before_any_hashing(client, session, hash_spy, path):
    response = client.post(path, content=one_mb_json(), headers=JSON)

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body larger than 64 KiB (65536 bytes)"}
    assert hash_spy.calls == 0
    assert session.exec(select(User).where(User.email == "bob@example.com")).first() is None


def test_a_1_mb_form_is_413_before_any_hashing(client, hash_spy):
    body = b"username=alice%40example.com&password=" + b"x" * ONE_MB
    response = client.post("/auth/token", content=body, headers=FORM)
    assert response.status_code == 413
    assert hash_spy.calls == 0


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login", "/auth/token"])
def test_a_chunked_1_mb_body_without_content_length_is_413_before_any_hashing(
    client, hash_spy, path
):
    def chunks():
        body = one_mb_json()
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    response = client.post(path, content=chunks(), headers=JSON)

    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert hash_spy.calls == 0


def test_a_small_chunked_body_is_read_whole_and_works(client, alice):
    body = json.dumps({"email": "bob@example.com", "password": PASSWORD}).encode()
    response = client.post("/auth/register", content=iter([body[:10], body[10:]]), headers=JSON)
    assert response.status_code == 201
    assert login(client, email="bob@example.com").status_code == 200


@pytest.mark.parametrize("declared", ["abc", "-1", "1e9", " 10", "99999999999999999999"])
def test_a_nonsense_content_length_is_never_a_500(client, alice, declared):
    body = json.dumps({"email": "bob@example.com", "password": PASSWORD}).encode()
    response = client.post(
        "/auth/login", content=body, headers={**JSON, "Content-Length": declared}
    )
    assert response.status_code < 500


@pytest.mark.parametrize("declared", [b"abc", b"-1", b"10", None])
def test_the_body_limit_counts_the_bytes_whatever_content_length_says(declared):
    """At the ASGI level, where no HTTP parser stands in front of the middleware."""
    reached_the_app = []

    async def app(scope, receive, send):
        reached_the_app.append(True)

    chunks = [b"x" * 40_000, b"x" * 40_000]  # 80,000 bytes in two chunks
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    messages[-1]["more_body"] = False
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    headers = [(b"content-length", declared)] if declared is not None else []
    scope = {"type": "http", "method": "POST", "path": "/auth/login", "headers": headers}
    asyncio.run(BodySizeLimit(app, max_bytes=64 * 1024)(scope, receive, send))

    assert reached_the_app == []
    assert sent[0]["status"] == 413
    refusal = {"detail": "Request body larger than 64 KiB (65536 bytes)"}
    assert json.loads(sent[1]["body"]) == refusal


def test_a_body_just_under_the_limit_is_parsed_not_refused(client, alice):
    body = json.dumps({"email": "alice@example.com", "password": "x" * (60 * 1024)}).encode()
    response = client.post("/auth/login", content=body, headers=JSON)
    assert response.status_code == 422  # password longer than allowed: parsed, then refused


def test_the_422_body_never_echoes_the_submitted_password(client, alice):
    secret = "my-secret-but-too-long-" + "é" * 30
    responses = [
        register(client, email="bob@example.com", password=secret),
        register(client, email="not-an-email", password=secret + "!"),
        client.post("/auth/register", json={"password": secret}),
        client.post("/auth/login", json={"password": secret}),
        client.post("/auth/token", data={"password": secret}),
        login(client, password=secret * 50),
    ]
    for response in responses:
        assert response.status_code == 422
        assert secret not in response.text
        assert "my-secret" not in response.text


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
@pytest.mark.parametrize(
    "raw", [b"\xff\xfe\xfd", b'{"email": "\xff@example.com"}', b"\x1e\xc3(\xa0\xa1"]
)
def test_a_body_that_is_not_utf8_is_the_documented_422_not_a_400(client, alice, path, raw):
    response = client.post(path, content=raw, headers=JSON)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_a_broken_multipart_form_is_422(client, alice):
    response = client.post(
        "/auth/token",
        content=b"--x\r\nbroken",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 422
