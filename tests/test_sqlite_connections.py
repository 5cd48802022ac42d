"""SQLite connections configure themselves (foreign keys, busy timeout, WAL) however many open
a fresh database file at once: API workers, worker processes and `alembic upgrade head` start
together in production (tests/test_workers.py does it with processes)."""

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from app import db
from app.config import Settings


def connect_at_once(engine, start: threading.Barrier) -> tuple[str, int]:
    start.wait()
    with engine.connect() as connection:
        return (
            connection.execute(text("PRAGMA journal_mode")).scalar(),
            connection.execute(text("PRAGMA foreign_keys")).scalar(),
        )


def test_many_first_connections_to_a_fresh_file_all_get_wal(tmp_path):
    for attempt in range(10):  # the race is narrow (it failed 1 run in 3): ten fresh files
        url = f"sqlite:///{tmp_path / f'fresh{attempt}.db'}"
        engines = [db.make_engine(Settings(database_url=url)) for _ in range(8)]
        start = threading.Barrier(len(engines))
        try:
            with ThreadPoolExecutor(len(engines)) as pool:
                modes = list(pool.map(connect_at_once, engines, [start] * len(engines)))
        finally:
            for engine in engines:
                engine.dispose()
        assert modes == [("wal", 1)] * len(engines)
