"""Fixtures: a fresh app per test on in-memory SQLite, migrated by the real Alembic revisions.

With TEST_DATABASE_URL set (make test-postgres), on PostgreSQL instead: a new schema per app.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.config import Settings
from tests.support.utils import TEST_SECRET_KEY, UNTHROTTLED, login, register

# The tests see none of the developer's settings (shell variables or .env), and app.main's
# module-level app, imported below, touches none of the repository's files.
for name in Settings.model_fields:
    os.environ.pop(name.upper(), None)
os.environ.update(SECRET_KEY=TEST_SECRET_KEY, DATABASE_URL="sqlite://", BCRYPT_ROUNDS="4")

from app.main import create_app  # noqa: E402
from tests.support.postgres import TEST_DATABASE_URL, fresh_schema  # noqa: E402
from tests.support.smtp import Inbox, smtp_server  # noqa: E402


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Build a started app with these setting overrides; stopped at the end of the test."""
    clients: list[TestClient] = []
    schemas = ExitStack()

    def make(**overrides: Any) -> TestClient:
        if TEST_DATABASE_URL and "database_url" not in overrides:
            overrides["database_url"] = schemas.enter_context(fresh_schema())
        # No worker on the shared in-memory connection: the video tests use a database file
        # (tests/support/videos.py), where worker threads get connections of their own.
        defaults = {
            "database_url": "sqlite://",
            "bcrypt_rounds": 4,
            "embedded_worker": False,
            "queue_url": "memory://",
            "media_root": tmp_path / "media",
            **UNTHROTTLED,
        }
        settings = Settings(_env_file=None, **{**defaults, **overrides})
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
    schemas.close()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def session(client: TestClient) -> Iterator[Session]:
    """A session on the same database the client's app uses, to check stored state."""
    with Session(client.app.state.engine) as session:
        yield session


@pytest.fixture
def token(client: TestClient) -> str:
    """A registered user's valid access token."""
    assert register(client).status_code == 201
    return login(client).json()["access_token"]


@pytest.fixture
def make_video_client(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> Callable[..., TestClient]:
    """An app whose embedded worker runs jobs: a SQLite file (each worker thread gets its own
    connection) or, under make test-postgres, a PostgreSQL schema; the queue in a file."""

    def make(**overrides: Any) -> TestClient:
        defaults: dict[str, Any] = {
            "embedded_worker": True,
            "queue_url": f"sqlite:///{tmp_path / 'queue.db'}",
            "job_reap_interval_seconds": 0.2,
        }
        if not TEST_DATABASE_URL:
            defaults["database_url"] = f"sqlite:///{tmp_path / 'app.db'}"
        return make_client(**{**defaults, **overrides})

    return make


@pytest.fixture
def video_client(make_video_client: Callable[..., TestClient]) -> TestClient:
    return make_video_client()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1 (tests/support/smtp.py); the messages it received."""
    with smtp_server() as received:
        yield received


@pytest.fixture
def mail_client(make_client: Callable[..., TestClient], inbox: Inbox) -> TestClient:
    """An app that sends its email to the test SMTP server."""
    return make_client(smtp_host="127.0.0.1", smtp_port=inbox.port, smtp_starttls=False)


@pytest.fixture
def mail_session(mail_client: TestClient) -> Iterator[Session]:
    """A session on mail_client's database."""
    with Session(mail_client.app.state.engine) as session:
        yield session
