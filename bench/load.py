"""wrk runs against a server: one thread, on the CPUs the server is not pinned to, read through
wrk.lua's BENCH line. Any non-2xx answer or socket error aborts, so no figure is ever a rate of
401s."""

import json
import os
import subprocess
import time
from pathlib import Path

from servers import BENCH, LOAD_PIN, LOGIN_BODY, server_pid

WRK_LUA = BENCH / "wrk.lua"

# Seconds per wrk run; BENCH_TIME_SCALE=0.5 halves them for a quick look.
TIME_SCALE = float(os.environ.get("BENCH_TIME_SCALE", "1"))
RPS_SECONDS = 5 * TIME_SCALE
LOGIN_SECONDS = 6 * TIME_SCALE
UNDER_LOGIN_SECONDS = 8 * TIME_SCALE


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


def parse_wrk(output: str, what: str) -> dict[str, float]:
    """wrk.lua's BENCH line plus "rps"; raises if any request failed."""
    for line in output.splitlines():
        if line.startswith("BENCH "):
            result = json.loads(line[len("BENCH ") :])
            break
    else:
        raise RuntimeError(f"wrk printed no BENCH line:\n{output}")
    if result["non2xx"] or result["errors"]:
        raise RuntimeError(
            f"{what}: {result['non2xx']} non-2xx answers, "
            f"{result['errors']} socket errors; the measurement is not valid"
        )
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
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


def run_queue_wait(pid: int | None) -> float:
    """Seconds the process's main thread (uvicorn's event loop) has been runnable but waiting
    for a CPU (Linux /proc schedstat): high when other processes take the server's CPU."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


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
    pid = server_pid(url)
    before, waited = cpu_seconds(pid), run_queue_wait(pid)
    output = subprocess.run(
        command, env=wrk_env(token, body), capture_output=True, text=True, check=True
    ).stdout
    result = parse_wrk(output, url)
    result["cpu_us_per_request"] = (cpu_seconds(pid) - before) / result["requests"] * 1e6
    result["run_queue_wait_s"] = run_queue_wait(pid) - waited
    return result


def sequential_logins(base: str) -> dict[str, float]:
    """POST /auth/login over 1 connection; bcrypt makes each take a quarter second or so."""
    return wrk(f"{base}/auth/login", LOGIN_SECONDS, 1, body=LOGIN_BODY, timeout="30s")


def health_under_login(base: str) -> dict[str, float]:
    """/health latency (4 connections) while 16 connections loop on POST /auth/login."""
    seconds = UNDER_LOGIN_SECONDS
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
    parse_wrk(out, "login under load")  # only to fail on errors: the logins are the load
    # The logins wrk left in flight still run in the server's threads (bcrypt, a quarter second
    # each, up to 16 of them): wait them out, or they take the CPU of whatever runs next on it.
    wait_until_idle(server_pid(base))
    return health


def wait_until_idle(pid: int | None, timeout: float = 60.0) -> None:
    """Until the process used under 2% of a CPU over half a second."""
    deadline = time.monotonic() + timeout
    used = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if not now - used > 0.01:  # also stops at once when there is no figure (nan)
            return
        used = now
