"""Project vs bare-FastAPI reference, measured with wrk on loopback. Run through bench/run.sh.

Default (about 3 minutes): 3 rounds, alternating project / reference within every measurement,
    (a) /health req/s, 64 connections
    (b) /me req/s with a valid token, 64 connections, and the same for two Phase 2 reads:
        (b2) GET /videos/{id} and (b3) GET /jobs/{id}; each also held to <= 1.3x the
        reference's server CPU per request
    (c) POST /auth/login p50 latency, 1 connection (sequential)
    (d) /health p99 latency (4 connections) while 16 connections loop on POST /auth/login
and prints the medians and the ratios project/reference against the targets of issue 5.

--scale (about 3 more minutes, scale.py): /me req/s with 1 vs 2 uvicorn workers, and /me and
login latency with 1k vs 100k rows in the users table.

Servers: servers.py; wrk: load.py; targets, tables and the results file: report.py.
"""

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from load import RPS_SECONDS, health_under_login, sequential_logins, wrk
from report import TARGETS, Rounds, machine, missed_targets, print_report, summarise, write_results
from scale import scale
from servers import LOGIN_BODY, ROOT, http, log, register_and_login, server, server_env, stop_all
from videos import media, upload_file, wait_job

# The authenticated reads, 64 connections each: /me and one of each Phase 2 kind (the bench
# user's first video and its ingest job, see bench_video()).
READS = {"me_rps": "/me", "video_rps": "/videos/1", "job_rps": "/jobs/1"}


def measure(url: str, token: str, metric: str) -> tuple[float, dict[str, float]]:
    """The metric's value, and the server's CPU microseconds per request of that run and the
    seconds its event loop waited for a CPU (other processes on it)."""
    if metric == "health_rps":
        r = wrk(f"{url}/health", RPS_SECONDS, 64)
        value = r["rps"]
    elif metric in READS:
        r = wrk(f"{url}{READS[metric]}", RPS_SECONDS, 64, token=token)
        value = r["rps"]
    elif metric == "login_p50_ms":
        r = sequential_logins(url)
        value = r["p50_us"] / 1e3
    elif metric == "health_p99_under_login_ms":
        r = health_under_login(url)
        r["cpu_us_per_request"] = float("nan")  # two wrk runs: no one request count
        value = r["p99_us"] / 1e3
    else:
        raise ValueError(metric)
    return value, {"cpu": r["cpu_us_per_request"], "wait": r["run_queue_wait_s"]}


def warm_up(url: str, token: str) -> None:
    wrk(f"{url}/health", 1, 16)
    for path in READS.values():
        wrk(f"{url}{path}", 1, 16, token=token)
    http("POST", f"{url}/auth/login", LOGIN_BODY)


def bench_video(url: str, token: str, clip: Path) -> None:
    """Upload the clip as the bench user's video 1 and wait for its ingest job 1 to succeed, so
    (b2) and (b3) read a ready video and a finished job, and the worker is idle again."""
    video = upload_file(url, token, clip)
    job = wait_job(url, token, video["id"])
    assert (video["id"], job["id"], job["status"]) == (1, 1, "succeeded"), (video, job)


def compare(rounds: int, tmp: Path, metrics: list[str], baseline: Path | None) -> dict[str, Any]:
    """Project vs reference; with `baseline`, vs the project in that other checkout instead."""

    def files(name: str) -> dict[str, str]:  # a server's database, queue and media, in tmp
        return {
            "DATABASE_URL": f"sqlite:///{tmp / (name + '.db')}",
            "QUEUE_URL": f"sqlite:///{tmp / (name + '-queue.db')}",
            "MEDIA_ROOT": str(tmp / f"{name}-media"),
        }

    env = {**server_env(""), **files("project")}
    other = (
        server("baseline", {**env, **files("baseline")}, cwd=baseline)
        if baseline
        else server("reference", env)
    )
    values: Rounds = {m: {"project": [], "reference": []} for m in metrics}
    cpu: Rounds = {m: {"project": [], "reference": []} for m in metrics}
    waits: Rounds = {m: {"project": [], "reference": []} for m in metrics}
    with server("project", env) as project, other as reference:
        token = register_and_login(project)
        clip = media.mp4(tmp / "clip.mp4")
        bench_video(project, token, clip)
        if baseline:
            register_and_login(reference)  # same user id 1 and same key: the token fits both
            bench_video(reference, token, clip)
        for path in READS.values():  # the reference takes the token and answers alike
            ours, theirs = (
                http("GET", f"{url}{path}", token=token) for url in (project, reference)
            )
            assert sorted(ours) == sorted(theirs), (path, ours, theirs)
        urls = {"project": project, "reference": reference}
        for url in urls.values():
            warm_up(url, token)
        for r in range(1, rounds + 1):
            for metric in metrics:
                for kind in ("project", "reference"):  # A B, A B, ...
                    value, seen = measure(urls[kind], token, metric)
                    values[metric][kind].append(value)
                    cpu[metric][kind].append(seen["cpu"])
                    waits[metric][kind].append(seen["wait"])
                    log(
                        f"round {r}  {metric:<26} {kind:<9} {value:10.2f}"
                        f"   server CPU {seen['cpu']:8.0f} us/request,"
                        f" waited {seen['wait']:5.2f} s for a CPU"
                    )
    table = summarise(values, cpu)
    for metric, row in table.items():
        row["run_queue_wait_s"] = waits[metric]
    return table


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", action="store_true", help="also run the scale measurements")
    parser.add_argument("--scale-only", action="store_true", help="only the scale measurements")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(TARGETS),
        default=list(TARGETS),
        help="measure only these (for investigations)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="compare against the project in another checkout (e.g. a git "
        "worktree of an older commit) instead of bench/reference.py",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        log("wrk is not installed: apt-get update && apt-get install -y wrk")
        return 2

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    info = machine()
    log(f"bench: {info}")
    result: dict[str, Any] = {"machine": info}
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            if not args.scale_only:
                result["compare"] = compare(args.rounds, Path(tmp), args.only, args.baseline)
            if args.scale or args.scale_only:
                result["scale"] = scale(Path(tmp), args.rounds)
    finally:
        stop_all()  # the server() blocks stop their servers; this catches an interrupted stop
    result["seconds"] = round(time.monotonic() - started)
    print_report(result, args.rounds)
    path = write_results(result)
    print(f"\nfull results: {path.relative_to(ROOT)}")
    return 1 if (args.strict and missed_targets(result)) else 0


if __name__ == "__main__":
    sys.exit(main())
