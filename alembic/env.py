"""Runs migrations for the Alembic CLI and for the app's start-up (app.db.migrate).

Whoever runs them, one process at a time: a file lock beside a SQLite database, an
advisory lock on PostgreSQL. The others wait, then find the schema already at head.
"""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from logging.config import fileConfig
from typing import Any

from alembic import context
from filelock import FileLock
from sqlalchemy import Connection, text

from app import models  # noqa: F401 - registers the tables on the metadata
from app.config import Settings
from app.db import make_engine
from app.search import FTS_TABLES

# SQLite cannot reflect PostgreSQL's expression index; include_object below leaves it out there.
warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based")
config = context.config
target_metadata = models.metadata
MIGRATION_LOCK_ID = 0x5669_6465_6F41_49  # any fixed 64-bit number: "VideoAI"


@contextmanager
def migration_lock(connection: Connection) -> Iterator[None]:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        return
    database = connection.engine.url.database
    if connection.dialect.name == "sqlite" and database and database != ":memory:":
        with FileLock(f"{database}.migrate.lock"):
            yield
        return
    yield


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """SQLite's full-text tables (app/search.py) are the migration's, not the models'."""
    return not (type_ == "table" and name in FTS_TABLES)


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite can't ALTER most things
    )
    with migration_lock(connection), context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run(given)
else:  # the Alembic command line
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    engine = make_engine(Settings())
    with engine.connect() as connection:
        run(connection)
        connection.commit()
    engine.dispose()
