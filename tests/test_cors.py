"""CORS: browsers may call the API only from the configured origins."""

import pytest

from app.config import Settings

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


def test_a_preflight_for_an_idempotent_purchase_or_an_admin_patch_is_allowed(cors_client):
    purchase = preflight(cors_client, ALLOWED, headers="authorization, idempotency-key")
    patch = preflight(cors_client, ALLOWED, method="PATCH", headers="authorization, content-type")

    assert purchase.status_code == 200 and patch.status_code == 200
    assert "idempotency-key" in purchase.headers["access-control-allow-headers"].lower()
    exposed = cors_client.get("/health", headers={"Origin": ALLOWED})
    assert "Idempotent-Replayed" in exposed.headers["access-control-expose-headers"]


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
    [("TRACE", "content-type"), ("PUT", "content-type"), ("POST", "x-forwarded-for")],
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
