"""GET /jobs/{id}/events at scale: one watcher per process (app/events.py) reads the database for
every open stream at once, wakes only the streams whose job changed, and ends them all when the
server stops.

The app runs in this test's own event loop (its lifespan entered directly, requests sent as
ASGI calls), so hundreds of streams stay open at once at little cost; jobs change through
app.pipeline.jobs on the app's engine, as a worker would change them. On SQLite files, or on
PostgreSQL under make test-postgres.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis
from fastapi import FastAPI
from sqlmodel import Session, delete

from app import announce
from app.config import Settings
from app.events import JobWatcher
from app.main import create_app
from app.models import ProcessingJob, VideoSource
from app.pipeline import jobs
from app.pipeline.worker import Worker
from tests.support.postgres import TEST_DATABASE_URL, fresh_schema
from tests.support.services import redis_server
from tests.support.utils import (
    PASSWORD,
    UNTHROTTLED,
    data_statements,
    statements_sent,
)

LEASE = 60.0


def run(scenario: Callable[[], Any]) -> Any:
    return asyncio.run(scenario())


@asynccontextmanager
async def served(tmp_path: Path, **overrides: Any) -> AsyncIterator[FastAPI]:
    """The app, started (lifespan entered) in this event loop; stopped at the end."""
    async with AsyncExitStack() as stack:
        database = (
            stack.enter_context(fresh_schema())
            if TEST_DATABASE_URL
            else f"sqlite:///{tmp_path / 'app.db'}"
        )
        settings = Settings(
            _env_file=None,
            **{
                "database_url": database,
                "bcrypt_rounds": 4,
                "embedded_worker": False,
                "queue_url": "memory://",
                "media_root": tmp_path / "media",
                **UNTHROTTLED,
                **overrides,
            },
        )
        app = create_app(settings)
        await stack.enter_async_context(app.router.lifespan_context(app))
        yield app


def _scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }


async def call(
    app: FastAPI, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"content-type": "application/json"} if body is not None else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": json.dumps(body or {}).encode()}
        await anyio.sleep_forever()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(_scope(method, path, headers), receive, send)
    raw = b"".join(chunks)
    return status, json.loads(raw) if raw else None


async def user(app: FastAPI, email: str) -> tuple[str, int]:
    """A registered user's token and id."""
    credentials = {"email": email, "password": PASSWORD}
    assert (await call(app, "POST", "/auth/register", credentials))[0] == 201
    token = (await call(app, "POST", "/auth/login", credentials))[1]["access_token"]
    return token, (await call(app, "GET", "/me", token=token))[1]["id"]


def queued_jobs(app: FastAPI, user_id: int, count: int) -> list[int]:
    """`count` queued ingest jobs of this user, each on a video of its own."""
    with Session(app.state.engine) as session:
        videos = [
            VideoSource(user_id=user_id, origin="upload", filename="a.mp4", status="processing")
            for _ in range(count)
        ]
        session.add_all(videos)
        session.flush()
        made = [ProcessingJob(video_id=v.id, user_id=user_id, kind="ingest") for v in videos]
        session.add_all(made)
        session.commit()
        return [job.id for job in made]  # type: ignore[misc]


def change(app: FastAPI, job_ids: list[int], step: Callable[[Session, int], Any]) -> None:
    """One transition per job, committed, then announced (as the embedded worker does)."""
    with Session(app.state.engine) as session:
        for job_id in job_ids:
            step(session, job_id)
        session.commit()
    for job_id in job_ids:
        app.state.job_watcher.notify(job_id)


