"""Project vs bare-FastAPI reference, measured with wrk on loopback. Run through bench/run.sh.

Default (about 3 minutes): 3 rounds, alternating project / reference within every measurement,
    (a) /health req/s, 64 connections
    (b) /me req/s with a valid token, 64 connections
    (c) POST /auth/login p50 latency, 1 connection (sequential)
    (d) /health p99 latency (4 connections) while 16 connections loop on POST /auth/login
and prints the medians and the ratios project/reference against the targets of issue 5.

--scale (about 4 more minutes): /me req/s with 1 vs 2 uvicorn workers, and /me and login
latency with 1k vs 100k rows in the users table.

Both servers run `python -m uvicorn ... --workers 1 --no-access-log --host 127.0.0.1` on free
ports. On a machine with 2+ CPUs the server is pinned to CPU 0 and wrk to the others (taskset).
Servers are started in their own process group and stopped by that id, also on Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
WRK_LUA = BENCH / "wrk.lua"
PYTHON = sys.executable

SECRET_KEY = "bench-secret-key-0123456789-0123456789-0123456789"
EMAIL = "bench@example.com"
PASSWORD = "bench password 123"
ROUNDS_ENV = os.environ.get("BCRYPT_ROUNDS", "12")
LOGIN_BODY = json.dumps({"email": EMAIL, "password": PASSWORD})

# Seconds per wrk run; BENCH_TIME_SCALE=0.5 halves them for a quick look.
SCALE = float(os.environ.get("BENCH_TIME_SCALE", "1"))
T_RPS = 5 * SCALE
T_LOGIN = 6 * SCALE
T_LOADED = 8 * SCALE

TARGETS = {  # metric: (comparison, bound) on project/reference
    "health_rps": (">=", 1.0),
    "me_rps": (">=", 0.6),
    "login_p50_ms": ("<=", 1.05),
    "health_p99_under_login_ms": ("<=", 1.2),
}
LABELS = {
    "health_rps": "(a) /health req/s, 64 conn",
    "me_rps": "(b) /me req/s, 64 conn",
    "login_p50_ms": "(c) login p50 ms, 1 conn",
    "health_p99_under_login_ms": "(d) /health p99 ms, 16 logins",
}

_children: list[subprocess.Popen[bytes]] = []
_pids: dict[str, int] = {}  # base URL -> server process id


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- CPU pinning


def cpu_plan() -> tuple[list[str], list[str], str]:
    """taskset prefixes for the server and for wrk, and a description."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return [], [], f"not pinned ({len(cpus)} CPU(s) usable)"
    server, load = str(cpus[0]), ",".join(str(c) for c in cpus[1:])
    plan = f"server on CPU {server}, wrk on CPU {load}"
    return ["taskset", "-c", server], ["taskset", "-c", load], plan


SERVER_PIN, LOAD_PIN, PIN_PLAN = cpu_plan()


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: str | None = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=body.encode() if body is not None else None, headers=headers, method=method
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own group: --workers 2 forks children
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process in _children:
        _children.remove(process)


@contextmanager
def server(
    kind: str, env: dict[str, str], *, workers: int = 1, pin: bool = True, cwd: Path = ROOT
) -> Iterator[str]:
    """Start the project ("project") or the reference ("reference"); yield its base URL."""
    port = free_port()
    target = ["reference:app", "--app-dir", str(BENCH)] if kind == "reference" else ["app.main:app"]
    command = [
        *(SERVER_PIN if pin else []),
        PYTHON,
        "-m",
        "uvicorn",
        *target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    RESULTS.mkdir(exist_ok=True)
    logfile = open(RESULTS / f"{kind}-server.log", "ab")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=logfile,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _children.append(process)
    url = f"http://127.0.0.1:{port}"
    _pids[url] = process.pid
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{kind} server exited with {process.returncode}; "
                    f"see {RESULTS / (kind + '-server.log')}"
                )
            try:
                http("GET", f"{url}/health")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{kind} server did not answer /health in 60 s") from None
                time.sleep(0.1)
        yield url
    finally:
        stop(process)
        logfile.close()


def server_env(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "ENVIRONMENT": "production",
        "BCRYPT_ROUNDS": ROUNDS_ENV,
        "MIGRATE_ON_STARTUP": "true",
        "BENCH_PASSWORD": PASSWORD,
    }


