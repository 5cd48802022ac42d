"""A real uvicorn server for tests that need real sockets, threads and a database file.

Listens on 127.0.0.1 on a free port; stopped by its process id.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
from sqlalchemy import create_engine, inspect, text

from app.db import ROOT
from tests.support.utils import UNTHROTTLED

Request = tuple[str, str, dict]  # method, URL, httpx keyword arguments


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(
    database_url: str,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    access_log: bool = False,
) -> Iterator[str]:
    """Start `uvicorn app.main:app`, wait for /health, yield its base URL, stop it. Its access
    log (off unless asked for) goes to `log` with the rest of its output."""
    port = free_port()
    server_env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "live-server-test-secret-key-0123456789",
        "BCRYPT_ROUNDS": "4",
        **{name.upper(): str(value) for name, value in UNTHROTTLED.items()},
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        *([] if access_log else ["--no-access-log"]),
    ]
    output = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=server_env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base_url, process)
        yield base_url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the whole group: --workers spawns children
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if log:
            output.close()


def wait_for_health(
    base_url: str, process: subprocess.Popen[bytes] | None = None, *, seconds: float = 90
) -> None:
    """Until `base_url`/health answers 200. RuntimeError if `process` (the server) exits first,
    TimeoutError after `seconds` (a loaded machine: 4 workers once took 29 s to import)."""
    deadline = time.monotonic() + seconds
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{base_url} did not answer /health within {seconds:.0f} s")
        time.sleep(0.1)


def send_at_once(requests: list[Request]) -> list[httpx.Response]:
    """All requests in flight together, each on its own connection; answers in order."""

    async def send() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            return await asyncio.gather(
                *(client.request(method, url, **kwargs) for method, url, kwargs in requests)
            )

    return asyncio.run(send())


def query(database_url: str, sql: str, **params: object) -> list[tuple]:
    """Rows read straight from the database, past the app, to check what it stored."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def table_names(database_url: str) -> set[str]:
    """The tables that exist in the database (or the schema the URL's search_path names)."""
    engine = create_engine(database_url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema_tables(database_url: str) -> set[str]:
    """The tables a database at head has: the models', Alembic's own, and on SQLite the
    full-text tables the search migration makes beside them (app/search.py)."""
    from app.models import metadata
    from app.search import FTS_TABLES

    fts = FTS_TABLES if database_url.startswith("sqlite") else frozenset()
    return set(metadata.tables) | {"alembic_version"} | fts


@contextmanager
def worker_process(
    database_url: str, env: dict[str, str], *, code: str | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen]:
    """A standalone worker (`python -m app.worker`), or `code` run in its place; killed at the
    end by its process group (its FFmpeg children with it)."""
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "app.worker"]
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, **env},
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if log:
            output.close()
