"""Several processes on one database: `uvicorn --workers 4` on a fresh database, `make migrate`.

Each case runs on a fresh SQLite file and, with TEST_DATABASE_URL set, on an empty PostgreSQL
schema: the start-up migration takes a lock (alembic/env.py), so four workers starting at once
leave one schema at head, and every worker serves requests.
"""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from app.db import ROOT
from tests.support.live import live_server, query, schema_tables, table_names
from tests.support.postgres import fresh_schema, requires_postgres
from tests.support.utils import PASSWORD

WORKERS = 4
HEAD = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=requires_postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nobody has migrated yet: a new SQLite file or an empty PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
    else:
        with fresh_schema() as url:
            yield url


def assert_one_schema_at_head(database_url: str) -> None:
    assert table_names(database_url) == schema_tables(database_url)
    assert query(database_url, "SELECT version_num FROM alembic_version") == [(HEAD,)]


def wait_for_workers(log: Path, workers: int) -> str:
    """The server log once every worker has finished (or failed) its start-up."""
    deadline = time.monotonic() + 30
    while True:
        text = log.read_text(errors="replace")
        done = text.count("Application startup complete") + text.count("Application startup failed")
        if done >= workers or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def assert_clean_start(log: Path) -> None:
    text = wait_for_workers(log, WORKERS)
    assert text.count("Application startup complete") == WORKERS, text
    assert "Traceback" not in text and "startup failed" not in text, text


def assert_accounts_work(base_url: str, email: str = "alice@example.com") -> None:
    """Register, log in, then /me on fresh connections, which the kernel spreads over workers."""
    credentials = {"email": email, "password": PASSWORD}
    registered = httpx.post(f"{base_url}/auth/register", json=credentials, timeout=10)
    assert registered.status_code == 201, registered.text
    login = httpx.post(f"{base_url}/auth/login", json=credentials, timeout=10)
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for _ in range(3 * WORKERS):
        me = httpx.get(f"{base_url}/me", headers=headers, timeout=10)  # a new connection each
        assert me.status_code == 200 and me.json() == registered.json()


def test_workers_starting_together_on_a_fresh_database_migrate_it_once(database_url, tmp_path):
    log = tmp_path / "uvicorn.log"
    with live_server(database_url, workers=WORKERS, log=log) as base_url:
        assert_clean_start(log)
        assert_one_schema_at_head(database_url)
        assert_accounts_work(base_url)


def assert_no_tables(database_url: str) -> None:
    assert table_names(database_url) == set()


def test_migrating_as_a_release_step_then_starting_workers_that_do_not_migrate(
    database_url, tmp_path
):
    """The `make migrate` path: `alembic upgrade head` (three at once), MIGRATE_ON_STARTUP=false."""
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    assert_no_tables(database_url)
    migrations = [
        subprocess.Popen(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    for migration in migrations:
        output, _ = migration.communicate(timeout=60)
        assert migration.returncode == 0, output.decode()
    assert_one_schema_at_head(database_url)

    log = tmp_path / "uvicorn.log"
    no_migration = {"MIGRATE_ON_STARTUP": "false"}
    with live_server(database_url, workers=WORKERS, env=no_migration, log=log) as base_url:
        assert_clean_start(log)
        assert_accounts_work(base_url)
    assert_one_schema_at_head(database_url)