def register_and_login(url: str) -> str:
    http("POST", f"{url}/auth/register", json.dumps({"email": EMAIL, "password": PASSWORD}))
    return http("POST", f"{url}/auth/login", LOGIN_BODY)["access_token"]


# ---------------------------------------------------------------- wrk


def wrk_command(url: str, seconds: float, connections: int, timeout: str) -> list[str]:
    return [
        *LOAD_PIN,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout}",
        "-s",
        str(WRK_LUA),
        url,
    ]


def wrk_env(token: str | None, body: str | None) -> dict[str, str]:
    return {**os.environ, "BENCH_TOKEN": token or "", "BENCH_BODY": body or ""}


def parse_wrk(output: str) -> dict[str, float]:
    for line in output.splitlines():
        if line.startswith("BENCH "):
            raw = json.loads(line[len("BENCH ") :])
            raw["rps"] = raw["requests"] / (raw["duration_us"] / 1e6)
            return raw
    raise RuntimeError(f"wrk printed no BENCH line:\n{output}")


def check(result: dict[str, float], what: str) -> dict[str, float]:
    if result["non2xx"] or result["errors"]:
        raise RuntimeError(
            f"{what}: {result['non2xx']} non-2xx answers, "
            f"{result['errors']} socket errors; the measurement is not valid"
        )
    return result


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process and its threads so far (Linux /proc)."""
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(
    url: str,
    seconds: float,
    connections: int,
    *,
    token: str | None = None,
    body: str | None = None,
    timeout: str = "10s",
) -> dict[str, float]:
    """One wrk run; also the server's CPU microseconds per request (1-worker servers only)."""
    command = wrk_command(url, seconds, connections, timeout)
    pid = _pids.get("/".join(url.split("/", 3)[:3]))
    before = cpu_seconds(pid)
    output = subprocess.run(
        command, env=wrk_env(token, body), capture_output=True, text=True, check=True
    ).stdout
    result = check(parse_wrk(output), url)
    result["cpu_us_per_request"] = (cpu_seconds(pid) - before) / result["requests"] * 1e6
    return result


def health_under_login(base: str, seconds: float) -> dict[str, float]:
    """/health latency (4 connections) while 16 connections loop on POST /auth/login."""
    login_command = wrk_command(f"{base}/auth/login", seconds + 2, 16, "60s")
    login = subprocess.Popen(
        login_command,
        env=wrk_env(None, LOGIN_BODY),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1)  # let the 16 logins fill the server first
        health = wrk(f"{base}/health", seconds, 4)
        out, _ = login.communicate(timeout=seconds + 30)
    finally:
        if login.poll() is None:
            login.kill()
            login.wait()
    logins = check(parse_wrk(out), "login under load")
    return {**health, "login_rps": logins["rps"], "login_p50_us": logins["p50_us"]}


# ---------------------------------------------------------------- measurements


def measure(url: str, token: str, metric: str) -> tuple[float, float]:
    """The metric's value and the server's CPU microseconds per request of that run."""
    if metric == "health_rps":
        r = wrk(f"{url}/health", T_RPS, 64)
        return r["rps"], r["cpu_us_per_request"]
    if metric == "me_rps":
        r = wrk(f"{url}/me", T_RPS, 64, token=token)
        return r["rps"], r["cpu_us_per_request"]
    if metric == "login_p50_ms":
        r = wrk(f"{url}/auth/login", T_LOGIN, 1, body=LOGIN_BODY, timeout="30s")
        return r["p50_us"] / 1e3, r["cpu_us_per_request"]
    if metric == "health_p99_under_login_ms":
        return health_under_login(url, T_LOADED)["p99_us"] / 1e3, float("nan")
    raise ValueError(metric)


def warm_up(url: str, token: str) -> None:
    wrk(f"{url}/health", 1, 16)
    wrk(f"{url}/me", 1, 16, token=token)
    http("POST", f"{url}/auth/login", LOGIN_BODY)


