"""The engine, the session dependency, the driver-level read of bearer requests (fetch_row),
the health probe and start-up migrations."""

import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from functools import lru_cache, partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

from alembic import command
from alembic.config import Config
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Dialect, Engine, Select, TextClause, create_engine, event
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SQLITE_BUSY_TIMEOUT_MS = 5000
T = TypeVar("T")


# Ids are INTEGER columns: 32 bits on PostgreSQL, which refuses a larger number with an error.
MAX_ID = 2**31 - 1


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
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """WAL is a property of the file, set by whichever connection comes first. Connections that
    switch a fresh file at the same moment (workers and `alembic upgrade` starting together)
    deadlock on the lock the switch needs, and SQLite answers the losers "database is locked"
    at once, without the busy timeout: they try again and find WAL set."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")  # in memory it stays "memory"
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


async def get_session(request: Request) -> AsyncIterator[Session]:
    # An async dependency: closing the session (returning its connection to the pool)
    # happens on the event loop, so it can never wait for a free worker thread.
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


# scope="function": the session closes when the endpoint returns, before the response is sent.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


class Compiled:
    """A Core SELECT or a text() statement compiled for one dialect, run on a DBAPI cursor
    (fetch_row, app.reads). A SELECT's values are converted by its columns' types as Core
    converts them (some processors need the driver's type codes from the cursor, so they are
    made at the first execution); a text() statement's come as the driver gives them."""

    def __init__(self, query: Select[Any] | TextClause, dialect: Dialect) -> None:
        compiled = query.compile(dialect=dialect)
        self.sql = compiled.string
        # The parameters' order for a positional paramstyle (SQLite's ?), else by name.
        self.names = tuple(compiled.positiontup or ()) if compiled.positional else None
        # The values the statement carries itself (e.g. a LIMIT's); the caller's come on top.
        self.values = {name: v for name, v in compiled.params.items() if v is not None}
        self.types = (
            [column.type.dialect_impl(dialect) for column in query.selected_columns]
            if isinstance(query, Select)
            else None
        )
        self.dialect = dialect
        self.processors: list[Callable[[Any], Any] | None] | None = None

    def arguments(self, parameters: dict[str, Any]) -> Any:
        if self.values:
            parameters = {**self.values, **parameters}
        return parameters if self.names is None else tuple(parameters[n] for n in self.names)

    def rows(self, cursor: Any, parameters: dict[str, Any], *, many: bool) -> list[tuple[Any, ...]]:
        """Run on a DBAPI cursor: all its rows, or only the first, converted."""
        cursor.execute(self.sql, self.arguments(parameters))
        found = cursor.fetchall() if many else cursor.fetchmany(1)
        return [self.convert(row, cursor.description) for row in found]

    def convert(self, row: Sequence[Any], description: Any) -> tuple[Any, ...]:
        if self.types is None:
            return tuple(row)
        if self.processors is None:  # the same for every execution: computed once
            self.processors = [
                kind.result_processor(self.dialect, column[1])
                for kind, column in zip(self.types, description, strict=True)
            ]
        return tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(self.processors, row, strict=True)
        )


@lru_cache(maxsize=64)
def compile_query(query: Select[Any] | TextClause, dialect: Dialect) -> Compiled:
    """Compiled once per statement object and dialect: pass module-level statements."""
    return Compiled(query, dialect)


def fetch_row(
    engine: Engine, query: Select[Any], parameters: dict[str, Any]
) -> tuple[Any, ...] | None:
    """The first row of a Core SELECT, compiled once for the engine's dialect and run on a
    pooled DBAPI cursor, its values converted by each column's type as Core converts them.

    For the one read of every bearer request (the current user): SQLAlchemy's execution layer
    (Connection, execution context, Result) costs two to three times the query itself on
    SQLite (bench/README.md). Parameters go to the driver as they are: integers and strings
    only. Engine-level cursor events (echo, before_cursor_execute) do not see this read.

    On PostgreSQL the statement runs in autocommit: one statement needs no transaction, and
    a BEGIN before it and a ROLLBACK after it were two more round trips to the server on every
    bearer request (bench/README.md, "Phase 3: search")."""
    compiled = compile_query(query, engine.dialect)
    connection = engine.raw_connection()  # the pool's events (pragmas, pre-ping) apply
    autocommit = engine.dialect.name == "postgresql"
    try:
        if autocommit:
            connection.driver_connection.autocommit = True  # type: ignore[union-attr]
        cursor = connection.cursor()
        try:
            rows = compiled.rows(cursor, parameters, many=False)
        finally:
            cursor.close()
    finally:
        if autocommit:
            try:  # as the pool's other users expect it
                connection.driver_connection.autocommit = False  # type: ignore[union-attr]
            except Exception:  # a broken connection: the pool replaces it
                connection.invalidate()
        connection.close()  # back to the pool (SQLite: which rolls back)
    return rows[0] if rows else None


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


async def call(session: Session, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`call_database` for a crud function that takes the request's session first: a route's
    `await db.call(session, crud.list_videos, user_id=...)`."""
    return await call_database(session.get_bind(), partial(function, session, *args, **kwargs))


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
