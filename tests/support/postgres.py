"""PostgreSQL for the tests: TEST_DATABASE_URL names a database, each test gets its own schema.

`make test-postgres` (scripts/test-postgres.sh) starts a throwaway cluster and sets
TEST_DATABASE_URL; without it the suite runs on in-memory SQLite and the PostgreSQL-only
tests are skipped.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.pool import NullPool

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")

requires_postgres = pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set (make test-postgres sets it)"
)

_admin: Engine | None = None


def admin_engine() -> Engine:
    """Connections to TEST_DATABASE_URL itself, outside any test schema, in autocommit."""
    global _admin
    if _admin is None:
        _admin = create_engine(TEST_DATABASE_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    return _admin


def schema_url(name: str) -> str:
    """TEST_DATABASE_URL with every connection's search_path set to this schema.

    The app's engine, its start-up migration and Alembic's alembic_version table then all
    live in the schema, as they would in a database of their own.
    """
    url = make_url(TEST_DATABASE_URL).update_query_dict(
        {"options": f"-csearch_path={name}", "application_name": name}
    )
    return url.render_as_string(hide_password=False)


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A new empty schema; yields a database URL that uses it; drops it with all it holds."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    with admin_engine().connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    try:
        yield schema_url(name)
    finally:
        with admin_engine().connect() as connection:
            # A connection the test left open (e.g. idle in a transaction) would block DROP.
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %(name)s AND pid <> pg_backend_pid()",
                {"name": name},
            )
            connection.exec_driver_sql("SET lock_timeout = '10s'")
            connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