def compare(rounds: int, tmp: Path, metrics: list[str], baseline: Path | None) -> dict[str, Any]:
    """Project vs reference; with `baseline`, vs the project in that other checkout instead."""
    env = server_env(f"sqlite:///{tmp / 'project.db'}")
    other = (
        server(
            "baseline", {**env, "DATABASE_URL": f"sqlite:///{tmp / 'baseline.db'}"}, cwd=baseline
        )
        if baseline
        else server("reference", env)
    )
    values: dict[str, dict[str, list[float]]] = {
        m: {"project": [], "reference": []} for m in metrics
    }
    cpu: dict[str, dict[str, list[float]]] = {m: {"project": [], "reference": []} for m in metrics}
    with server("project", env) as project, other as reference:
        token = register_and_login(project)
        if baseline:
            register_and_login(reference)  # same user id 1 and same key: the token fits both
        http("GET", f"{reference}/me", token=token)  # the reference accepts the same token
        urls = {"project": project, "reference": reference}
        for url in urls.values():
            warm_up(url, token)
        for r in range(1, rounds + 1):
            for metric in metrics:
                for kind in ("project", "reference"):  # A B, A B, ...
                    value, cpu_us = measure(urls[kind], token, metric)
                    values[metric][kind].append(value)
                    cpu[metric][kind].append(cpu_us)
                    log(
                        f"round {r}  {metric:<26} {kind:<9} {value:10.2f}"
                        f"   server CPU {cpu_us:8.0f} us/request"
                    )
    table = {}
    for metric, by_kind in values.items():
        p, ref = statistics.median(by_kind["project"]), statistics.median(by_kind["reference"])
        op, bound = TARGETS[metric]
        ratio = p / ref
        met = ratio >= bound if op == ">=" else ratio <= bound
        table[metric] = {
            "project": p,
            "reference": ref,
            "ratio": ratio,
            "target": f"{op} {bound}",
            "met": met,
            "rounds": by_kind,
            "cpu_us_per_request": {k: statistics.median(v) for k, v in cpu[metric].items()},
        }
    return table


def print_table(table: dict[str, Any], rounds: int) -> None:
    print(f"\nmedians of {rounds} rounds, {PIN_PLAN}, BCRYPT_ROUNDS={ROUNDS_ENV}")
    print(
        f"{'measurement':<32}{'project':>10}{'reference':>11}{'ratio':>8}  {'target':<14}"
        "server CPU us/req (project / reference)"
    )
    for metric, row in table.items():
        verdict = "met" if row["met"] else "MISSED"
        cpu = row["cpu_us_per_request"]
        measured = not math.isnan(cpu["project"])
        cpu_text = f"{cpu['project']:.0f} / {cpu['reference']:.0f}" if measured else ""
        print(
            f"{LABELS[metric]:<32}{row['project']:>10.1f}{row['reference']:>11.1f}"
            f"{row['ratio']:>8.3f}  {row['target']:<7} {verdict:<6} {cpu_text}"
        )


# ---------------------------------------------------------------- scale mode


def insert_users(db_path: Path, count: int, password_hash: str, start: int) -> None:
    """Add `count` users directly with SQL (one transaction), e-mails user<start+i>@example.com."""
    connection = sqlite3.connect(db_path, timeout=30)
    with connection:
        connection.executemany(
            "INSERT INTO users (email, password_hash, created_at, is_active, credits) "
            "VALUES (?, ?, '2026-01-01 00:00:00.000000', 1, 0)",
            ((f"user{i}@example.com", password_hash) for i in range(start, start + count)),
        )
    connection.close()