class Stream:
    """One GET /jobs/{id}/events held open: its status, events and comments as they come."""

    def __init__(self, app: FastAPI, job_id: int, token: str, **headers: str) -> None:
        self.app, self.job_id = app, job_id
        self.headers = {"authorization": f"Bearer {token}", **headers}
        self.status = 0
        self.response_headers: dict[str, str] = {}
        self.events: list[dict[str, Any]] = []
        self.comments: list[str] = []
        self.ended = anyio.Event()
        self._disconnect = anyio.Event()
        self._buffer = ""

    @property
    def ids(self) -> list[int]:
        return [int(event["id"]) for event in self.events]

    @property
    def jobs(self) -> list[dict[str, Any]]:
        return [json.loads(event["data"]) for event in self.events]

    def disconnect(self) -> None:
        self._disconnect.set()

    async def run(self) -> None:
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b""}
            await self._disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.response_headers = {k.decode(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                self._buffer += message.get("body", b"").decode()
                while "\n\n" in self._buffer:
                    block, self._buffer = self._buffer.split("\n\n", 1)
                    self._parse(block)

        path = f"/jobs/{self.job_id}/events"
        try:
            await self.app(_scope("GET", path, self.headers), receive, send)
        finally:
            self.ended.set()

    def _parse(self, block: str) -> None:
        event: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(": ")
                event[name] = value
        if "data" in event:
            self.events.append(event)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await anyio.sleep(0.01)


def watcher(app: FastAPI) -> JobWatcher:
    return app.state.job_watcher


# ---- the contract


def test_a_stream_sends_the_job_then_each_change_and_ends_after_a_final_status(tmp_path):
    async def scenario() -> None:
        async with served(tmp_path) as app, anyio.create_task_group() as group:
            token, user_id = await user(app, "alice@example.com")
            (job_id,) = queued_jobs(app, user_id, 1)
            stream = Stream(app, job_id, token)
            group.start_soon(stream.run)
            await until(lambda: stream.ids == [1])
            assert stream.status == 200 and stream.jobs[0]["status"] == "queued"

            lease = {}

            def claim(session: Session, job_id: int) -> None:
                lease["token"] = jobs.claim(session, job_id, LEASE)

            change(app, [job_id], claim)
            await until(lambda: stream.ids == [1, 2])
            for progress in (0.25, 0.5):
                change(
                    app,
                    [job_id],
                    lambda s, j, p=progress: jobs.checkpoint(
                        s, j, lease["token"], stage="probing", progress=p, lease=LEASE
                    ),
                )
                await until(lambda p=progress: stream.jobs[-1]["progress"] == p)
            change(app, [job_id], lambda s, j: jobs.succeed(s, j, lease["token"]))
            with anyio.fail_after(5):
                await stream.ended.wait()

        assert stream.ids == [1, 2, 3, 4, 5]
        assert [j["status"] for j in stream.jobs] == ["queued"] + ["running"] * 3 + ["succeeded"]
        assert [j["progress"] for j in stream.jobs] == [0.0, 0.0, 0.25, 0.5, 1.0]
        assert {e["event"] for e in stream.events} == {"job"}

    run(scenario)


def test_last_event_id_resumes_after_it_and_others_jobs_are_404(tmp_path):
    async def scenario() -> None:
        async with served(tmp_path) as app, anyio.create_task_group() as group:
            token, user_id = await user(app, "alice@example.com")
            other, _ = await user(app, "bob@example.com")
            (job_id,) = queued_jobs(app, user_id, 1)
            resumed = Stream(app, job_id, token, **{"last-event-id": "1"})
            foreign = Stream(app, job_id, other)
            group.start_soon(resumed.run)
            group.start_soon(foreign.run)
            with anyio.fail_after(5):
                await foreign.ended.wait()
            await anyio.sleep(0.6)  # two ticks: nothing new, nothing sent
            assert resumed.events == []
            change(app, [job_id], lambda s, j: jobs.claim(s, j, LEASE))
            await until(lambda: resumed.ids == [2])
            change(app, [job_id], lambda s, j: jobs.cancel(s, s.get(ProcessingJob, j)))
            with anyio.fail_after(5):
                await resumed.ended.wait()

        assert foreign.status == 404 and foreign.events == []
        assert resumed.ids == [2, 3] and resumed.jobs[-1]["status"] == "canceled"

    run(scenario)


def test_a_quiet_stream_gets_a_keep_alive_comment(tmp_path):
    async def scenario() -> None:
        async with served(tmp_path) as app, anyio.create_task_group() as group:
            watcher(app).keepalive_seconds = 0.3
            token, user_id = await user(app, "alice@example.com")
            (job_id,) = queued_jobs(app, user_id, 1)
            stream = Stream(app, job_id, token)
            group.start_soon(stream.run)
            await until(lambda: stream.ids == [1])
            started = time.monotonic()
            await until(lambda: len(stream.comments) >= 3)
            assert 0.6 <= time.monotonic() - started <= 2.0  # every 0.3 s (checked each 0.075)
            assert stream.ids == [1] and set(stream.comments) == {"keep-alive"}
            headers = stream.response_headers
            assert headers["content-type"].startswith("text/event-stream")
            assert (headers["cache-control"], headers["x-accel-buffering"]) == ("no-cache", "no")
            stream.disconnect()

    run(scenario)


def test_a_deleted_jobs_stream_ends(tmp_path):
    async def scenario() -> None:
        async with served(tmp_path) as app, anyio.create_task_group() as group:
            token, user_id = await user(app, "alice@example.com")
            kept, deleted = queued_jobs(app, user_id, 2)
            streams = [Stream(app, kept, token), Stream(app, deleted, token)]
            for stream in streams:
                group.start_soon(stream.run)
            await until(lambda: all(s.ids == [1] for s in streams))
            with Session(app.state.engine) as session:  # as DELETE /videos/{id} does: no notify
                video_id = session.get(ProcessingJob, deleted).video_id  # type: ignore[union-attr]
                session.exec(delete(ProcessingJob).where(ProcessingJob.id == deleted))  # type: ignore[call-overload]
                session.exec(delete(VideoSource).where(VideoSource.id == video_id))  # type: ignore[call-overload]
                session.commit()
            with anyio.fail_after(5):  # within a tick
                await streams[1].ended.wait()
            assert not streams[0].ended.is_set() and watcher(app).watched_jobs == 1
            streams[0].disconnect()

        assert [s.ids for s in streams] == [[1], [1]]

    run(scenario)


def test_every_stream_ends_when_the_server_stops(tmp_path):
    async def scenario() -> list[Stream]:
        async with anyio.create_task_group() as group:
            async with served(tmp_path) as app:
                token, user_id = await user(app, "alice@example.com")
                job_ids = queued_jobs(app, user_id, 3)
                streams = [Stream(app, job_id, token) for job_id in job_ids * 2]
                for stream in streams:
                    group.start_soon(stream.run)
                await until(lambda: all(s.ids == [1] for s in streams))
            # The lifespan has ended (the watcher closed): every stream ends by itself.
            with anyio.fail_after(5):
                for stream in streams:
                    await stream.ended.wait()
        return streams

    assert all(stream.status == 200 for stream in run(scenario))


def test_an_announced_change_arrives_without_waiting_for_a_tick(tmp_path):
    async def scenario() -> None:
        async with served(tmp_path) as app, anyio.create_task_group() as group:
            watcher(app).tick_seconds = 30.0  # only announcements wake it now
            await anyio.sleep(0.3)  # the tick already under way ends
            token, user_id = await user(app, "alice@example.com")
            first, second = queued_jobs(app, user_id, 2)
            streams = [Stream(app, first, token), Stream(app, second, token)]
            for stream in streams:
                group.start_soon(stream.run)
            await until(lambda: all(s.ids == [1] for s in streams))

            def claim_unannounced() -> None:
                with Session(app.state.engine) as session:
                    jobs.claim(session, second, LEASE)
                    session.commit()

            await anyio.to_thread.run_sync(claim_unannounced)
            started = time.monotonic()
            # From a worker thread, as the embedded worker announces it.
            await anyio.to_thread.run_sync(change, app, [first], lambda s, j: jobs.claim(s, j, 60))
            await until(lambda: streams[0].ids == [1, 2], timeout=2)
            assert time.monotonic() - started < 1.0
            # The read an announcement triggers reads every watched job: the other one too.
            assert streams[1].ids == [1, 2]
            for stream in streams:
                stream.disconnect()

    run(scenario)


def test_a_cancel_through_the_api_reaches_the_stream_without_waiting_for_a_tick(tmp_path):
    async def scenario() -> None:
        async with served(tmp_path) as app, anyio.create_task_group() as group:
            watcher(app).tick_seconds = 30.0  # only announcements wake it now
            await anyio.sleep(0.3)
            token, user_id = await user(app, "alice@example.com")
            [job_id] = queued_jobs(app, user_id, 1)
            stream = Stream(app, job_id, token)
            group.start_soon(stream.run)
            await until(lambda: stream.ids == [1])
            started = time.monotonic()

            status, body = await call(app, "POST", f"/jobs/{job_id}/cancel", token=token)

            assert (status, body["status"]) == (200, "canceled")
            await until(lambda: stream.ids == [1, 2], timeout=2)
            assert time.monotonic() - started < 1.0
            stream.disconnect()

    run(scenario)


# ---- at scale


def test_200_streams_on_50_jobs_see_every_change_of_their_own_job_and_nothing_else(tmp_path):
    async def scenario() -> None:
        async with served(tmp_path) as app, anyio.create_task_group() as group:
            alice, alice_id = await user(app, "alice@example.com")
            bob, bob_id = await user(app, "bob@example.com")
            job_ids = queued_jobs(app, alice_id, 25) + queued_jobs(app, bob_id, 25)
            tokens = dict.fromkeys(job_ids[:25], alice) | dict.fromkeys(job_ids[25:], bob)
            streams = [Stream(app, job_id, tokens[job_id]) for job_id in job_ids * 4]
            for stream in streams:
                group.start_soon(stream.run)
            await until(lambda: all(s.ids == [1] for s in streams), timeout=30)
            assert (watcher(app).watched_jobs, watcher(app).streams) == (50, 200)

            leases: dict[int, str] = {}

            def claim(session: Session, job_id: int) -> None:
                leases[job_id] = jobs.claim(session, job_id, LEASE)  # type: ignore[assignment]

            def progress(session: Session, job_id: int) -> None:
                jobs.checkpoint(
                    session, job_id, leases[job_id], stage="probing", progress=0.5, lease=LEASE
                )

            def finish(session: Session, job_id: int) -> None:
                jobs.succeed(session, job_id, leases[job_id])

            # Every other job first, then the rest: a change wakes only its own job's streams.
            half, rest = job_ids[::2], job_ids[1::2]
            version = 1
            for step in (claim, progress):
                version += 1
                change(app, half, step)
                await until(
                    lambda v=version: all(s.ids[-1] == v for s in streams if s.job_id in half)
                )
                await anyio.sleep(0.3)  # a tick more: the others still have nothing new
                assert all(s.ids == [1] for s in streams if s.job_id in rest)
            change(app, rest, claim)
            change(app, rest, progress)  # two changes, maybe read in one: at least the last
            await until(lambda: all(s.ids[-1] == 3 for s in streams))
            change(app, job_ids, finish)
            with anyio.fail_after(10):
                for stream in streams:
                    await stream.ended.wait()

        for stream in streams:
            assert {job["id"] for job in stream.jobs} == {stream.job_id}
            assert stream.ids == sorted(set(stream.ids))  # increasing, no repeats
            if stream.job_id in half:
                assert stream.ids == [1, 2, 3, 4]  # each change seen
            else:
                assert stream.ids[0] == 1 and stream.ids[-2:] == [3, 4]
            assert stream.jobs[-1]["status"] == "succeeded"

    run(scenario)


def test_disconnected_streams_leave_the_watcher(tmp_path):
    async def scenario() -> None:
        async with served(tmp_path) as app:
            token, user_id = await user(app, "alice@example.com")
            job_ids = queued_jobs(app, user_id, 10)
            for cycle in range(10):  # 1,000 connects and disconnects, 100 at a time
                async with anyio.create_task_group() as group:
                    streams = [Stream(app, job_ids[i % 10], token) for i in range(100)]
                    for stream in streams:
                        group.start_soon(stream.run)
                    await until(lambda ss=streams: all(s.ids == [1] for s in ss))
                    assert watcher(app).streams == 100
                    for stream in streams:
                        stream.disconnect()
                assert (watcher(app).watched_jobs, watcher(app).streams) == (0, 0), cycle
            reads = watcher(app).reads
            await anyio.sleep(0.6)
            assert watcher(app).reads == reads  # nothing watched: no query

    run(scenario)


def test_the_streams_database_reads_stay_flat_as_streams_are_added(tmp_path):
    """Per second of open streams: one read per tick, for 1 stream or for 300."""

    async def reads_per_second(app: FastAPI, streams: list[Stream]) -> int:
        async with anyio.create_task_group() as group:
            for stream in streams:
                group.start_soon(stream.run)
            await until(lambda: all(s.ids == [1] for s in streams), timeout=30)
            with statements_sent(app.state.engine) as sent:
                await anyio.sleep(1.0)
            for stream in streams:
                stream.disconnect()
        return len(data_statements(sent))

    async def scenario() -> tuple[int, int]:
        async with served(tmp_path) as app:
            token, user_id = await user(app, "alice@example.com")
            job_ids = queued_jobs(app, user_id, 100)
            one = await reads_per_second(app, [Stream(app, job_ids[0], token)])
            many = await reads_per_second(app, [Stream(app, j, token) for j in job_ids * 3])
        return one, many

    one, many = run(scenario)
    assert 2 <= one <= 6 and 2 <= many <= 6, (one, many)  # 4 ticks a second


def test_the_watcher_reads_nothing_while_nothing_is_watched(tmp_path):
    async def scenario() -> None:
        async with served(tmp_path) as app:
            token, user_id = await user(app, "alice@example.com")
            (job_id,) = queued_jobs(app, user_id, 1)
            async with anyio.create_task_group() as group:
                stream = Stream(app, job_id, token)
                group.start_soon(stream.run)
                await until(lambda: stream.ids == [1])
                stream.disconnect()
            with statements_sent(app.state.engine) as sent:
                await anyio.sleep(0.6)
            assert data_statements(sent) == [] and watcher(app).watched_jobs == 0

    run(scenario)


# ---- announcements between processes (Redis pub/sub, app/announce.py)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path / "redis") as server:
        yield server.url


def subscribers(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return dict(client.pubsub_numsub(announce.channel(url)))[announce.channel(url).encode()]
    finally:
        client.close()


def test_announcers_hear_the_others_keys_never_their_own(redis_url):
    heard: dict[str, list[list[str]]] = {"a": [], "b": []}
    a = announce.Announcer(redis_url, on_heard=heard["a"].append).start()
    b = announce.Announcer(redis_url, on_heard=heard["b"].append).start()
    publisher = announce.Announcer(redis_url).start()  # a standalone worker's: publishes only
    try:
        assert a.subscribed.wait(5) and b.subscribed.wait(5)
        assert subscribers(redis_url) == 2  # one connection per listening process
        a.announce("job:1", "video:7")
        publisher.announce("job:2")
        deadline = time.monotonic() + 5
        while len(heard["b"]) < 2 or not heard["a"]:
            assert time.monotonic() < deadline, heard
            time.sleep(0.01)
        time.sleep(0.2)
    finally:
        for announcer in (a, b, publisher):
            announcer.close()
    assert sorted(heard["b"]) == [["job:1", "video:7"], ["job:2"]]
    assert heard["a"] == [["job:2"]]  # its own message is not handed back
    assert subscribers(redis_url) == 0  # closed: unsubscribed


def test_a_listener_that_lost_redis_reads_everything_once_it_is_back(tmp_path):
    heard: list[list[str]] = []
    with redis_server(tmp_path / "redis") as server:
        listener = announce.Announcer(server.url, on_heard=heard.append).start()
        try:
            assert listener.subscribed.wait(5)
            server.restart()  # same port; whatever was announced meanwhile is lost
            deadline = time.monotonic() + 15
            while [announce.ANYTHING] not in heard:
                assert time.monotonic() < deadline, heard
                time.sleep(0.05)
            assert listener.subscribed.wait(5)
            announce.Announcer(server.url).start().close()  # nothing to send: nothing breaks
            sender = announce.Announcer(server.url).start()
            sender.announce("job:5")
            sender.close()
            deadline = time.monotonic() + 5
            while ["job:5"] not in heard:
                assert time.monotonic() < deadline, heard
                time.sleep(0.05)
        finally:
            listener.close()


def test_announcing_without_redis_answering_neither_blocks_nor_raises(tmp_path):
    from tests.support.live import free_port

    announcer = announce.Announcer(f"redis://127.0.0.1:{free_port()}/0").start()
    started = time.monotonic()
    for job_id in range(1000):
        announcer.announce(announce.job_key(job_id))
    assert time.monotonic() - started < 0.5
    announcer.close()
    assert announcer.published == 0


@asynccontextmanager
async def two_api_processes(
    tmp_path: Path, redis_url: str
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two apps on one database and one Redis, as two API processes would be; their watchers'
    ticks are 30 s, so only an announcement wakes them within the tests' second."""
    database = f"sqlite:///{tmp_path / 'app.db'}"
    async with AsyncExitStack() as stack:
        if TEST_DATABASE_URL:
            database = stack.enter_context(fresh_schema())
        apps = []
        for _ in range(2):
            app = await stack.enter_async_context(
                served(tmp_path, database_url=database, queue_url=redis_url)
            )
            watcher(app).tick_seconds = 30.0
            apps.append(app)
        await anyio.sleep(0.3)  # the ticks already under way end
        for app in apps:
            assert watcher(app).announcer is not None
            with anyio.fail_after(5):
                while not watcher(app).announcer.subscribed.is_set():  # type: ignore[union-attr]
                    await anyio.sleep(0.01)
        assert subscribers(redis_url) == 2
        yield apps[0], apps[1]


def test_a_change_made_in_another_process_reaches_the_stream_without_waiting_for_a_tick(
    tmp_path, redis_url
):
    async def scenario() -> None:
        async with (
            two_api_processes(tmp_path, redis_url) as (here, there),
            anyio.create_task_group() as group,
        ):
            token, user_id = await user(here, "alice@example.com")
            first, second = queued_jobs(here, user_id, 2)
            streams = [Stream(here, first, token), Stream(here, second, token)]
            for stream in streams:
                group.start_soon(stream.run)
            await until(lambda: all(s.ids == [1] for s in streams))
            assert subscribers(redis_url) == 2  # two processes, not one per stream

            # A worker of the other process claims the first job (its on_change is notify).
            started = time.monotonic()
            await anyio.to_thread.run_sync(
                change, there, [first], lambda s, j: jobs.claim(s, j, 60)
            )
            await until(lambda: streams[0].ids == [1, 2], timeout=2)
            assert time.monotonic() - started < 1.0

            # A cancel through the other process's API.
            started = time.monotonic()
            status, _ = await call(there, "POST", f"/jobs/{second}/cancel", token=token)
            assert status == 200
            with anyio.fail_after(2):
                await streams[1].ended.wait()
            assert time.monotonic() - started < 1.0
            assert streams[1].jobs[-1]["status"] == "canceled"
            streams[0].disconnect()

    run(scenario)


def test_deleting_a_video_or_an_account_elsewhere_ends_their_streams_at_once(tmp_path, redis_url):
    async def scenario() -> None:
        async with (
            two_api_processes(tmp_path, redis_url) as (here, there),
            anyio.create_task_group() as group,
        ):
            alice, alice_id = await user(here, "alice@example.com")
            bob, bob_id = await user(here, "bob@example.com")
            alices, kept = queued_jobs(here, alice_id, 2)
            (bobs,) = queued_jobs(here, bob_id, 1)
            streams = {
                "video": Stream(here, alices, alice),
                "kept": Stream(here, kept, alice),
                "account": Stream(here, bobs, bob),
            }
            for stream in streams.values():
                group.start_soon(stream.run)
            await until(lambda: all(s.ids == [1] for s in streams.values()))
            with Session(here.state.engine) as session:
                video_id = session.get(ProcessingJob, alices).video_id  # type: ignore[union-attr]

            started = time.monotonic()
            status, _ = await call(there, "DELETE", f"/videos/{video_id}", token=alice)
            assert status == 204
            with anyio.fail_after(2):
                await streams["video"].ended.wait()
            assert time.monotonic() - started < 1.0

            started = time.monotonic()
            body = {"password": PASSWORD}
            assert (await call(there, "DELETE", "/me", body, token=bob))[0] == 204
            with anyio.fail_after(2):
                await streams["account"].ended.wait()
            assert time.monotonic() - started < 1.0

            assert not streams["kept"].ended.is_set()
            assert watcher(here).watched_jobs == 1
            streams["kept"].disconnect()

        # The deleted video's job was canceled in the deleting transaction: that is its end.
        assert [j["status"] for j in streams["video"].jobs] == ["queued"]
        assert streams["kept"].ids == [1]

    run(scenario)


def test_the_reaper_announces_the_jobs_it_gives_back(tmp_path, redis_url):
    """A standalone worker's reaper (its on_change publishes, as app/worker.py wires it)."""

    async def scenario() -> None:
        async with (
            two_api_processes(tmp_path, redis_url) as (here, _),
            anyio.create_task_group() as group,
        ):
            token, user_id = await user(here, "alice@example.com")
            (job_id,) = queued_jobs(here, user_id, 1)
            with Session(here.state.engine) as session:
                jobs.claim(session, job_id, 0.01)  # a lease that has already run out
                session.commit()
            stream = Stream(here, job_id, token)
            group.start_soon(stream.run)
            await until(lambda: stream.ids == [2])
            await anyio.sleep(0.05)

            settings = here.state.settings
            worker = Worker(here.state.engine, settings, here.state.storage)
            announcer = announce.Announcer(redis_url).start()
            worker.on_change = lambda j: announcer.announce(announce.job_key(j))
            started = time.monotonic()
            try:
                await anyio.to_thread.run_sync(worker.reap)
                await until(lambda: stream.ids == [2, 3], timeout=2)
            finally:
                announcer.close()
            assert time.monotonic() - started < 1.0
            assert stream.jobs[-1]["status"] == "queued"  # given back for another attempt
            stream.disconnect()

    run(scenario)
