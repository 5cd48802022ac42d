"""The transport that carries job ids to workers: huey, the only module that knows it.

QUEUE_URL picks the backend with the same job code: `sqlite:///queue.db` (the embedded default:
a file, no server), `memory://` (one process only) or `redis://host:port/db` (several hosts).
The queue only says "look at job N"; whether and how the job runs is decided by
`processing_jobs` (app/pipeline/jobs.py), so a lost or duplicated message costs nothing.
"""

import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

logger = logging.getLogger("app")

# The queue's task is "app.queue.run_job" in every release, wherever this module lives.
TASK_MODULE = "app.queue"
# How often an idle worker thread looks at a polled queue (SQLite): fast enough that a new job
# starts within a quarter second, cheap enough to run beside the API (one small query each).
POLL_INITIAL_SECONDS = 0.05
POLL_BACKOFF = 1.5
POLL_MAX_SECONDS = 0.25


def make_huey(url: str) -> Huey:
    parts = urlsplit(url)
    options = {"name": "jobs", "results": False, "utc": True}
    if parts.scheme == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(filename=str(path), **options)
    if parts.scheme == "memory":
        return MemoryHuey(**options)
    if parts.scheme in ("redis", "rediss"):
        # blocking: an idle worker waits on the server (BRPOP) instead of polling it.
        return RedisHuey(url=url, blocking=True, read_timeout=1, **options)
    raise ValueError(f"QUEUE_URL must be sqlite:///<file>, memory:// or redis://...: {url!r}")


class _QuietConsumer(Consumer):
    """huey's consumer without its signal handlers: inside uvicorn, uvicorn owns the signals."""

    def _set_signal_handlers(self) -> None:
        pass


class JobQueue:
    def __init__(self, url: str, run_job: Callable[[int], None]) -> None:
        self.huey = make_huey(url)

        def job(job_id: int) -> None:
            run_job(job_id)

        # huey names a task after its function's module: pinned here, so a message sent by the
        # API is understood by `python -m app.worker` (whose module is __main__ there: with that
        # name its consumer dropped every message the API sent), and by workers of earlier
        # releases, when this module was app.queue: messages already queued still run.
        job.__module__ = TASK_MODULE
        self._task = self.huey.task(name="run_job")(job)
        self._consumer: Consumer | None = None

    def enqueue(self, job_id: int) -> bool:
        """Send "look at job N"; False when the queue cannot take it (a Redis server that is
        down): the job stays `queued` in the database and the reaper sends it again later."""
        try:
            self._task(job_id)
        except Exception:
            logger.warning("Could not enqueue job %s; the reaper will resend it", job_id)
            return False
        return True

    def _consumer_options(self, concurrency: int) -> dict:
        return {
            "workers": concurrency,
            "worker_type": "thread",
            "periodic": False,  # the reaper is ours (app/worker.py), on its own interval
            "initial_delay": POLL_INITIAL_SECONDS,
            "backoff": POLL_BACKOFF,
            "max_delay": POLL_MAX_SECONDS,
        }

    def start(self, concurrency: int) -> None:
        """Worker threads inside this process (the API's embedded worker)."""
        self._consumer = _QuietConsumer(self.huey, **self._consumer_options(concurrency))
        self._consumer.start()

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
            self._consumer = None

    def run_forever(self, concurrency: int) -> None:
        """A standalone worker process: blocks, stops on SIGTERM/SIGINT (huey's handlers)."""
        Consumer(self.huey, **self._consumer_options(concurrency)).run()
