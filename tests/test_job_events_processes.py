"""Event streams across real processes: a standalone worker (`python -m app.worker`) announcing
its changes through a real redis-server to a real uvicorn whose watcher ticks only every 30 s,
and real uvicorn processes stopped by SIGTERM or SIGINT with streams open. SQLite files."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from app import announce
from app.db import ROOT
from tests.support import media
from tests.support.live import free_port, wait_for_health, worker_process
from tests.support.postgres import TEST_DATABASE_URL
from tests.support.services import redis_server
from tests.support.utils import PASSWORD, UNTHROTTLED, bearer

pytestmark = pytest.mark.skipif(
    bool(TEST_DATABASE_URL), reason="process tests run on SQLite files (make test)"
)

# uvicorn as its command line runs it (uvicorn.run: the same server, signal handling and
# lifespan), with the watcher's tick set to 30 s before the app is built.
SERVE = (
    "import sys, uvicorn\n"
    "from app import events\n"
    "events.TICK_SECONDS = float(sys.argv[2])\n"
    "uvicorn.run('app.main:app', host='127.0.0.1', port=int(sys.argv[1]), access_log=False)\n"
)


@contextmanager
def api_process(
    env: dict[str, str], tick_seconds: float, log: Path
) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(port), str(tick_seconds)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_health(url, process)
        except RuntimeError:
            raise AssertionError(log.read_text()) from None
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def place(tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "EMBEDDED_WORKER": "false",  # jobs stay queued until a standalone worker runs them
        "SECRET_KEY": "live-server-test-secret-key-0123456789",
        "BCRYPT_ROUNDS": "4",
        **{name.upper(): str(value) for name, value in UNTHROTTLED.items()},
    }


def token_for(url: str) -> str:
    body = {"email": "alice@example.com", "password": PASSWORD}
    assert httpx.post(f"{url}/auth/register", json=body).status_code == 201
    return httpx.post(f"{url}/auth/login", json=body).json()["access_token"]


def queued_job(url: str, token: str, clip: Path) -> int:
    with clip.open("rb") as file:
        response = httpx.post(
            f"{url}/videos/upload", files={"file": file}, headers=bearer(token), timeout=30
        )
    assert response.status_code == 201, response.text
    video_id = response.json()["id"]
    answer = httpx.get(f"{url}/videos/{video_id}/jobs", headers=bearer(token)).json()
    return answer["data"][0]["id"]


class StreamClient(threading.Thread):
    """GET /jobs/{id}/events read to its end on a thread: each event with its receive time,
    and how the stream ended (None: the server ended the response properly)."""

    def __init__(self, url: str, token: str, job_id: int) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.job_id = url, token, job_id
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.ids: list[int] = []
        self.error: BaseException | None = None
        self.ended = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            with httpx.stream(
                "GET",
                f"{self.url}/jobs/{self.job_id}/events",
                headers=bearer(self.token),
                timeout=httpx.Timeout(60, connect=5),
            ) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        self.ids.append(int(line[4:]))
                    elif line.startswith("data: "):
                        self.events.append((time.time(), json.loads(line[6:])))
        except BaseException as error:  # noqa: BLE001 - reported to the test
            self.error = error
        finally:
            self.ended.set()

    @property
    def statuses(self) -> list[str]:
        return [job["status"] for _, job in self.events]


def wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def subscribers(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        name = announce.channel(url)
        return dict(client.pubsub_numsub(name))[name.encode()]
    finally:
        client.close()


def seconds(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_a_standalone_workers_changes_reach_the_stream_through_redis_within_a_second(
    place, tmp_path
):
    """The API's tick is 30 s: every event after the first comes from an announcement."""
    clip = media.mp4(tmp_path / "clip.mp4")
    with redis_server(tmp_path / "redis") as server:
        env = {**place, "QUEUE_URL": server.url}
        with api_process(env, 30.0, tmp_path / "api.log") as (url, _):
            token = token_for(url)
            job_id = queued_job(url, token, clip)
            streams = [StreamClient(url, token, job_id) for _ in range(5)]
            wait(lambda: all(s.statuses == ["queued"] for s in streams), 10, "first events")
            assert subscribers(server.url) == 1  # one per API process, not one per stream

            with worker_process(env["DATABASE_URL"], env, log=tmp_path / "worker.log"):
                for stream in streams:
                    assert stream.ended.wait(20), (stream.statuses, "no end within 20 s")

    for stream in streams:
        assert stream.error is None, stream.error
        assert stream.statuses[0] == "queued" and stream.statuses[-1] == "succeeded"
        assert "running" in stream.statuses
        assert stream.ids == sorted(set(stream.ids)) and len(stream.ids) == len(stream.events)
        running = next((at, job) for at, job in stream.events if job["status"] == "running")
        finished_at, finished = stream.events[-1]
        # From the worker's commit (its timestamp, just before) to this client.
        assert running[0] - seconds(running[1]["started_at"]) < 1.0
        assert finished_at - seconds(finished["finished_at"]) < 1.0


@pytest.mark.parametrize(("signum", "with_redis"), [(signal.SIGTERM, True), (signal.SIGINT, False)])
def test_open_streams_end_cleanly_when_the_server_is_stopped(place, tmp_path, signum, with_redis):
    """uvicorn waits for open responses before the lifespan ends: the watcher ends the streams
    on the signal itself, so the server stops at once and each response ends properly (its
    chunked body terminated: httpx raises on a connection cut mid-body)."""
    clip = media.mp4(tmp_path / "clip.mp4")
    with redis_server(tmp_path / "redis") as server:
        env = {**place, "QUEUE_URL": server.url} if with_redis else place
        with api_process(env, 0.25, tmp_path / "api.log") as (url, process):
            token = token_for(url)
            job_id = queued_job(url, token, clip)
            streams = [StreamClient(url, token, job_id) for _ in range(3)]
            wait(lambda: all(s.statuses == ["queued"] for s in streams), 10, "first events")

            stopped = time.monotonic()
            process.send_signal(signum)
            for stream in streams:
                assert stream.ended.wait(10), "a stream outlived the server's stop"
            process.wait(timeout=10)
            took = time.monotonic() - stopped

    assert took < 5, took
    for stream in streams:
        assert stream.error is None, repr(stream.error)
        assert stream.statuses == ["queued"]
    log = (tmp_path / "api.log").read_text()
    assert "Traceback" not in log, log
    assert "Application shutdown complete" in log, log
