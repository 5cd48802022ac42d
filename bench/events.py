"""Live progress at scale (issue 24), run by bench/run.sh after bench/transcribe.py (or alone:
.venv/bin/python bench/events.py).

(h) `/me` req/s and latency (wrk, 16 connections, 5 s) with 0, 100 and 1,000 open
    `GET /jobs/{id}/events` streams, all on one queued job and on 1,000 different queued jobs
    (EMBEDDED_WORKER=false, so the jobs stay queued). Two identical servers on one SQLite file,
    both pinned to CPU 0: "reference" never has a stream open, "measured" holds the streams;
    wrk alternates between them run by run (AB, BA, ...), so each ratio compares two runs
    seconds apart on the same machine state. The 0-stream row (measured without streams
    against the reference) is the noise floor. The measured server's RSS growth per 1,000
    streams, and its CPU use while the streams are open and no request comes.
(i) database reads made for the streams per second at 1,000 open streams, counted where SQLite
    receives them: the server is the project's app with a sqlite3 trace callback on each of its
    connections and one extra route that reports the count (`counting_app` below, bench only).
(j) from a job's change to its event at a client: three servers at once, uploads alternating
    between them, a stream opened on each ingest job; for the `running` and `succeeded` events,
    the client's receive time minus the job's `started_at` / `finished_at` (written by the
    worker just before its commit; same machine clock): the embedded worker; a standalone
    worker (`python -m app.worker`) with Redis (QUEUE_URL=redis://, the announcement path);
    and, for contrast, a standalone worker without Redis (the SQLite queue: only the tick).

The streams are held by this driver (asyncio sockets in a thread, on the CPUs the server is not
pinned to, beside wrk); the servers are pinned to CPU 0 as in the other measurements.
"""

import asyncio
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import servers
from servers import RESULTS, ROOT, SERVER_PIN, free_port, http, log, register_and_login, server_env

ROUNDS = int(os.environ.get("BENCH_EVENTS_ROUNDS", "4"))
LATENCY_UPLOADS = int(os.environ.get("BENCH_EVENTS_UPLOADS", "40"))  # per server in (j)
WRK_CONNECTIONS = 16
WRK_SECONDS = 5
JOBS = 1000
# (layout, streams): the 0-stream row first, the noise floor of the comparison.
CONFIGS = (
    ("none", 0),
    ("one_job", 100),
    ("one_job", 1000),
    ("many_jobs", 100),
    ("many_jobs", 1000),
)


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
def counting_server(env: dict[str, str], name: str = "events") -> Iterator[str]:
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
    with open(RESULTS / f"{name}-server.log", "ab") as logfile:
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
            servers.wait_for_health(process, name, url)
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


def reads(url: str) -> dict[str, int]:
    return http("GET", f"{url}/bench/reads")


