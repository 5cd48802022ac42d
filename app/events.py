"""Live job progress for the event streams (`GET /jobs/{id}/events`): one watcher per process.

However many streams are open, the process makes at most one database read per tick
(TICK_SECONDS): the watched jobs whose `version` moved past the one each watch knows, and the
watched jobs that no longer exist, in ONE query. Streams never read the database: each waits on
its job's watch (an `anyio.Event`, replaced at every change, shared by all the streams of that
job), which the watcher sets when it has read a newer row. With nothing watched a tick costs no
query.

Faster than a tick when the change is announced. `notify(job_id)` (or `video_id=`, `user_id=`
for a deletion), thread-safe and never blocking, is what this process calls after every commit
that changed a job: the embedded worker (app.main gives it to the Worker as its `on_change`)
and the API's cancel and delete routes. The watcher then reads at once if it watches the job;
with Redis configured (app/announce.py) the change is also published, and every other API
process's watcher, subscribed with one connection each, reads at once too (standalone workers
publish the same way, app/worker.py). The tick stays the safety net, so no announcement is ever
needed for correctness.

`close()` (the lifespan's end, or SIGTERM/SIGINT under uvicorn: see `running`) ends every
stream. May import `app.announce`, `app.db`, `app.models` and third-party libraries only.
"""

import asyncio
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import anyio
from sqlalchemy import Engine, Integer, column, text
from starlette.responses import StreamingResponse

from app import db
from app.announce import ANYTHING, Announcer, job_key, user_key, video_key
from app.models import JOB_FINISHED, ProcessingJob, ProcessingJobRead

logger = logging.getLogger("app.events")

TICK_SECONDS = 0.25
# A comment line on a quiet stream this often, so proxies do not cut it.
KEEPALIVE_SECONDS = 15.0
KEEPALIVE = b": keep-alive\n\n"
_COLUMNS = tuple(ProcessingJob.__table__.columns)  # type: ignore[attr-defined]


class Watch:
    """One job as the watcher last read it, shared by every stream that follows the job."""

    __slots__ = ("job", "streams", "closed", "pings", "next_ping", "_changed")

    def __init__(self, job: ProcessingJob, next_ping: float) -> None:
        self.job: ProcessingJob | None = job  # None once the job no longer exists
        self.streams = 0
        self.closed = False  # the watcher stopped: the streams end
        self.pings = 0  # keep-alives due so far (the watcher counts them)
        self.next_ping = next_ping  # time.monotonic() of the next one
        self._changed = anyio.Event()

    def _update(self, job: ProcessingJob | None) -> None:
        self.job = job
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    @property
    def over(self) -> bool:
        return self.job is None or self.closed

    async def wait_past(self, version: int) -> bool:
        """Until the job is newer than `version`, gone or the watcher closed: True; False when
        a keep-alive is due first. No timer of its own: the watcher wakes the watch when its
        keep-alive is due (a timer and its cancellation per stream cost far more)."""
        pings = self.pings
        while self.job is not None and not self.closed and self.job.version <= version:
            if self.pings != pings:
                return False
            await self._changed.wait()
        return True


