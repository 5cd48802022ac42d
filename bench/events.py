"""Live progress at scale (issue 24), run by bench/run.sh after bench/transcribe.py (or alone:
.venv/bin/python bench/events.py).

(h) `/me` req/s and max latency (wrk, 16 connections) with 0, 100 and 1,000 open
    `GET /jobs/{id}/events` streams, all on one queued job and on 1,000 different queued jobs
    (EMBEDDED_WORKER=false, so the jobs stay queued); the server's RSS growth per 1,000 streams.
(i) database reads made for the streams per second at 1,000 open streams, counted where SQLite
    receives them: the server is the project's app with a sqlite3 trace callback on each of its
    connections and one extra route that reports the count (`counting_app` below, bench only).
(j) from a job's change to its event at a client, with the embedded worker: 50 uploads of a
    2-second clip one at a time, a stream opened on each ingest job; for the `running` and
    `succeeded` events, the client's receive time minus the job's `started_at` / `finished_at`
    (the time the worker wrote into the row just before committing; same machine clock).

The streams are held by this driver (asyncio sockets in a thread, on the CPUs the server is not
pinned to, beside wrk); the server is pinned to CPU 0 as in the other measurements.
"""

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import servers
from servers import RESULTS, ROOT, SERVER_PIN, free_port, http, log, register_and_login, server_env

ROUNDS = int(os.environ.get("BENCH_EVENTS_ROUNDS", "3"))
WRK_CONNECTIONS = 16
STREAM_COUNTS = (0, 100, 1000)


# ---- the server side (imported by uvicorn in the server process) ------------------------------


def counting_app() -> Any:
    """The project's app, plus a count of the SQL statements SQLite receives (all, and the
    event watcher's) at GET /bench/reads. Only for this benchmark: product code stays clean."""
    from sqlalchemy import event

    from app.main import create_app

    app = create_app()
    counts = {"statements": 0, "watcher": 0}

    def trace(statement: str) -> None:
        counts["statements"] += 1
        if "FROM (VALUES" in statement:  # app/events.py's one query per tick
            counts["watcher"] += 1

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(trace)

    event.listen(app.state.engine, "connect", on_connect)
    app.add_api_route("/bench/reads", lambda: counts, methods=["GET"], include_in_schema=False)
    return app


@contextmanager
def counting_server(env: dict[str, str]) -> Iterator[str]:
    """servers.server()'s way (pinned, own process group, stopped by its id), serving
    counting_app."""
    port = free_port()
    command = [
        *SERVER_PIN,
        sys.executable,
        "-m",
        "uvicorn",
        "events:counting_app",
        "--factory",
        "--app-dir",
        str(Path(__file__).resolve().parent),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "events-server.log", "ab") as logfile:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        servers._running.append(process)
        url = f"http://127.0.0.1:{port}"
        servers._pid_by_base_url[url] = process.pid
        try:
            servers.wait_for_health(process, "events", url)
            yield url
        finally:
            servers.stop(process)


# ---- the streams (held by the driver) ---------------------------------------------------------