def bench_streams(tmp: Path, clip: Path) -> dict[str, Any]:
    """(h) and (i): /me on the measured server with 0, 100, 1,000 streams on one job and on
    1,000 jobs, against the reference server without streams, run by run."""
    from load import cpu_seconds, wrk
    from videos import upload_file

    env = {
        **server_env(f"sqlite:///{tmp / 'events.db'}"),
        "MEDIA_ROOT": str(tmp / "media"),
        "QUEUE_URL": f"sqlite:///{tmp / 'queue.db'}",
        "EMBEDDED_WORKER": "false",  # every job stays queued
        "MAX_ACTIVE_INGESTS": str(JOBS * 2),
    }
    streams = Streams()
    results: dict[str, Any] = {}
    try:
        with (
            counting_server(env, "events-reference") as reference,
            counting_server(env, "events-measured") as measured,
        ):
            pid = servers.server_pid(measured)
            assert pid is not None
            token = register_and_login(measured)  # one database: valid on both servers
            job_ids = []
            for _ in range(JOBS):
                video = upload_file(measured, token, clip)
                job_ids.append(
                    http("GET", f"{measured}/videos/{video['id']}/jobs", token=token)["data"][0][
                        "id"
                    ]
                )
            log(f"{len(job_ids)} queued jobs")
            picks = {
                "none": lambda n: [],
                "one_job": lambda n: [job_ids[0]] * n,
                "many_jobs": lambda n: job_ids[:n],
            }
            for url in (reference, measured):  # warm both up the same way
                wrk(f"{url}/me", 2, WRK_CONNECTIONS, token=token)
            rss_before_streams = rss_kib(pid)
            for layout, n in CONFIGS:
                before = rss_kib(pid)
                if n:
                    streams.open(measured, token, picks[layout](n))
                time.sleep(1)
                held = rss_kib(pid)
                # At rest: the streams alone, no request (what they cost while nothing happens).
                quiet_reads, quiet_cpu = reads(measured), cpu_seconds(pid)
                time.sleep(5)
                quiet_reads_after, quiet_cpu_after = reads(measured), cpu_seconds(pid)
                rounds = []
                for r in range(ROUNDS):
                    order = ("reference", "measured") if r % 2 == 0 else ("measured", "reference")
                    pair: dict[str, dict[str, float]] = {}
                    for which in order:
                        url = reference if which == "reference" else measured
                        counted = reads(measured)
                        result = wrk(f"{url}/me", WRK_SECONDS, WRK_CONNECTIONS, token=token)
                        seconds = result["duration_us"] / 1e6
                        pair[which] = {
                            "rps": result["rps"],
                            "p50_ms": result["p50_us"] / 1000,
                            "p99_ms": result["p99_us"] / 1000,
                            "max_ms": result["max_us"] / 1000,
                            "cpu_us": result["cpu_us_per_request"],
                            "cpu_wait_s": result["run_queue_wait_s"],
                            # the measured server's watcher, whichever server wrk loads
                            "watcher_reads_per_s": (reads(measured)["watcher"] - counted["watcher"])
                            / seconds,
                        }
                    pair["ratio"] = {"rps": pair["measured"]["rps"] / pair["reference"]["rps"]}
                    rounds.append(pair)
                    log(
                        f"{layout:>9} {n:>5} streams round {r + 1}: "
                        f"measured {pair['measured']['rps']:.0f} req/s "
                        f"(max {pair['measured']['max_ms']:.0f} ms, "
                        f"{pair['measured']['cpu_us']:.0f} us), "
                        f"reference {pair['reference']['rps']:.0f} "
                        f"(max {pair['reference']['max_ms']:.0f} ms, "
                        f"{pair['reference']['cpu_us']:.0f} us): "
                        f"{pair['ratio']['rps']:.3f}"
                    )
                ratios = [pair["ratio"]["rps"] for pair in rounds]

                def median(which: str, key: str, rs: list[dict[str, Any]] = rounds) -> float:
                    return statistics.median(pair[which][key] for pair in rs)

                results[f"{layout}/{n}"] = {
                    "layout": layout,
                    "streams": n,
                    "ratio": statistics.median(ratios),
                    "ratios": ratios,
                    "rps": median("measured", "rps"),
                    "reference_rps": median("reference", "rps"),
                    "p99_ms": median("measured", "p99_ms"),
                    "reference_p99_ms": median("reference", "p99_ms"),
                    "max_ms": max(pair["measured"]["max_ms"] for pair in rounds),
                    "reference_max_ms": max(pair["reference"]["max_ms"] for pair in rounds),
                    "cpu_us": median("measured", "cpu_us"),
                    "reference_cpu_us": median("reference", "cpu_us"),
                    "cpu_wait_s": median("measured", "cpu_wait_s"),
                    "reference_cpu_wait_s": median("reference", "cpu_wait_s"),
                    "watcher_reads_per_s_under_wrk": median("measured", "watcher_reads_per_s"),
                    "watcher_reads_per_s_quiet": (
                        quiet_reads_after["watcher"] - quiet_reads["watcher"]
                    )
                    / 5,
                    # /bench/reads itself makes no statement; /me reads via fetch_row.
                    "statements_per_s_quiet": (
                        quiet_reads_after["statements"] - quiet_reads["statements"]
                    )
                    / 5,
                    "quiet_cpu_ms_per_s": (quiet_cpu_after - quiet_cpu) / 5 * 1000,
                    "rss_growth_kib": held - before,
                    "rss_above_first_kib": held - rss_before_streams,
                    "rounds": rounds,
                }
                streams.close()
                time.sleep(1)
    finally:
        streams.stop()
    return results