class JobWatcher:
    def __init__(
        self,
        engine: Engine,
        tick_seconds: float | None = None,
        announce_url: str | None = None,
        keepalive_seconds: float | None = None,
    ) -> None:
        """`announce_url`: a Redis server (app.announce.redis_url) to publish this process's
        changes on and to hear the other processes' from; None: this process only."""
        self.engine = engine
        self.tick_seconds = TICK_SECONDS if tick_seconds is None else tick_seconds
        self.keepalive_seconds = (
            KEEPALIVE_SECONDS if keepalive_seconds is None else keepalive_seconds
        )
        self._next_ping_check = 0.0
        self.closed = False
        self.reads = 0  # queries made (for tests and the benchmark)
        self._watches: dict[int, Watch] = {}
        self._wake = anyio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.announcer = (
            Announcer(announce_url, on_heard=self._heard) if announce_url is not None else None
        )

    # ---- what the streams use ---------------------------------------------------------------

    @property
    def watched_jobs(self) -> int:
        return len(self._watches)

    @property
    def streams(self) -> int:
        return sum(watch.streams for watch in self._watches.values())

    @contextmanager
    def watch(self, job: ProcessingJob) -> Iterator[Watch]:
        """Follow this job (as its caller just read it) until the block ends."""
        assert job.id is not None
        watch = self._watches.get(job.id)
        if watch is None:
            next_ping = time.monotonic() + self.keepalive_seconds
            watch = self._watches[job.id] = Watch(job, next_ping)
        elif watch.job is not None and job.version > watch.job.version:
            watch._update(job)  # the caller's read is newer than the watcher's last one
        watch.closed = self.closed
        watch.streams += 1
        try:
            yield watch
        finally:
            watch.streams -= 1
            if watch.streams == 0 and self._watches.get(job.id) is watch:
                del self._watches[job.id]

    def notify(
        self, job_id: int | None = None, *, video_id: int | None = None, user_id: int | None = None
    ) -> None:
        """A job changed (its transaction committed), or a video's or a user's jobs were
        deleted: this process's watcher reads now if it watches one of them, and the other
        processes hear it (with Redis). From any thread; never blocks, never raises."""
        keys = [
            key(value)
            for key, value in ((job_key, job_id), (video_key, video_id), (user_key, user_id))
            if value is not None
        ]
        if self.announcer is not None:
            self.announcer.announce(*keys)
        self._heard(keys)

    def _heard(self, keys: list[str]) -> None:
        """Keys announced here or by another process: read now if they concern a watched job.
        From any thread."""
        loop = self._loop
        if loop is None or self.closed or not self._watches:
            return
        if all(key.startswith("job:") for key in keys) and not any(
            self._concerns_a_watched_job(key) for key in keys
        ):
            return  # the common case, decided on the caller's thread without waking the loop
        with suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(self._poke_if_watched, keys)

    def _poke_if_watched(self, keys: list[str]) -> None:
        if any(self._concerns_a_watched_job(key) for key in keys):
            self._wake.set()

    def _concerns_a_watched_job(self, key: str) -> bool:
        if key == ANYTHING:
            return True
        kind, _, value = key.partition(":")
        if not value.isdigit():
            return False
        number = int(value)
        if kind == "job":
            return number in self._watches
        field = {"video": "video_id", "user": "user_id"}.get(kind)
        return field is not None and any(
            getattr(watch.job, field) == number
            for watch in self._watches.values()
            if watch.job is not None
        )

    # ---- the loop ----------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator["JobWatcher"]:
        """Run the watcher while the block runs; at its end (or at SIGTERM/SIGINT first, under
        uvicorn, which waits for open responses to finish before the lifespan ends) every
        stream ends."""
        self._loop = asyncio.get_running_loop()
        self.closed = False
        if self.announcer is not None:
            self.announcer.start()
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._run)
                with self._close_on_exit_signals():
                    try:
                        yield self
                    finally:
                        self.close()
                        group.cancel_scope.cancel()
        finally:
            if self.announcer is not None:  # joins its threads: off the event loop
                await anyio.to_thread.run_sync(self.announcer.close)

    def close(self) -> None:
        """End every stream (each sends what it has not sent yet, then stops)."""
        self.closed = True
        for watch in self._watches.values():
            watch.closed = True
            watch._wake()

    @contextmanager
    def _close_on_exit_signals(self) -> Iterator[None]:
        """uvicorn stops in this order: stop accepting, wait for every open response to end,
        then the lifespan's shutdown. An event stream ends only when told, so the watcher
        closes on the signal itself, then hands it to the handler it found (uvicorn's)."""
        if threading.current_thread() is not threading.main_thread() or self._loop is None:
            yield  # e.g. the test client's lifespan thread: the lifespan's end closes it
            return
        loop, installed = self._loop, {}

        def chained(previous: Callable[[int, Any], Any]) -> Callable[[int, Any], None]:
            def handler(signum: int, frame: Any) -> None:
                loop.call_soon_threadsafe(self.close)  # the handler runs between bytecodes
                previous(signum, frame)

            return handler

        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            if callable(previous):  # a server's handler; not SIG_DFL/SIG_IGN
                installed[signum] = (previous, chained(previous))
                signal.signal(signum, installed[signum][1])
        try:
            yield
        finally:
            for signum, (previous, handler) in installed.items():
                if signal.getsignal(signum) is handler:
                    signal.signal(signum, previous)

    async def _run(self) -> None:
        """Read at every tick and at once when woken by an announcement; between reads, wake
        the watches whose keep-alive is due (checked at least once a second)."""
        last_read = time.monotonic()
        while not self.closed:
            until = min(last_read + self.tick_seconds, self._next_ping_check)
            with anyio.move_on_after(max(0.0, until - time.monotonic())):
                await self._wake.wait()
            announced, self._wake = self._wake.is_set(), anyio.Event()
            now = time.monotonic()
            if now >= self._next_ping_check:
                self._send_keepalives(now)
            if announced or now >= last_read + self.tick_seconds:
                last_read = now
                try:
                    await self.read_changes()
                except Exception:  # the database is away for a moment: the next tick tries
                    logger.warning("The job watcher could not read the jobs", exc_info=True)

    def _send_keepalives(self, now: float) -> None:
        self._next_ping_check = now + min(1.0, self.keepalive_seconds / 4)
        for watch in self._watches.values():
            if watch.next_ping <= now:
                watch.pings += 1
                watch.next_ping = now + self.keepalive_seconds
                watch._wake()

    async def read_changes(self) -> None:
        """One query for every watched job: the changed rows and the vanished ids; wakes their
        streams. Nothing watched: no query."""
        known = {
            job_id: watch.job.version
            for job_id, watch in self._watches.items()
            if watch.job is not None
        }
        if not known:
            return
        self.reads += 1
        # Inline on SQLite (microseconds, in this process), in a thread for a network database.
        changed, gone = await db.call_database(self.engine, read_changed_jobs, self.engine, known)
        for job in changed:
            watch = self._watches.get(job.id)  # type: ignore[arg-type]
            if watch is not None and watch.job is not None and job.version > watch.job.version:
                watch._update(job)
        for job_id in gone:
            if (watch := self._watches.get(job_id)) is not None:
                watch._update(None)


