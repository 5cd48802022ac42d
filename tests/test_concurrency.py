"""Concurrent requests against a real uvicorn on a real SQLite file (tests/support/live.py).

The unique index, not a check-then-insert, decides who gets an email; WAL and the busy
timeout (app/db.py) keep concurrent writers from failing with "database is locked".
BCRYPT_ROUNDS=4 (set by live_server) keeps this well under a minute on two cores.
"""

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.live import live_server, query, send_at_once
from tests.support.utils import PASSWORD, bearer

SAME_EMAIL_REQUESTS = 30
DISTINCT_USERS = 100


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> tuple[str, Path, Path]:
    """One live server for the module: its base URL, database file and log file."""
    directory = tmp_path_factory.mktemp("concurrency")
    database, log = directory / "app.db", directory / "server.log"
    with live_server(f"sqlite:///{database}", log=log) as base_url:
        yield base_url, database, log


def post(url, body):
    return ("POST", url, {"json": body})


def stored_emails(database: Path, like: str) -> list[str]:
    rows = query(
        f"sqlite:///{database}", "SELECT email FROM users WHERE email LIKE :like", like=like
    )
    return [email for (email,) in rows]


def assert_log_is_clean(log: Path) -> None:
    server_log = log.read_text(errors="replace")
    assert "database is locked" not in server_log
    assert "Traceback" not in server_log
    assert "Unhandled error" not in server_log


def test_concurrent_registrations_of_one_email_create_exactly_one_account(server):
    base_url, database, log = server
    body = {"email": "race@example.com", "password": PASSWORD}
    # Spellings that normalise to the same address race too.
    spellings = ["race@example.com", "RACE@example.com", " Race@Example.COM "]
    requests = [
        post(f"{base_url}/auth/register", {**body, "email": spellings[i % len(spellings)]})
        for i in range(SAME_EMAIL_REQUESTS)
    ]

    started = time.perf_counter()
    responses = send_at_once(requests)
    elapsed = time.perf_counter() - started

    statuses = Counter(response.status_code for response in responses)
    print(
        f"\n{SAME_EMAIL_REQUESTS} concurrent registrations of one email in {elapsed:.2f} s: "
        f"{dict(statuses)}"
    )
    assert statuses == {201: 1, 409: SAME_EMAIL_REQUESTS - 1}
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"detail": "Email already registered"}
    assert stored_emails(database, "race@%") == ["race@example.com"]
    login = httpx.post(f"{base_url}/auth/login", json=body, timeout=10)
    assert login.status_code == 200
    assert_log_is_clean(log)


def test_concurrent_distinct_registrations_all_succeed_and_all_log_in(server):
    base_url, database, log = server
    bodies = [
        {"email": f"user{i}@example.com", "password": f"{PASSWORD} {i}"}
        for i in range(DISTINCT_USERS)
    ]

    started = time.perf_counter()
    registered = send_at_once([post(f"{base_url}/auth/register", b) for b in bodies])
    register_seconds = time.perf_counter() - started
    started = time.perf_counter()
    logged_in = send_at_once([post(f"{base_url}/auth/login", b) for b in bodies])
    login_seconds = time.perf_counter() - started

    print(
        f"\n{DISTINCT_USERS} concurrent distinct registrations in {register_seconds:.2f} s: "
        f"{dict(Counter(r.status_code for r in registered))}; "
        f"logins in {login_seconds:.2f} s: {dict(Counter(r.status_code for r in logged_in))}"
    )
    assert [r.status_code for r in registered] == [201] * DISTINCT_USERS
    assert len({r.json()["id"] for r in registered}) == DISTINCT_USERS
    assert [r.status_code for r in logged_in] == [200] * DISTINCT_USERS
    assert sorted(stored_emails(database, "user%@example.com")) == sorted(
        b["email"] for b in bodies
    )

    # Each token opens /me as its own user, also when all are used at once.
    tokens = [r.json()["access_token"] for r in logged_in]
    me = send_at_once(
        [
            ("GET", f"{base_url}/me", {"headers": {"Authorization": f"Bearer {token}"}})
            for token in tokens
        ]
    )
    assert [r.json()["email"] for r in me] == [b["email"] for b in bodies]
    assert_log_is_clean(log)


def test_concurrent_logins_and_bad_requests_mixed_never_give_a_5xx(server):
    base_url, _, log = server
    account = {"email": "mixed@example.com", "password": PASSWORD}
    assert httpx.post(f"{base_url}/auth/register", json=account, timeout=10).status_code == 201
    requests = []
    for i in range(20):
        requests += [
            post(f"{base_url}/auth/login", account),
            post(f"{base_url}/auth/login", {**account, "password": "wrong password"}),
            post(f"{base_url}/auth/login", {"email": f"ghost{i}@example.com", "password": "x" * 9}),
            post(f"{base_url}/auth/register", {"email": "mixed@example.com", "password": PASSWORD}),
            post(f"{base_url}/auth/register", {"email": "not-an-email", "password": PASSWORD}),
            ("GET", f"{base_url}/me", {"headers": bearer("x")}),
            ("GET", f"{base_url}/health", {}),
        ]

    responses = send_at_once(requests)

    statuses = Counter(response.status_code for response in responses)
    assert not [status for status in statuses if status >= 500], statuses
    assert statuses == {200: 40, 401: 60, 409: 20, 422: 20}
    assert_log_is_clean(log)


def test_a_real_chunked_oversized_body_is_413_over_a_socket(server):
    """Through uvicorn's HTTP parser: no Content-Length, the body streamed in chunks."""
    base_url, _, log = server

    def chunks():
        payload = json.dumps({"email": "big@example.com", "password": "x" * 1024 * 1024}).encode()
        for start in range(0, len(payload), 8192):
            yield payload[start : start + 8192]

    try:
        response = httpx.post(
            f"{base_url}/auth/register",
            content=chunks(),
            timeout=10,
            headers={"Content-Type": "application/json"},
        )
    except httpx.WriteError:  # the server answered 413 and closed before the upload ended
        response = None
    print(f"\nchunked 1 MB upload over a socket: {response and response.status_code}")
    if response is not None:
        assert response.status_code == 413
        assert response.json() == {"detail": "Request body larger than 64 KiB (65536 bytes)"}
    assert stored_emails(server[1], "big@%") == []
    assert httpx.get(f"{base_url}/health", timeout=5).status_code == 200
    assert_log_is_clean(log)


def test_one_email_raced_across_two_worker_processes_still_gets_one_account(tmp_path):
    """Two processes, two connection pools: only the database's unique index can decide."""
    database, log = tmp_path / "app.db", tmp_path / "server.log"
    body = {"email": "twoworkers@example.com", "password": PASSWORD}
    with live_server(f"sqlite:///{database}", workers=2, log=log) as base_url:
        responses = send_at_once(
            [post(f"{base_url}/auth/register", body) for _ in range(SAME_EMAIL_REQUESTS)]
        )
        statuses = Counter(response.status_code for response in responses)
        login = httpx.post(f"{base_url}/auth/login", json=body, timeout=10)

    print(f"\n{SAME_EMAIL_REQUESTS} registrations of one email over 2 workers: {dict(statuses)}")
    assert statuses == {201: 1, 409: SAME_EMAIL_REQUESTS - 1}
    assert login.status_code == 200
    assert stored_emails(database, "twoworkers@%") == ["twoworkers@example.com"]
    assert_log_is_clean(log)
