"""Throttling (app/throttle.py): failed logins per account and per client address, emailed-link
requests, 429 with Retry-After; the counts shared by uvicorn workers through a real Redis."""

import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.live import free_port, live_server, send_at_once
from tests.support.utils import PASSWORD, bearer, login, register

TOO_MANY = {"detail": "Too many attempts, try again later"}
WINDOW = 2  # seconds: LOGIN_WINDOW_SECONDS, short so a test can wait it out


LIMITS = {
    "login_max_failures": 3,
    "login_max_failures_per_address": 5,
    "login_window_seconds": WINDOW,
    "email_requests_max": 2,
    "email_requests_max_per_address": 3,
    "email_requests_window_seconds": WINDOW,
}


@pytest.fixture
def throttled(make_client):
    """At most 3 failed logins per account and 5 per address in 2 seconds; 2 emails per 2 s."""
    return make_client(**LIMITS)


@pytest.fixture
def throttled_per_account(make_client):
    """As `throttled`, with no limit per address in reach."""
    return make_client(**{**LIMITS, "login_max_failures_per_address": 1000})


def assert_throttled(response) -> int:
    assert response.status_code == 429
    assert response.json() == TOO_MANY
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= WINDOW
    return retry_after


def fail(client, email: str = "alice@example.com"):
    return login(client, email=email, password="wrong password")


def test_the_fourth_failure_is_429_even_with_the_right_password(throttled):
    register(throttled)
    assert [fail(throttled).status_code for _ in range(3)] == [401, 401, 401]

    assert_throttled(fail(throttled))
    assert_throttled(login(throttled))  # the right password: refused all the same
    form = {"username": "alice@example.com", "password": PASSWORD}
    assert_throttled(throttled.post("/auth/token", data=form))  # both login routes count


def test_an_account_that_does_not_exist_is_throttled_the_same_way(throttled_per_account):
    throttled = throttled_per_account
    register(throttled)
    known = [fail(throttled).status_code for _ in range(4)]
    unknown = [fail(throttled, email="ghost@example.com").status_code for _ in range(4)]
    assert known == unknown == [401, 401, 401, 429]
    assert fail(throttled, email="GHOST@example.com").headers.keys() == (
        fail(throttled).headers.keys()
    )


def test_every_spelling_of_an_address_counts_for_one_account(throttled):
    register(throttled)
    for email in ("alice@example.com", "ALICE@example.com", " Alice@Example.com "):
        assert fail(throttled, email=email).status_code == 401
    assert_throttled(login(throttled))


def test_the_user_gets_in_after_the_window(throttled):
    register(throttled)
    for _ in range(3):
        fail(throttled)
    retry_after = assert_throttled(login(throttled))

    time.sleep(retry_after + 0.1)

    assert login(throttled).status_code == 200


def test_successful_logins_are_not_counted(throttled):
    register(throttled)
    assert [login(throttled).status_code for _ in range(6)] == [200] * 6


def test_one_address_trying_many_accounts_is_throttled(throttled):
    register(throttled)
    for i in range(5):  # five accounts, one failure each: under each account's limit
        assert fail(throttled, email=f"user{i}@example.com").status_code == 401

    assert_throttled(login(throttled))  # alice never failed, her address did


def test_a_wrong_current_password_counts_as_a_failed_login(throttled):
    register(throttled)
    token = login(throttled).json()["access_token"]
    body = {"current_password": "wrong password", "new_password": "a brand new passphrase"}
    statuses = [
        throttled.post("/auth/password", json=body, headers=bearer(token)).status_code
        for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    assert_throttled(login(throttled))
    deletion = throttled.request(
        "DELETE", "/me", json={"password": PASSWORD}, headers=bearer(token)
    )
    assert_throttled(deletion)


def test_reset_requests_are_limited_per_address_typed_and_per_client(throttled):
    def request_reset(email):
        return throttled.post("/auth/password-reset/request", json={"email": email})

    assert [request_reset("alice@example.com").status_code for _ in range(2)] == [202, 202]
    assert_throttled(request_reset("ALICE@example.com"))
    assert request_reset("bob@example.com").status_code == 202  # the third from this address
    assert_throttled(request_reset("carol@example.com"))  # the fourth


def test_verification_requests_are_limited(throttled):
    register(throttled)
    token = login(throttled).json()["access_token"]

    def request_verification():
        return throttled.post("/auth/verify-email/request", headers=bearer(token))

    assert [request_verification().status_code for _ in range(2)] == [202, 202]
    assert_throttled(request_verification())


def test_the_429_is_documented_with_retry_after(client):
    operation = client.app.openapi()["paths"]["/auth/login"]["post"]
    assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_an_unreachable_redis_fails_open_and_is_logged(make_client, caplog):
    client = make_client(rate_limit_storage_uri=f"redis://127.0.0.1:{free_port()}/0")
    register(client)
    with caplog.at_level(logging.ERROR, logger="app"):
        assert fail(client).status_code == 401
        assert login(client).status_code == 200
    assert any("Rate-limit storage failed" in r.getMessage() for r in caplog.records)


# Several workers share the counts through Redis


@contextmanager
def redis_server(directory: Path) -> Iterator[int]:
    """`redis-server` on 127.0.0.1 on a free port, no persistence, stopped by its pid."""
    executable = shutil.which("redis-server")
    if executable is None:  # loud: `make test` installs it (scripts/ensure-redis.sh)
        pytest.fail("redis-server is not installed: run `bash scripts/ensure-redis.sh`")
    port = free_port()
    command = [executable, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory)]
    command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_two_workers_share_the_counts_through_redis(tmp_path):
    with redis_server(tmp_path) as port:
        storage = f"redis://127.0.0.1:{port}/0"
        env = {
            "RATE_LIMIT_STORAGE_URI": storage,
            "LOGIN_MAX_FAILURES": "3",
            "LOGIN_WINDOW_SECONDS": "60",
        }
        database = f"sqlite:///{tmp_path / 'app.db'}"
        with live_server(database, workers=2, env=env, log=tmp_path / "server.log") as base_url:
            url = f"{base_url}/auth/login"
            wrong = {"json": {"email": "alice@example.com", "password": "wrong password"}}
            statuses = []
            # Each request on a new connection, so the kernel hands them to both workers.
            for _ in range(8):
                with httpx.Client() as http:
                    statuses.append(http.post(url, **wrong).status_code)
            concurrent = send_at_once([("POST", url, wrong)] * 6)
        keys = redis.Redis(host="127.0.0.1", port=port).keys("LIMITS:*login-account*")

    assert statuses == [401, 401, 401] + [429] * 5
    assert [response.status_code for response in concurrent] == [429] * 6
    assert keys, "the counts were not kept in Redis"
