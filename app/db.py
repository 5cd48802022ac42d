"""The engine, the session dependency, the health probe and start-up migrations."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from alembic import command
from alembic.config import Config
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SQLITE_BUSY_TIMEOUT_MS = 5000
T = TypeVar("T")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if not url.startswith("sqlite"):
        return create_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            pool_pre_ping=True,
        )
    in_memory = url in ("sqlite://", "sqlite:///:memory:")
    options: dict[str, Any] = (
        # One shared connection, so every session sees the same in-memory database.
        {"poolclass": StaticPool}
        if in_memory
        else {
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout_seconds,
        }
    )
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **options,
    )
    event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Once per pooled connection, not per request. WAL lets readers run beside a writer;
    # the busy timeout makes concurrent writers wait instead of failing "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    # An async dependency: closing the session (returning its connection to the pool)
    # happens on the event loop, so it can never wait for a free worker thread.
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


# scope="function": the session closes when the endpoint returns, before the response is sent.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _select_one(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            # Plain driver SQL: no text() construct to build, compile and cache-key per probe,
            # half the probe's CPU on SQLite (bench/README.md).
            connection.exec_driver_sql("SELECT 1")
    except Exception:
        return False
    return True


async def call_database(engine: Engine, function: Callable[..., T], *args: Any) -> T:
    """Run a short database call from async code.

    SQLite answers in microseconds from this process, so the call runs inline: a thread hop
    would cost more than the query (bench/README.md). A network database may hang, so its
    calls run in a worker thread and never block the event loop.
    """
    if is_sqlite(engine):
        return function(*args)
    return await run_in_threadpool(function, *args)


async def database_answers(engine: Engine) -> bool:
    return await call_database(engine, _select_one, engine)


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest Alembic revision (alembic/env.py takes the lock)."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
