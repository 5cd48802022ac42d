"""Small helpers shared by the tests: the public API, called the way a client would."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

PASSWORD = "correct horse battery"
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"
# Limits no test reaches unless it means to (tests/test_throttling.py sets its own).
UNTHROTTLED = {
    "login_max_failures": 100_000,
    "login_max_failures_per_address": 100_000,
    "login_max_failures_per_account": 100_000,
    "register_max_per_address": 100_000,
    "email_requests_max": 100_000,
    "email_requests_max_per_address": 100_000,
}


def register(client: TestClient, email: str = "alice@example.com", password: str = PASSWORD):
    return client.post("/auth/register", json={"email": email, "password": password})


def login(client: TestClient, email: str = "alice@example.com", password: str = PASSWORD):
    return client.post("/auth/login", json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def statements_sent(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements the database receives while the block runs, however they were sent
    (ORM, Core or a DBAPI cursor, which SQLAlchemy's cursor events do not see), on SQLite
    (the driver's trace callback) and on PostgreSQL (a recording psycopg cursor)."""
    sent: list[str] = []

    class Recording(psycopg.Cursor):  # type: ignore[type-arg]
        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append(str(query))
            return super().execute(query, *args, **kwargs)

    def watch(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(sent.append)
        else:
            dbapi_connection.cursor_factory = Recording

    def unwatch(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(None)
        else:
            dbapi_connection.cursor_factory = psycopg.Cursor

    event.listen(engine, "checkout", watch)
    event.listen(engine, "checkin", unwatch)
    try:
        yield sent
    finally:
        event.remove(engine, "checkout", watch)
        event.remove(engine, "checkin", unwatch)


def data_statements(statements: list[str]) -> list[str]:
    """The reads and writes among them (not BEGIN, COMMIT, ROLLBACK or PRAGMA)."""
    verbs = ("SELECT", "INSERT", "UPDATE", "DELETE")
    return [s for s in statements if s.lstrip().upper().startswith(verbs)]
