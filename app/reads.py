"""Reads for the hot read-only routes (search), on the event loop without blocking it.

PostgreSQL: psycopg's async connections from a psycopg_pool pool of their own (at most
`DB_READ_POOL_SIZE` per process, none until the first search), in autocommit. Such a request
has no worker-thread hop, no BEGIN/ROLLBACK and no SQLAlchemy execution layer: about 2 ms less
per search than SQLAlchemy's pool from a worker thread (bench/README.md, "Phase 3: search").
There is no pre-ping: a connection found broken (the server restarted) is dropped, the pool's
idle ones are checked, and the read runs once more, as reads are safe to repeat. SQLite: inline on a
connection of the engine's pool, as app.db.call_database runs SQLite's calls (in this
process, microseconds).

Statements are module-level Core SELECTs or text() constants, compiled once per dialect
(app.db.compile_query). The one module that knows psycopg_pool; it imports app.config and
app.db only.
"""

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Dialect, Engine, Select, TextClause
from sqlalchemy.pool import PoolProxiedConnection

from app.config import Settings
from app.db import compile_query

T = TypeVar("T")
Statement = Select[Any] | TextClause


class Reader:
    """One connection's reads, in the order they are awaited. `prepare=False`: never a
    server-side prepared statement for this one (PostgreSQL; see app.search)."""

    dialect: Dialect  # what the statements are compiled for

    async def first(
        self, query: Statement, parameters: dict[str, Any], *, prepare: bool | None = None
    ) -> tuple[Any, ...] | None:
        rows = await self._rows(query, parameters, prepare, many=False)
        return rows[0] if rows else None

    async def all(
        self, query: Statement, parameters: dict[str, Any], *, prepare: bool | None = None
    ) -> list[tuple[Any, ...]]:
        return await self._rows(query, parameters, prepare, many=True)

    async def _rows(
        self, query: Statement, parameters: dict[str, Any], prepare: bool | None, *, many: bool
    ) -> list[tuple[Any, ...]]:
        raise NotImplementedError


Read = Callable[[Reader], Awaitable[T]]


class Reads(Protocol):
    async def run(self, read: Read[T]) -> T:
        """`await read(reader)` on one connection, given back to the pool after it."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...


def make_reads(engine: Engine, settings: Settings) -> Reads:
    if engine.dialect.name == "postgresql":
        return PostgresReads(engine, settings)
    return SQLiteReads(engine)


class SQLiteReads:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def run(self, read: Read[T]) -> T:
        connection = self._engine.raw_connection()  # the pool's events (pragmas) apply
        try:
            return await read(_DBAPIReader(connection, self._engine.dialect))
        finally:
            connection.close()  # back to the pool, which rolls back

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass


class _DBAPIReader(Reader):
    def __init__(self, connection: PoolProxiedConnection, dialect: Dialect) -> None:
        self._connection = connection
        self.dialect = dialect

    async def _rows(
        self, query: Statement, parameters: dict[str, Any], prepare: bool | None, *, many: bool
    ) -> list[tuple[Any, ...]]:
        cursor = self._connection.cursor()
        try:
            return compile_query(query, self.dialect).rows(cursor, parameters, many=many)
        finally:
            cursor.close()


class _Broken(Exception):
    """The connection was found broken: the read may run again on another."""


class PostgresReads:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        # The engine's URL as libpq takes it (its query, e.g. sslmode or options, kept).
        conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._dialect = engine.dialect
        self._pool = AsyncConnectionPool(
            conninfo,
            kwargs={"autocommit": True},
            min_size=0,  # a process that never searches holds none
            max_size=settings.db_read_pool_size,
            timeout=settings.db_pool_timeout_seconds,
            open=False,
            name="reads",
        )

    async def open(self) -> None:
        await self._pool.open()  # connects when asked; idle ones close after 10 minutes

    async def close(self) -> None:
        await self._pool.close()

    async def run(self, read: Read[T]) -> T:
        try:
            return await self._once(read)
        except _Broken:
            # A restarted server broke every connection made before it: check the idle
            # ones (the pool replaces the broken), then read again.
            await self._pool.check()
            return await self._once(read)

    async def _once(self, read: Read[T]) -> T:
        async with self._pool.connection() as connection:
            try:
                return await read(_AsyncReader(connection, self._dialect))
            except psycopg.OperationalError as error:
                if not connection.broken:
                    raise
                broken = error
        # Out of the pool's block, which has dropped the broken connection.
        raise _Broken() from broken


class _AsyncReader(Reader):
    def __init__(self, connection: psycopg.AsyncConnection[Any], dialect: Dialect) -> None:
        self._connection = connection
        self.dialect = dialect

    async def _rows(
        self, query: Statement, parameters: dict[str, Any], prepare: bool | None, *, many: bool
    ) -> list[tuple[Any, ...]]:
        compiled = compile_query(query, self.dialect)
        async with self._connection.cursor() as cursor:
            await cursor.execute(compiled.sql, compiled.arguments(parameters), prepare=prepare)
            rows = await cursor.fetchall() if many else await cursor.fetchmany(1)
            return [compiled.convert(row, cursor.description) for row in rows]
