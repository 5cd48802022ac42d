"""--scale: /me with 1 vs 2 uvicorn workers, and the project with 1k vs 100k users.

All servers of a question are up at once and measured in alternation, round after round.
"""

import sqlite3
import statistics
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

from load import RPS_SECONDS, sequential_logins, wrk
from passlib.context import CryptContext
from servers import BCRYPT_ROUNDS, log, register_and_login, server, server_env, server_pid

USER_COUNTS = (1_000, 100_000)


def add_users(db_path: Path, count: int, password_hash: str) -> int:
    """Add `count` users with SQL in one transaction; return the rows now in `users`."""
    with closing(sqlite3.connect(db_path, timeout=30)) as connection:
        with connection:
            connection.executemany(
                "INSERT INTO users (email, password_hash, created_at, is_active, credits) "
                "VALUES (?, ?, '2026-01-01 00:00:00.000000', 1, 0)",
                ((f"user{i}@example.com", password_hash) for i in range(count)),
            )
        return connection.execute("SELECT count(*) FROM users").fetchone()[0]


def scheduling(server_pid: int | None) -> dict[int, tuple[float, float]]:
    """Per uvicorn worker process (the server's children): seconds on a CPU and seconds
    runnable but waiting for one, of its main thread (the event loop), from /proc schedstat."""
    if server_pid is None:
        return {}
    try:
        children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
        found = {}
        for child in map(int, children):
            on_cpu, waiting, _slices = Path(f"/proc/{child}/schedstat").read_text().split()
            found[child] = (int(on_cpu) / 1e9, int(waiting) / 1e9)
    except OSError:
        return {}
    return found


def me_rps_by_workers(tmp: Path, rounds: int) -> dict[str, Any]:
    """The servers are not pinned, so a second worker can use a second CPU (wrk stays on its
    CPU and shares it). The projects share one database file.

    For the 2-worker servers each run also records, per worker, the seconds its event loop ran
    and the seconds it was runnable but waited for a CPU: a worker that got little CPU in a
    run was either idle (no requests for it) or descheduled (other processes had the CPUs),
    and the wait tells which."""
    out: dict[str, Any] = {"workers_2_scheduling": []}
    with ExitStack() as stack:
        env = {
            **server_env(f"sqlite:///{tmp / 'scale-workers.db'}"),
            "QUEUE_URL": f"sqlite:///{tmp / 'scale-workers-queue.db'}",
            "MEDIA_ROOT": str(tmp / "scale-workers-media"),
        }
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
                before = scheduling(server_pid(url))
                runs[key].append(wrk(f"{url}/me", RPS_SECONDS, 64, token=token)["rps"])
                after = scheduling(server_pid(url))
                per_worker = [
                    (round(after[p][0] - cpu, 2), round(after[p][1] - wait, 2))
                    for p, (cpu, wait) in before.items()
                    if p in after
                ]
                detail = ""
                if key[1] == 2:
                    out["workers_2_scheduling"].append(
                        {"round": r, "kind": key[0], "rps": runs[key][-1], "cpu_wait_s": per_worker}
                    )
                    detail = "  per worker (CPU s, waiting for a CPU s): " + ", ".join(
                        f"({cpu}, {wait})" for cpu, wait in per_worker
                    )
                log(
                    f"scale round {r}  /me req/s {key[0]:<9} workers={key[1]}: "
                    f"{runs[key][-1]:.0f}{detail}"
                )
        for (kind, workers), values in runs.items():
            out[f"me_rps_{kind}_{workers}w"] = statistics.median(values)
    return out


def project_by_user_count(tmp: Path, rounds: int) -> dict[str, dict[str, float]]:
    """Pinned like the default run, the project only; the bench user is row 1, the others get
    one precomputed hash."""
    password_hash = CryptContext(schemes=["bcrypt"], bcrypt__rounds=int(BCRYPT_ROUNDS)).hash(
        "not the bench password"
    )
    out: dict[str, dict[str, float]] = {}
    with ExitStack() as stack:
        urls, tokens = {}, {}
        for size in USER_COUNTS:
            db = tmp / f"users{size}.db"
            env = {
                **server_env(f"sqlite:///{db}"),
                "QUEUE_URL": f"sqlite:///{tmp / f'users{size}-queue.db'}",
                "MEDIA_ROOT": str(tmp / f"users{size}-media"),
            }
            url = stack.enter_context(server("project", env))
            tokens[size] = register_and_login(url)
            out[f"users_{size}"] = {"rows": add_users(db, size - 1, password_hash)}
            urls[size] = url
            wrk(f"{url}/me", 2, 64, token=tokens[size])
        samples: dict[int, dict[str, list[float]]] = {
            size: {"me_rps_64c": [], "me_p50_ms_1c": [], "login_p50_ms_1c": []}
            for size in USER_COUNTS
        }
        for r in range(1, rounds + 1):
            for size, url in urls.items():
                token, got = tokens[size], samples[size]
                got["me_rps_64c"].append(wrk(f"{url}/me", RPS_SECONDS, 64, token=token)["rps"])
                me_1c = wrk(f"{url}/me", RPS_SECONDS, 1, token=token)
                got["me_p50_ms_1c"].append(me_1c["p50_us"] / 1e3)
                got["login_p50_ms_1c"].append(sequential_logins(url)["p50_us"] / 1e3)
                last = {k: round(v[-1], 2) for k, v in got.items()}
                log(f"scale round {r}  users={size}: {last}")
    for size in USER_COUNTS:
        out[f"users_{size}"].update({k: statistics.median(v) for k, v in samples[size].items()})
    return out


def scale(tmp: Path, rounds: int) -> dict[str, Any]:
    return {**me_rps_by_workers(tmp, rounds), **project_by_user_count(tmp, rounds)}