# ---- (j): change -> event -----------------------------------------------------------------------


@contextmanager
def redis_process(tmp: Path) -> Iterator[str | None]:
    """redis-server on a free port, no persistence, stopped by its process id; None if the
    Debian package is not installed (make bench installs it)."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        yield None
        return
    port = free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(tmp)]
    with open(RESULTS / "events-redis.log", "ab") as logfile:
        process = subprocess.Popen(
            [*servers.LOAD_PIN, *command],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    servers._running.append(process)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None and time.monotonic() < deadline, "redis-server"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        servers.stop(process)


@contextmanager
def worker_process(env: dict[str, str], name: str) -> Iterator[None]:
    """A standalone worker (python -m app.worker) on the driver's CPUs, stopped by its group."""
    with open(RESULTS / f"{name}.log", "ab") as logfile:
        process = subprocess.Popen(
            [*servers.LOAD_PIN, sys.executable, "-m", "app.worker"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    servers._running.append(process)
    try:
        yield
    finally:
        servers.stop(process)


def one_job_latency(streams: Streams, url: str, token: str, clip: Path) -> list[float]:
    """Upload, follow the ingest job to its end; seconds from each change to its event."""
    from videos import upload_file

    video = upload_file(url, token, clip)
    job_id = http("GET", f"{url}/videos/{video['id']}/jobs", token=token)["data"][0]["id"]
    streams.open(url, token, [job_id])
    received = streams.received[-1]
    deadline = time.monotonic() + 60
    while not received or received[-1][1]["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, received
        time.sleep(0.005)
    assert received[-1][1]["status"] == "succeeded", received[-1]
    samples = []
    for at, job in received[1:]:  # the first is the job as it was when the stream opened
        if job["status"] == "running" and job["stage"] is None:
            samples.append(at - parse_time(job["started_at"]))
        elif job["status"] == "succeeded":
            samples.append(at - parse_time(job["finished_at"]))
    streams.close()
    return samples


def bench_latency(tmp: Path, clip: Path) -> dict[str, dict[str, float]]:
    """(j): the three ways a change reaches a stream, uploads alternating between them."""

    def env_for(name: str, **extra: str) -> dict[str, str]:
        return {
            **server_env(f"sqlite:///{tmp / (name + '.db')}"),
            "MEDIA_ROOT": str(tmp / f"{name}-media"),
            "QUEUE_URL": f"sqlite:///{tmp / (name + '-queue.db')}",
            "MAX_ACTIVE_INGESTS": "100",
            **extra,
        }

    samples: dict[str, list[float]] = {}
    streams = Streams()
    try:
        with ExitStack() as stack:
            targets: dict[str, str] = {}
            targets["embedded"] = stack.enter_context(
                servers.server("events-embedded", env_for("embedded"))
            )
            redis_url = stack.enter_context(redis_process(tmp))
            if redis_url is None:
                log("redis-server is not installed: (j) without the Redis row (make redis)")
            else:
                env = env_for("redis", QUEUE_URL=redis_url, EMBEDDED_WORKER="false")
                targets["standalone_redis"] = stack.enter_context(
                    servers.server("events-redis", env)
                )
                stack.enter_context(worker_process(env, "events-redis-worker"))
            env = env_for("tick", EMBEDDED_WORKER="false")
            targets["standalone_tick"] = stack.enter_context(servers.server("events-tick", env))
            stack.enter_context(worker_process(env, "events-tick-worker"))
            tokens = {name: register_and_login(url) for name, url in targets.items()}
            for name, url in targets.items():  # the first job of each (worker start-up) untimed
                one_job_latency(streams, url, tokens[name], clip)
                samples[name] = []
            time.sleep(1)
            for _ in range(LATENCY_UPLOADS):
                for name, url in targets.items():
                    samples[name] += one_job_latency(streams, url, tokens[name], clip)
                    time.sleep(0.2)
    finally:
        streams.stop()
    figures = {}
    for name, values in samples.items():
        ms = sorted(value * 1000 for value in values)
        figures[name] = {
            "samples": len(ms),
            "p50_ms": statistics.median(ms),
            "p99_ms": ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))],
            "max_ms": ms[-1],
        }
    return figures


