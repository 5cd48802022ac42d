"""The targets, the printed tables and bench/results/<UTC time>.json."""

import datetime as dt
import json
import math
import platform
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

from servers import BCRYPT_ROUNDS, PIN_PLAN, RESULTS, ROOT

# metric: (table label, comparison, bound on project/reference, bound on the server's CPU per
# request project/reference or None). Issue 15: an authenticated request costs little more
# than its JWT check.
TARGETS = {
    "health_rps": ("(a) /health req/s, 64 conn", ">=", 1.0, None),
    "me_rps": ("(b) /me req/s, 64 conn", ">=", 0.75, 1.3),
    "video_rps": ("(b2) GET /videos/{id} req/s", ">=", 0.75, 1.3),
    "job_rps": ("(b3) GET /jobs/{id} req/s", ">=", 0.75, 1.3),
    "login_p50_ms": ("(c) login p50 ms, 1 conn", "<=", 1.05, None),
    "health_p99_under_login_ms": ("(d) /health p99 ms, 16 logins", "<=", 1.2, None),
}

Rounds = dict[str, dict[str, list[float]]]  # metric -> "project"/"reference" -> one per round


def summarise(values: Rounds, cpu: Rounds) -> dict[str, Any]:
    """Medians, the ratio project/reference and its verdict, per metric."""
    table = {}
    for metric, by_kind in values.items():
        p, ref = statistics.median(by_kind["project"]), statistics.median(by_kind["reference"])
        _label, op, bound, cpu_bound = TARGETS[metric]
        ratio = p / ref
        met = ratio >= bound if op == ">=" else ratio <= bound
        cpu_us = {k: statistics.median(v) for k, v in cpu[metric].items()}
        cpu_ratio = cpu_us["project"] / cpu_us["reference"]
        if cpu_bound is not None:
            met = met and cpu_ratio <= cpu_bound
        table[metric] = {
            "project": p,
            "reference": ref,
            "ratio": ratio,
            "target": f"{op} {bound}",
            "met": met,
            "rounds": by_kind,
            "cpu_us_per_request": cpu_us,
            "cpu_ratio": cpu_ratio,
            "cpu_target": None if cpu_bound is None else f"<= {cpu_bound}",
        }
    return table


def missed_targets(result: dict[str, Any]) -> list[str]:
    return [m for m, row in result.get("compare", {}).items() if not row["met"]]


def print_table(table: dict[str, Any], rounds: int) -> None:
    print(f"\nmedians of {rounds} rounds, {PIN_PLAN}, BCRYPT_ROUNDS={BCRYPT_ROUNDS}")
    print(
        f"{'measurement':<32}{'project':>10}{'reference':>11}{'ratio':>8}  {'target':<14}"
        "server CPU us/req (project / reference = ratio, target)"
    )
    for metric, row in table.items():
        verdict = "met" if row["met"] else "MISSED"
        cpu = row["cpu_us_per_request"]
        measured = not math.isnan(cpu["project"])
        cpu_text = (
            f"{cpu['project']:.0f} / {cpu['reference']:.0f} = {row['cpu_ratio']:.2f}"
            if measured
            else ""
        )
        if row["cpu_target"]:
            cpu_text += f", {row['cpu_target']}"
        print(
            f"{TARGETS[metric][0]:<32}{row['project']:>10.1f}{row['reference']:>11.1f}"
            f"{row['ratio']:>8.3f}  {row['target']:<7} {verdict:<6} {cpu_text}"
        )


def print_scale(out: dict[str, Any], rounds: int) -> None:
    print(f"\nscale (medians of {rounds} alternating rounds)")
    print("/me req/s, 64 conn, not pinned   1 worker  2 workers")
    for kind in ("project", "reference"):
        print(f"  {kind:<30}{out[f'me_rps_{kind}_1w']:>9.0f}{out[f'me_rps_{kind}_2w']:>11.0f}")
    print("  2 workers, each run: req/s, and per worker (s on a CPU, s runnable but waiting)")
    for run in out.get("workers_2_scheduling", []):
        workers = "  ".join(f"({cpu:.2f}, {wait:.2f})" for cpu, wait in run["cpu_wait_s"])
        print(f"    round {run['round']} {run['kind']:<10}{run['rps']:>7.0f}   {workers}")
    print(f"project, users table            {'1k rows':>9}{'100k rows':>11}")
    for key, label in (
        ("me_rps_64c", "/me req/s, 64 conn"),
        ("me_p50_ms_1c", "/me p50 ms, 1 conn"),
        ("login_p50_ms_1c", "login p50 ms, 1 conn"),
    ):
        print(f"  {label:<30}{out['users_1000'][key]:>9.2f}{out['users_100000'][key]:>11.2f}")


def print_report(result: dict[str, Any], rounds: int) -> None:
    info = result["machine"]
    print(
        f"\n{info['date']}  nproc={info['nproc']}  {info['cpu']}  Python {info['python']}  "
        f"git {info['git']}  ({result['seconds']} s)"
    )
    if "compare" in result:
        print_table(result["compare"], rounds)
    if "scale" in result:
        print_scale(result["scale"], rounds)


def write_results(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


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
