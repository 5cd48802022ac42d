"""Concurrency on PostgreSQL via a real `uvicorn --workers 4`; skipped without TEST_DATABASE_URL.

One email registered by many requests at once gives exactly one account; many registrations
at once all land; and 64 concurrent /me per worker are all served with no pool time-out:
get_current_user ends its read transaction before the route runs and the session closes when the
endpoint returns, so a connection never waits for a free thread to be given back to the pool.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import httpx
import pytest
from sqlalchemy import make_url

from app.config import Settings
from tests.support.live import free_port, live_server, query, send_at_once
from tests.support.postgres import admin_engine, fresh_schema, requires_postgres
from tests.support.utils import PASSWORD

pytestmark = requires_postgres

WORKERS = 4
PER_WORKER = 64
SETTINGS = Settings(_env_file=None)
CONNECTIONS_PER_WORKER = SETTINGS.db_pool_size + SETTINGS.db_max_overflow


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


@contextmanager
def uvicorn(database_url: str, log: Path, workers: int, **settings: str) -> Iterator[str]:
    """`uvicorn --workers N` on the schema; its log must show no error when it stops."""
    pool = int(settings.get("DB_POOL_SIZE", SETTINGS.db_pool_size))
    overflow = int(settings.get("DB_MAX_OVERFLOW", SETTINGS.db_max_overflow))
    with admin_engine().connect() as connection:
        max_connections = int(connection.exec_driver_sql("SHOW max_connections").scalar())
    needed = workers * (pool + overflow) + 10
    if max_connections < needed:
        pytest.skip(f"PostgreSQL max_connections={max_connections}, this test needs {needed}")
    with live_server(database_url, workers=workers, env=settings, log=log) as base_url:
        yield base_url
    output = log.read_text(errors="replace")
    assert "Traceback" not in output and "TimeoutError" not in output, output


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """`uvicorn --workers 4` on an empty schema, with the default pool settings."""
    with uvicorn(database_url, tmp_path / "uvicorn.log", WORKERS) as base_url:
        yield base_url


def credentials(email: str) -> dict[str, str]:
    return {"email": email, "password": PASSWORD}


def test_one_email_registered_by_many_requests_at_once_gives_exactly_one_account(
    server, database_url
):
    spellings = ["dana@example.com", "DANA@example.com", " Dana@Example.com", "dana@EXAMPLE.COM"]
    requests = [
        ("POST", f"{server}/auth/register", {"json": credentials(spellings[i % len(spellings)])})
        for i in range(32)
    ]

    responses = send_at_once(requests)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 31
    assert query(database_url, "SELECT email FROM users") == [("dana@example.com",)]


def test_many_registrations_at_once_all_land(server, database_url):
    emails = [f"user{i}@example.com" for i in range(64)]
    register = [("POST", f"{server}/auth/register", {"json": credentials(e)}) for e in emails]

    responses = send_at_once(register)

    assert [response.status_code for response in responses] == [201] * len(emails)
    ids = {response.json()["id"] for response in responses}
    stored = query(database_url, "SELECT id, email FROM users")
    assert len(ids) == len(emails) and {id_ for id_, _ in stored} == ids
    assert sorted(email for _, email in stored) == sorted(emails)
    logins = [("POST", f"{server}/auth/login", {"json": credentials(e)}) for e in emails]
    assert {r.status_code for r in send_at_once(logins)} == {200}


class ConnectionCounter:
    """Samples how many connections the server's processes hold, while a burst runs."""

    def __init__(self, database_url: str) -> None:
        self.application_name = make_url(database_url).query["application_name"]
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %(name)s"
        with admin_engine().connect() as connection:
            while not self._stop.is_set():
                count = connection.exec_driver_sql(query, {"name": self.application_name}).scalar()
                self.peak = max(self.peak, count)
                time.sleep(0.005)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def me_burst(base_url: str, database_url: str, requests: int) -> tuple[float, int]:
    """`requests` concurrent GET /me of one user: each must be 200; (seconds, peak connections)."""
    email = "erin@example.com"
    registered = httpx.post(f"{base_url}/auth/register", json=credentials(email), timeout=10)
    token = httpx.post(f"{base_url}/auth/login", json=credentials(email), timeout=10)
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    burst = [("GET", f"{base_url}/me", {"headers": headers})] * requests

    with ConnectionCounter(database_url) as connections:
        started = time.monotonic()
        responses = send_at_once(burst)
        elapsed = time.monotonic() - started

    failures = [(r.status_code, r.text) for r in responses if r.status_code != 200]
    assert failures == []
    assert all(response.json() == registered.json() for response in responses)
    return elapsed, connections.peak


def test_64_concurrent_me_requests_per_worker_are_all_served(server, database_url):
    requests = WORKERS * PER_WORKER
    elapsed, peak = me_burst(server, database_url, requests)

    # Never more than the pools allow: more would mean connections leak or the sizing is wrong.
    assert 0 < peak <= WORKERS * CONNECTIONS_PER_WORKER
    print(
        f"\n{requests} concurrent /me on {WORKERS} workers: all 200 in {elapsed:.2f} s, "
        f"peak {peak} PostgreSQL connections"
    )


def test_a_pool_much_smaller_than_the_burst_queues_requests_without_time_outs(
    database_url, tmp_path
):
    """One worker, 5 connections, no overflow, 256 requests at once: threads that wait for a
    connection get one as soon as another request's endpoint returns; none waits out the 5 s
    pool timeout. A pool below the threadpool's 40 costs waiting, not errors."""
    small_pool = {"DB_POOL_SIZE": "5", "DB_MAX_OVERFLOW": "0", "DB_POOL_TIMEOUT_SECONDS": "5"}
    with uvicorn(database_url, tmp_path / "uvicorn.log", 1, **small_pool) as base_url:
        elapsed, peak = me_burst(base_url, database_url, 4 * PER_WORKER)

    assert 0 < peak <= 5
    print(
        f"\n{4 * PER_WORKER} concurrent /me on 1 worker with a pool of 5: all 200 in "
        f"{elapsed:.2f} s, peak {peak} PostgreSQL connections"
    )


def test_health_is_503_when_postgresql_cannot_be_reached(make_client):
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://nobody@127.0.0.1:{port}/nowhere?connect_timeout=2"
    client = make_client(database_url=url, migrate_on_startup=False)

    response = client.get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