class Streams:
    """Open event streams, held on an asyncio loop in a thread of this process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tasks: list[asyncio.Task[None]] = []
        # Each event's receive time and data, per stream, for (j).
        self.received: list[list[tuple[float, dict[str, Any]]]] = []

    def open(self, url: str, token: str, job_ids: list[int]) -> None:
        """One stream per id; returns once each has received its first event."""
        future = asyncio.run_coroutine_threadsafe(self._open_all(url, token, job_ids), self.loop)
        future.result(timeout=300)

    async def _open_all(self, url: str, token: str, job_ids: list[int]) -> None:
        limit = asyncio.Semaphore(50)
        opened: list[asyncio.Future[None]] = []
        for job_id in job_ids:
            first: asyncio.Future[None] = self.loop.create_future()
            received: list[tuple[float, dict[str, Any]]] = []
            self.received.append(received)
            self.tasks.append(
                self.loop.create_task(self._hold(url, token, job_id, first, received, limit))
            )
            opened.append(first)
        await asyncio.gather(*opened)

    async def _hold(
        self,
        url: str,
        token: str,
        job_id: int,
        first: "asyncio.Future[None]",
        received: list[tuple[float, dict[str, Any]]],
        limit: asyncio.Semaphore,
    ) -> None:
        try:
            await self._read(url, token, job_id, first, received, limit)
        except BaseException as error:
            if not first.done():
                first.set_exception(error if isinstance(error, Exception) else RuntimeError())
            raise

    async def _read(
        self,
        url: str,
        token: str,
        job_id: int,
        first: "asyncio.Future[None]",
        received: list[tuple[float, dict[str, Any]]],
        limit: asyncio.Semaphore,
    ) -> None:
        host, port = url.removeprefix("http://").split(":")
        async with limit:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                f"GET /jobs/{job_id}/events HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
        try:
            buffer = b""
            while chunk := await reader.read(65536):
                buffer += chunk
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    for line in block.split(b"\n"):  # chunked framing lines are skipped
                        if line.startswith(b"data: "):
                            received.append((time.time(), json.loads(line[6:])))
                            if not first.done():
                                first.set_result(None)
        finally:
            writer.close()

    def close(self) -> None:
        def cancel() -> None:
            for task in self.tasks:
                task.cancel()

        self.loop.call_soon_threadsafe(cancel)
        time.sleep(0.5)
        self.tasks, self.received = [], []

    def stop(self) -> None:
        self.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# ---- the measurements -------------------------------------------------------------------------


def bench_streams(tmp: Path, clip: Path) -> dict[str, Any]:
    """(h) and (i): /me with 0, 100, 1,000 streams on one job and on 1,000 jobs."""
    from load import wrk
    from videos import upload_file

    env = {
        **server_env(f"sqlite:///{tmp / 'events.db'}"),
        "MEDIA_ROOT": str(tmp / "media"),
        "QUEUE_URL": f"sqlite:///{tmp / 'queue.db'}",
        "EMBEDDED_WORKER": "false",  # every job stays queued
        "MAX_ACTIVE_INGESTS": "2000",
    }
    streams = Streams()
    results: dict[str, Any] = {"one_job": {}, "many_jobs": {}, "rss_kib_per_1000": {}}
    try:
        with counting_server(env) as url:
            pid = servers.server_pid(url)
            assert pid is not None
            token = register_and_login(url)
            job_ids = []
            for _ in range(max(STREAM_COUNTS)):
                video = upload_file(url, token, clip)
                job_ids.append(
                    http("GET", f"{url}/videos/{video['id']}/jobs", token=token)["data"][0]["id"]
                )
            log(f"{len(job_ids)} queued jobs")
            layouts = {"one_job": lambda n: [job_ids[0]] * n, "many_jobs": lambda n: job_ids[:n]}
            for layout, pick in layouts.items():
                runs: dict[int, list[dict[str, float]]] = {n: [] for n in STREAM_COUNTS}
                for r in range(1, ROUNDS + 1):
                    for n in STREAM_COUNTS:
                        before = rss_kib(pid)
                        streams.open(url, token, pick(n))
                        time.sleep(1)
                        grown = rss_kib(pid) - before
                        reads_before = http("GET", f"{url}/bench/reads")
                        result = wrk(f"{url}/me", 5, WRK_CONNECTIONS, token=token)
                        reads = http("GET", f"{url}/bench/reads")
                        seconds = result["duration_us"] / 1e6
                        # Quiet: the streams alone, no wrk (what they cost at rest).
                        quiet_before = http("GET", f"{url}/bench/reads")
                        time.sleep(5)
                        quiet = http("GET", f"{url}/bench/reads")
                        figures = {
                            "rps": result["rps"],
                            "max_ms": result["max_us"] / 1000,
                            "p99_ms": result["p99_us"] / 1000,
                            "cpu_us": result["cpu_us_per_request"],
                            "watcher_reads_per_s_under_wrk": (
                                reads["watcher"] - reads_before["watcher"]
                            )
                            / seconds,
                            "watcher_reads_per_s_quiet": (
                                quiet["watcher"] - quiet_before["watcher"]
                            )
                            / 5,
                            # /bench/reads itself makes no statement; /me reads via fetch_row.
                            "statements_per_s_quiet": (
                                quiet["statements"] - quiet_before["statements"]
                            )
                            / 5,
                            "rss_growth_kib": grown,
                        }
                        runs[n].append(figures)
                        log(f"round {r} {layout} {n:>5} streams  {json.dumps(figures)}")
                        streams.close()
                        time.sleep(1)
                # RSS: the largest growth (the first round's: later rounds reuse the memory
                # the allocator kept); the rest: medians.
                results[layout] = {
                    n: {
                        key: (max if key == "rss_growth_kib" else statistics.median)(
                            f[key] for f in rs
                        )
                        for key in rs[0]
                    }
                    for n, rs in runs.items()
                }
    finally:
        streams.stop()
    return results


def bench_latency(tmp: Path, clip: Path) -> dict[str, float]:
    """(j): change -> event at the client, embedded worker."""
    from videos import upload_file

    env = {
        **server_env(f"sqlite:///{tmp / 'latency.db'}"),
        "MEDIA_ROOT": str(tmp / "latency-media"),
        "QUEUE_URL": f"sqlite:///{tmp / 'latency-queue.db'}",
        "MAX_ACTIVE_INGESTS": "100",
    }
    samples: list[float] = []
    streams = Streams()
    try:
        with servers.server("project", env) as url:
            token = register_and_login(url)
            time.sleep(1)
            for _ in range(50):
                video = upload_file(url, token, clip)
                job_id = http("GET", f"{url}/videos/{video['id']}/jobs", token=token)["data"][0][
                    "id"
                ]
                streams.open(url, token, [job_id])
                received = streams.received[-1]
                deadline = time.monotonic() + 60
                while not received or received[-1][1]["status"] not in ("succeeded", "failed"):
                    assert time.monotonic() < deadline, received
                    time.sleep(0.01)
                for at, job in received[1:]:  # the first is the job as it was at connection
                    if job["status"] == "running" and job["stage"] is None:
                        samples.append(at - parse_time(job["started_at"]))
                    elif job["status"] == "succeeded":
                        samples.append(at - parse_time(job["finished_at"]))
                streams.close()
                time.sleep(0.3)
    finally:
        streams.stop()
    ms = sorted(s * 1000 for s in samples)
    return {
        "samples": len(ms),
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[int(0.99 * (len(ms) - 1))],
        "max_ms": ms[-1],
    }


def main() -> None:
    if SERVER_PIN:  # the driver (the streams' client) and wrk on the other CPUs
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[1:]))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # 1,000 streams + wrk's connections, here and in the server (which inherits the limit).
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    sys.path.insert(0, str(ROOT))
    from tests.support import media

    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-events-", dir=RESULTS) as name:
        tmp = Path(name)
        clip = media.mp4(tmp / "clip.mp4")
        started = time.monotonic()
        streams = bench_streams(tmp, clip)
        latency = bench_latency(tmp, clip)
    log(f"events bench took {time.monotonic() - started:.0f} s")
    print(f"\n(h) /me with open event streams: wrk {WRK_CONNECTIONS} connections, 5 s, ", end="")
    print(f"medians of {ROUNDS} rounds")
    header = f"{'req/s':>9}{'ratio':>7}{'p99 ms':>8}{'max ms':>8}{'CPU us':>8}"
    print(f"    {'streams':>8}  {'layout':<10}{header}  RSS growth")
    for layout in ("one_job", "many_jobs"):
        base = streams[layout][0]["rps"]
        for n, f in streams[layout].items():
            row = f"{f['rps']:>9.0f}{f['rps'] / base:>7.3f}{f['p99_ms']:>8.1f}{f['max_ms']:>8.1f}"
            row += f"{f['cpu_us']:>8.0f}  {f['rss_growth_kib'] / 1024:.1f} MiB"
            print(f"    {n:>8}  {layout:<10}{row}")
    print("    target: ratio >= 0.9 at 1,000 streams")
    print(
        "\n(i) database reads for the streams per second (the watcher's query, as SQLite gets it)"
    )
    most = max(STREAM_COUNTS)
    for layout in ("one_job", "many_jobs"):
        f = streams[layout][most]
        print(
            f"    {most} streams, {layout:<10} {f['watcher_reads_per_s_quiet']:.1f}/s quiet, "
            f"{f['watcher_reads_per_s_under_wrk']:.1f}/s under wrk; all statements quiet "
            f"{f['statements_per_s_quiet']:.1f}/s  (target <= 5)"
        )
    print("\n(j) change -> event at the client, embedded worker (running and succeeded events)")
    p50, p99, top = latency["p50_ms"], latency["p99_ms"], latency["max_ms"]
    print(f"    {latency['samples']} samples: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {top:.1f} ms")
    (RESULTS / "events.json").write_text(json.dumps({"streams": streams, "latency": latency}))


if __name__ == "__main__":
    try:
        main()
    finally:
        servers.stop_all()
