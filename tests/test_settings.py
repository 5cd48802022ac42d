"""Secrets, error answers and CORS: production needs a strong key, the development key file is
private, nothing secret is logged or answered, a crash answers a generic 500, and only the
configured origins get CORS headers."""

import logging
import stat
import subprocess
import sys

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session, select

from app import crud
from app.config import MIN_PRODUCTION_KEY_BYTES, Settings
from app.db import ROOT
from app.main import create_app
from app.models import User
from tests.utils import PASSWORD, bearer, login, register

STRONG_KEY = "k" * MIN_PRODUCTION_KEY_BYTES
INTERNAL_ERROR = {"detail": "Internal Server Error"}


# --- Production refuses to start without a strong key ---


@pytest.mark.parametrize(
    "secret_key",
    [None, "", "short", "k" * (MIN_PRODUCTION_KEY_BYTES - 1), "é" * 15 + "k"],  # last: 31 bytes
    ids=["unset", "empty", "short", "31-ascii-bytes", "31-utf8-bytes"],
)
def test_production_settings_refuse_a_missing_or_short_secret_key(tmp_path, secret_key):
    with pytest.raises(ValidationError, match="SECRET_KEY of at least 32 bytes"):
        Settings(
            environment="production",
            secret_key=secret_key,
            secret_key_file=tmp_path / ".secret_key",
        )
    assert not (tmp_path / ".secret_key").exists()  # and never falls back to a generated key


@pytest.mark.parametrize(
    "secret_key", [STRONG_KEY, "é" * 16], ids=["32-ascii", "16-e-acute-32-bytes"]
)
def test_production_settings_accept_a_key_of_32_bytes(secret_key):
    settings = Settings(environment="production", secret_key=secret_key)
    assert settings.jwt_key == secret_key


def test_production_settings_read_from_the_environment_refuse_a_short_key(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "too-short")
    with pytest.raises(ValidationError):
        Settings()


def _start_app_process(tmp_path, **env):
    script = "import app.main"
    full_env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": "sqlite://",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_app_does_not_start_in_production_with_a_weak_key_and_does_not_print_it(tmp_path):
    weak = "my-weak-but-secret-key"
    result = _start_app_process(tmp_path, ENVIRONMENT="production", SECRET_KEY=weak)

    assert result.returncode != 0
    assert "SECRET_KEY of at least 32 bytes" in result.stderr
    assert weak not in result.stderr + result.stdout
    assert "weak-but" not in result.stderr + result.stdout


def test_the_app_does_not_start_in_production_without_a_key_nor_writes_one(tmp_path):
    result = _start_app_process(tmp_path, ENVIRONMENT="production")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert not (tmp_path / ".secret_key").exists()


# --- The development key file ---


@pytest.fixture
def dev_settings(tmp_path):
    def make():
        settings = Settings(
            environment="development", secret_key=None, secret_key_file=tmp_path / ".secret_key"
        )
        settings.ensure_secret_key()
        return settings

    return make


def test_without_a_key_development_generates_one_into_an_owner_only_file(tmp_path, dev_settings):
    key = dev_settings().jwt_key

    path = tmp_path / ".secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    assert len(key.encode()) >= MIN_PRODUCTION_KEY_BYTES
    assert [p.name for p in tmp_path.iterdir()] == [".secret_key"]  # no temp file left behind


def test_the_generated_key_is_announced_in_the_log_but_never_logged(dev_settings, caplog):
    with caplog.at_level(logging.DEBUG):
        key = dev_settings().jwt_key

    assert "generated a development key" in caplog.text
    assert ".secret_key" in caplog.text
    assert key not in caplog.text
    assert key[:12] not in caplog.text


def test_the_generated_key_survives_a_restart_and_so_do_tokens(tmp_path, make_client):
    same_place = {
        "secret_key": None,
        "secret_key_file": tmp_path / ".secret_key",
        "database_url": f"sqlite:///{tmp_path / 'app.db'}",
    }
    first = make_client(**same_place)
    register(first)
    token = login(first).json()["access_token"]

    restarted = make_client(**same_place)

    assert restarted.get("/me", headers=bearer(token)).status_code == 200


def test_two_development_keys_generated_in_different_places_differ(tmp_path):
    keys = set()
    for name in "ab":
        settings = Settings(secret_key=None, secret_key_file=tmp_path / name)
        settings.ensure_secret_key()
        keys.add(settings.jwt_key)
    assert len(keys) == 2


def test_an_empty_secret_key_counts_as_unset_and_a_key_is_generated(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "")
    settings = Settings(secret_key_file=tmp_path / ".secret_key")
    settings.ensure_secret_key()
    assert len(settings.jwt_key.encode()) >= MIN_PRODUCTION_KEY_BYTES


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "-5"),
        ("BCRYPT_ROUNDS", "3"),
        ("BCRYPT_ROUNDS", "32"),
        ("DEFAULT_CREDITS", "-1"),
        ("DB_POOL_SIZE", "0"),
    ],
)
def test_settings_out_of_range_are_refused_at_start(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.lower()):
        Settings()


def test_the_settings_repr_does_not_show_the_secret_key():
    settings = Settings(secret_key="super-secret-value-" + "x" * 20)
    assert "super-secret-value" not in repr(settings)
    assert "super-secret-value" not in str(settings.model_dump())


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


# --- CORS: only configured origins ---

ALLOWED = "https://app.example.com"
OTHER = "https://evil.example.net"


@pytest.fixture
def cors_client(make_client):
    return make_client(cors_origins=[ALLOWED, "http://localhost:5173"])


def preflight(client, origin, method="POST", headers="content-type", path="/auth/login"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_a_preflight_from_a_configured_origin_is_allowed(cors_client):
    response = preflight(cors_client, ALLOWED, headers="authorization, content-type")

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    "origin",
    [
        OTHER,
        "null",
        "https://app.example.com.evil.net",
        "http://app.example.com",
        "https://APP.example.com:443",
        "https://app.example.com/",
    ],
)
def test_a_preflight_from_any_other_origin_gets_no_allow_origin(cors_client, origin):
    response = preflight(cors_client, origin)

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("method", "headers"),
    [("DELETE", "content-type"), ("PUT", "content-type"), ("POST", "x-forwarded-for")],
)
def test_a_preflight_for_an_unlisted_method_or_header_is_refused(cors_client, method, headers):
    response = preflight(cors_client, ALLOWED, method=method, headers=headers)
    assert response.status_code == 400


def test_simple_requests_get_cors_headers_only_for_configured_origins(cors_client):
    allowed = cors_client.get("/health", headers={"Origin": ALLOWED})
    other = cors_client.get("/health", headers={"Origin": OTHER})

    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "access-control-allow-origin" not in other.headers
    assert other.status_code == 200  # CORS is enforced by browsers; the server just won't allow


def test_even_a_413_carries_cors_headers_for_a_configured_origin(cors_client):
    response = cors_client.post(
        "/auth/login",
        content=b"x" * (1024 * 1024),
        headers={"Origin": ALLOWED, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["access-control-allow-origin"] == ALLOWED


def test_without_configured_origins_no_origin_gets_cors_headers(client):
    response = preflight(client, ALLOWED)
    simple = client.get("/health", headers={"Origin": ALLOWED})

    assert "access-control-allow-origin" not in response.headers
    assert response.status_code == 405
    assert "access-control-allow-origin" not in simple.headers


def test_cors_origins_are_read_comma_separated_from_the_environment(monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", f" {ALLOWED} ,http://localhost:5173,, ")
    assert Settings().cors_origins == [ALLOWED, "http://localhost:5173"]
