"""Small helpers shared by the tests: the public API, called the way a client would."""

from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"
# Limits no test reaches unless it means to (tests/test_throttling.py sets its own).
UNTHROTTLED = {
    "login_max_failures": 100_000,
    "login_max_failures_per_address": 100_000,
    "email_requests_max": 100_000,
    "email_requests_max_per_address": 100_000,
}


def register(client: TestClient, email: str = "alice@example.com", password: str = PASSWORD):
    return client.post("/auth/register", json={"email": email, "password": password})


def login(client: TestClient, email: str = "alice@example.com", password: str = PASSWORD):
    return client.post("/auth/login", json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