def read_changed_jobs(
    engine: Engine, known: dict[int, int]
) -> tuple[list[ProcessingJob], list[int]]:
    """The jobs whose version is past the known one, and the ids that no longer exist, in one
    statement: the watched (id, version) pairs as a VALUES list (inlined integers: no limit on
    the number of parameters; SQLite and PostgreSQL both name its columns column1, column2),
    left-joined to processing_jobs by primary key."""
    pairs = ", ".join(f"({int(job_id)}, {int(version)})" for job_id, version in known.items())
    names = ", ".join(f"j.{c.name}" for c in _COLUMNS)
    statement = text(
        f"SELECT w.column1, {names} FROM (VALUES {pairs}) AS w "
        "LEFT JOIN processing_jobs AS j ON j.id = w.column1 "
        "WHERE j.id IS NULL OR j.version > w.column2"
    ).columns(column("watched_id", Integer), *_COLUMNS)
    changed, gone = [], []
    with engine.connect() as connection:
        for row in connection.execute(statement):
            if row[1] is None:
                gone.append(row[0])
            else:
                values = dict(zip((c.name for c in _COLUMNS), row[1:], strict=True))
                changed.append(ProcessingJob(**values))
    return changed, gone


class EventStreamResponse(StreamingResponse):
    """`text/event-stream`, not cached, not buffered by proxies (nginx's X-Accel-Buffering)."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes], status_code: int = 200) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(content, status_code=status_code, headers=headers)


async def job_events(watcher: JobWatcher, job: ProcessingJob, after: int) -> AsyncIterator[bytes]:
    """The body of `GET /jobs/{id}/events`: the job as event `job` (its version as the id)
    unless `after` has seen it, then one event per change, a keep-alive comment on a quiet
    stream; ends after a final status, when the job is gone or the watcher closes.

    Formatted here rather than by FastAPI's EventSourceResponse, which gives every stream two
    more tasks, two memory streams and a timer re-armed at every event: with the watcher's
    keep-alives a stream is one generator, woken only when it has something to send."""
    sent = after
    with watcher.watch(job) as watch:
        while (current := watch.job) is not None:
            if current.version > sent:
                sent = current.version
                data = ProcessingJobRead.model_validate(current).model_dump_json()
                # One `data` line: compact JSON has no line breaks.
                yield f"event: job\nid: {sent}\ndata: {data}\n\n".encode()
            if current.status in JOB_FINISHED or watch.closed:
                return
            if not await watch.wait_past(current.version):
                yield KEEPALIVE
