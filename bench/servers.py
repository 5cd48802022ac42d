"""The servers under test: the project and bench/reference.py, each a uvicorn on a free port.

Every server runs in its own process group and is stopped by that id when its `server()` block
ends; `stop_all()` catches any left over after an interrupted stop (Ctrl-C / SIGTERM).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"

SECRET_KEY = "bench-secret-key-0123456789-0123456789-0123456789"
EMAIL = "bench@example.com"
PASSWORD = "bench password 123"
BCRYPT_ROUNDS = os.environ.get("BCRYPT_ROUNDS", "12")
LOGIN_BODY = json.dumps({"email": EMAIL, "password": PASSWORD})

_running: list[subprocess.Popen[bytes]] = []
_pid_by_base_url: dict[str, int] = {}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_plan() -> tuple[list[str], list[str], str]:
    """taskset prefixes for the server and for wrk, and a description."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return [], [], f"not pinned ({len(cpus)} CPU(s) usable)"
    server, load = str(cpus[0]), ",".join(str(c) for c in cpus[1:])
    plan = f"server on CPU {server}, wrk on CPU {load}"
    return ["taskset", "-c", server], ["taskset", "-c", load], plan


SERVER_PIN, LOAD_PIN, PIN_PLAN = cpu_plan()


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


def server_pid(url: str) -> int | None:
    """The process id of the server that serves `url` (any path under its base URL)."""
    return _pid_by_base_url.get("/".join(url.split("/", 3)[:3]))


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own group: --workers 2 forks children
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process in _running:
        _running.remove(process)


def stop_all() -> None:
    while _running:
        stop(_running[-1])


def wait_for_health(process: subprocess.Popen[bytes], kind: str, url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"{kind} server exited with {process.returncode}; "
                f"see {RESULTS / (kind + '-server.log')}"
            )
        try:
            http("GET", f"{url}/health")
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind} server did not answer /health in 60 s") from None
            time.sleep(0.1)


@contextmanager
def server(
    kind: str, env: dict[str, str], *, workers: int = 1, pin: bool = True, cwd: Path = ROOT
) -> Iterator[str]:
    """Start the project ("project", "baseline") or the reference ("reference"); yield its URL."""
    port = free_port()
    target = ["reference:app", "--app-dir", str(BENCH)] if kind == "reference" else ["app.main:app"]
    command = [
        *(SERVER_PIN if pin else []),
        sys.executable,
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
    _running.append(process)
    url = f"http://127.0.0.1:{port}"
    _pid_by_base_url[url] = process.pid
    try:
        wait_for_health(process, kind, url)
        yield url
    finally:
        stop(process)
        logfile.close()


def server_env(database_url: str) -> dict[str, str]:
    """The environment of every server; the reference reads SECRET_KEY, BCRYPT_ROUNDS and
    BENCH_PASSWORD from it, the project the rest."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "ENVIRONMENT": "production",
        "BCRYPT_ROUNDS": BCRYPT_ROUNDS,
        "MIGRATE_ON_STARTUP": "true",
        "BENCH_PASSWORD": PASSWORD,
    }


def register_and_login(url: str) -> str:
    """Register the bench user on a project server and return its access token."""
    http("POST", f"{url}/auth/register", LOGIN_BODY)
    return http("POST", f"{url}/auth/login", LOGIN_BODY)["access_token"]