def scale(tmp: Path, rounds: int) -> dict[str, Any]:
    """All servers of a question up at once and measured in alternation, round after round."""
    out: dict[str, Any] = {}
    with ExitStack() as stack:
        # 1 vs 2 workers: the servers are not pinned, so a second worker can use a second CPU
        # (wrk stays on its CPU and shares it). Both projects use one database file.
        env = server_env(f"sqlite:///{tmp / 'scale-workers.db'}")
        urls = {
            (kind, workers): stack.enter_context(server(kind, env, workers=workers, pin=False))
            for kind in ("project", "reference")
            for workers in (1, 2)
        }
        token = register_and_login(urls["project", 1])
        runs: dict[tuple[str, int], list[float]] = {key: [] for key in urls}
        for url in urls.values():
            wrk(f"{url}/me", 2, 64, token=token)
        for r in range(1, rounds + 1):
            for key, url in urls.items():
                runs[key].append(wrk(f"{url}/me", T_RPS, 64, token=token)["rps"])
                log(f"scale round {r}  /me req/s {key[0]:<9} workers={key[1]}: {runs[key][-1]:.0f}")
        for (kind, workers), values in runs.items():
            out[f"me_rps_{kind}_{workers}w"] = statistics.median(values)
    # 1k vs 100k users: pinned like the default run, the project only, the bench user is row 1
    # and the others are inserted with SQL and one precomputed hash.
    from passlib.context import CryptContext

    password_hash = CryptContext(schemes=["bcrypt"], bcrypt__rounds=int(ROUNDS_ENV)).hash(
        "not the bench password"
    )
    sizes = (1_000, 100_000)
    with ExitStack() as stack:
        urls_by_size, tokens = {}, {}
        for size in sizes:
            db = tmp / f"users{size}.db"
            url = stack.enter_context(server("project", server_env(f"sqlite:///{db}")))
            tokens[size] = register_and_login(url)
            insert_users(db, size - 1, password_hash, 0)
            with closing(sqlite3.connect(db)) as connection:
                rows = connection.execute("SELECT count(*) FROM users").fetchone()[0]
            out[f"users_{size}"] = {"rows": rows}
            urls_by_size[size] = url
            wrk(f"{url}/me", 2, 64, token=tokens[size])
        samples: dict[int, dict[str, list[float]]] = {
            size: {"me_rps_64c": [], "me_p50_ms_1c": [], "login_p50_ms_1c": []} for size in sizes
        }
        for r in range(1, rounds + 1):
            for size, url in urls_by_size.items():
                token, got = tokens[size], samples[size]
                got["me_rps_64c"].append(wrk(f"{url}/me", T_RPS, 64, token=token)["rps"])
                got["me_p50_ms_1c"].append(wrk(f"{url}/me", T_RPS, 1, token=token)["p50_us"] / 1e3)
                login = wrk(f"{url}/auth/login", T_LOGIN, 1, body=LOGIN_BODY, timeout="30s")
                got["login_p50_ms_1c"].append(login["p50_us"] / 1e3)
                last = {k: round(v[-1], 2) for k, v in got.items()}
                log(f"scale round {r}  users={size}: {last}")
        for size in sizes:
            out[f"users_{size}"].update({k: statistics.median(v) for k, v in samples[size].items()})
    return out


def print_scale(out: dict[str, Any], rounds: int) -> None:
    print(f"\nscale (medians of {rounds} alternating rounds)")
    print("/me req/s, 64 conn, not pinned   1 worker  2 workers")
    for kind in ("project", "reference"):
        print(f"  {kind:<30}{out[f'me_rps_{kind}_1w']:>9.0f}{out[f'me_rps_{kind}_2w']:>11.0f}")
    print(f"project, users table            {'1k rows':>9}{'100k rows':>11}")
    for key, label in (
        ("me_rps_64c", "/me req/s, 64 conn"),
        ("me_p50_ms_1c", "/me p50 ms, 1 conn"),
        ("login_p50_ms_1c", "login p50 ms, 1 conn"),
    ):
        print(f"  {label:<30}{out['users_1000'][key]:>9.2f}{out['users_100000'][key]:>11.2f}")


# ---------------------------------------------------------------- main


def machine() -> dict[str, str]:
    def run(*command: str) -> str:
        try:
            return subprocess.run(
                command, capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:
            return ""

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": run("nproc"),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in run("lscpu").splitlines()
                if line.startswith("Model name")
            ),
            platform.processor(),
        ),
        "python": platform.python_version(),
        "wrk": run("wrk", "-v").splitlines()[0] if shutil.which("wrk") else "",
        "git": run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
        "pinning": PIN_PLAN,
    }


def main() -> int:
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
    args = parser.parse_args()
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
        while _children:
            stop(_children[-1])
    result["seconds"] = round(time.monotonic() - started)
    print(
        f"\n{info['date']}  nproc={info['nproc']}  {info['cpu']}  Python {info['python']}  "
        f"git {info['git']}  ({result['seconds']} s)"
    )
    if "compare" in result:
        print_table(result["compare"], args.rounds)
    if "scale" in result:
        print_scale(result["scale"], args.rounds)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nfull results: {path.relative_to(ROOT)}")
    missed = [m for m, row in result.get("compare", {}).items() if not row["met"]]
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