def main() -> None:
    if SERVER_PIN:  # the driver (the streams' client) and wrk on the other CPUs
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[1:]))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # 1,000 streams + wrk's connections, here and in the server (which inherits the limit).
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    sys.path.insert(0, str(ROOT))
    from tests.support import media

    RESULTS.mkdir(exist_ok=True)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-events-", dir=RESULTS) as name:
        tmp = Path(name)
        clip = media.mp4(tmp / "clip.mp4")
        started = time.monotonic()
        streams = bench_streams(tmp, clip)
        latency = bench_latency(tmp, clip)
    took = time.monotonic() - started
    load_after = os.getloadavg()
    log(f"events bench took {took:.0f} s")
    print(
        f"\n(h) /me with open event streams: wrk {WRK_CONNECTIONS} connections, {WRK_SECONDS} s; "
        f"measured (streams) vs reference (none), alternating, {ROUNDS} rounds, medians"
    )
    print(
        f"    {'layout':<10}{'streams':>8}{'req/s':>8}{'ref':>7}{'ratio':>7}  {'ratios':<25}"
        f"{'p99':>6}{'ref':>6}{'max':>6}{'ref':>6}{'CPU us':>8}{'ref':>5}"
    )
    for row in streams.values():
        ratios = ",".join(f"{r:.2f}" for r in row["ratios"])
        print(
            f"    {row['layout']:<10}{row['streams']:>8}{row['rps']:>8.0f}"
            f"{row['reference_rps']:>7.0f}{row['ratio']:>7.3f}  {ratios:<25}"
            f"{row['p99_ms']:>6.1f}{row['reference_p99_ms']:>6.1f}"
            f"{row['max_ms']:>6.0f}{row['reference_max_ms']:>6.0f}"
            f"{row['cpu_us']:>8.0f}{row['reference_cpu_us']:>5.0f}"
        )
    print("    (ms; max: the largest of the rounds) target: ratio >= 0.9 at 1,000 streams")
    print("\n    at rest (5 s, no request)  watcher reads/s  statements/s  CPU ms/s  RSS MiB")
    for row in streams.values():
        print(
            f"    {row['layout']:<10}{row['streams']:>6} streams"
            f"{row['watcher_reads_per_s_quiet']:>14.1f}{row['statements_per_s_quiet']:>14.1f}"
            f"{row['quiet_cpu_ms_per_s']:>10.1f}"
            f"  +{row['rss_growth_kib'] / 1024:.1f} (above the first: "
            f"{row['rss_above_first_kib'] / 1024:.1f})"
        )
    print(
        "\n(i) database reads for the streams per second (the watcher's query, as SQLite gets it)"
    )
    for key in ("one_job/1000", "many_jobs/1000"):
        row = streams[key]
        print(
            f"    {key:<15} {row['watcher_reads_per_s_quiet']:.1f}/s at rest, "
            f"{row['watcher_reads_per_s_under_wrk']:.1f}/s under wrk  (target <= 5)"
        )
    print("\n(j) change -> event at the client (running and succeeded events), ms")
    for name, f in latency.items():
        print(
            f"    {name:<17} {f['samples']:>4} samples: p50 {f['p50_ms']:7.1f}  "
            f"p99 {f['p99_ms']:7.1f}  max {f['max_ms']:7.1f}"
        )
    print("    target: p50 < 300 ms for the embedded worker and the standalone worker with Redis")
    print(
        f"\n    load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
        f"{took:.0f} s"
    )
    (RESULTS / "events.json").write_text(
        json.dumps(
            {
                "streams": streams,
                "latency": latency,
                "load": [load_before, load_after],
                "rounds": ROUNDS,
            }
        )
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        servers.stop_all()
