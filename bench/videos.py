"""Phase 2 figures, run by bench/run.sh after the auth comparison (or alone: bench/videos.py).

(e) upload of UPLOAD_MIB (1024) MiB over loopback, project vs reference.py's bare Starlette route
    that streams request.stream() to a file, alternating, 3 rounds: throughput, the server's RSS
    growth during the upload (sampled every 20 ms) and the bytes it wrote (/proc/<pid>/io:
    `wchar` = bytes passed to write(), `write_bytes` = bytes sent to the block layer), as ratios
    of the file's size.
(f) the embedded queue: 50 uploads of a 2-second clip, one at a time onto an idle worker: time
    from the job's creation (the 201) to `running`, p50 and p99 (server timestamps).
(g) probe + thumbnail of a 60-second 1080p H.264 clip: the ingest job's run time, and the
    child-process start alone (the same steps on a 2-second 320x240 clip), to say what bounds it.
"""

import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from servers import ROOT, SERVER_PIN, http, log, register_and_login, server, server_env, stop_all

sys.path.insert(0, str(ROOT))
from tests.support import media  # noqa: E402 - the test media generator

UPLOAD_MIB = int(os.environ.get("BENCH_UPLOAD_MIB", "1024"))
ROUNDS = 3
BOUNDARY = "benchboundary0123456789"


def proc(pid: int, name: str) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.split() and value.split()[0].isdigit():
            values[key.strip()] = int(value.split()[0])
    return values


class RssSampler:
    """The highest RSS (KiB) of a process while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, proc(self.pid, "status")["VmRSS"])

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def send_upload(url: str, path: str, token: str | None, head: bytes, size: int) -> dict:
    """POST a multipart body of `size` file bytes (`head`, then zeros) on a raw socket, in
    1 MiB sends, so the client costs little CPU; returns the JSON answer."""
    prologue = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode() + head
    epilogue = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(prologue) + (size - len(head)) + len(epilogue)
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        + (f"Authorization: Bearer {token}\r\n" if token else "")
        + "Connection: close\r\n\r\n"
    ).encode()
    chunk = bytes(1024 * 1024)
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(request + prologue)
        left = size - len(head)
        while left > 0:
            connection.sendall(chunk[: min(left, len(chunk))])
            left -= len(chunk)
        connection.sendall(epilogue)
        answer = b""
        while data := connection.recv(65536):
            answer += data
    status = answer.split(b" ", 2)[1]
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert status == b"201", answer[:500]
    return json.loads(body)


def upload_round(kind: str, url: str, token: str | None, pid: int, head: bytes) -> dict[str, float]:
    size = UPLOAD_MIB * 1024 * 1024
    io_before, rss_before = proc(pid, "io"), proc(pid, "status")["VmRSS"]
    with RssSampler(pid) as rss:
        started = time.perf_counter()
        path = "/videos/upload" if kind == "project" else "/upload"
        answer = send_upload(url, path, token, head, size)
        elapsed = time.perf_counter() - started
    io_after = proc(pid, "io")
    if kind == "project":
        assert answer["size_bytes"] == size, answer
    return {
        "mib_per_s": UPLOAD_MIB / elapsed,
        "rss_growth_mib": max(rss.peak - rss_before, 0) / 1024,
        "wchar_ratio": (io_after["wchar"] - io_before["wchar"]) / size,
        "write_bytes_ratio": (io_after["write_bytes"] - io_before["write_bytes"]) / size,
    }


def delete_video(url: str, token: str, video_id: int) -> None:
    import urllib.request

    request = urllib.request.Request(
        f"{url}/videos/{video_id}", method="DELETE", headers={"Authorization": f"Bearer {token}"}
    )
    urllib.request.urlopen(request, timeout=30).close()


def bench_upload(tmp: Path) -> dict[str, Any]:
    head = media.mp4(tmp / "head.mp4").read_bytes()[:4096]  # real MP4 first bytes, then zeros
    env = {
        **server_env(f"sqlite:///{tmp / 'upload.db'}"),
        "MEDIA_ROOT": str(tmp / "media"),
        "QUEUE_URL": f"sqlite:///{tmp / 'queue.db'}",
        "EMBEDDED_WORKER": "false",  # the upload alone; no worker reads the file meanwhile
        "MAX_UPLOAD_BYTES": str(4 * 1024**3),
        "MAX_ACTIVE_INGESTS": "100",
        "BENCH_UPLOAD_DIR": str(tmp),
    }
    from servers import server_pid

    results: dict[str, list[dict[str, float]]] = {"project": [], "reference": []}
    with server("project", env) as project, server("reference", env) as reference:
        token = register_and_login(project)
        urls = {"project": project, "reference": reference}
        for r in range(1, ROUNDS + 1):
            for kind in ("project", "reference"):
                pid = server_pid(urls[kind])
                assert pid is not None
                figures = upload_round(kind, urls[kind], token, pid, head)
                results[kind].append(figures)
                log(f"round {r}  upload {UPLOAD_MIB} MiB  {kind:<9} {figures}")
            for video in http("GET", f"{project}/videos?limit=100", token=token)["data"]:
                delete_video(project, token, video["id"])
    return {
        kind: {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        for kind, rounds in results.items()
    }


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def upload_file(url: str, token: str, path: Path) -> dict:
    return send_upload(url, "/videos/upload", token, path.read_bytes(), path.stat().st_size)


def wait_job(url: str, token: str, video_id: int) -> dict:
    deadline = time.monotonic() + 300
    while True:
        job = http("GET", f"{url}/videos/{video_id}/jobs", token=token)["data"][0]
        if job["status"] in ("succeeded", "failed", "canceled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.02)


def bench_queue(tmp: Path, big: Path) -> dict[str, float]:
    small = media.mp4(tmp / "small.mp4")
    env = {
        **server_env(f"sqlite:///{tmp / 'queue-bench.db'}"),
        "MEDIA_ROOT": str(tmp / "queue-media"),
        "QUEUE_URL": f"sqlite:///{tmp / 'queue-bench-queue.db'}",
        "MAX_ACTIVE_INGESTS": "100",
    }
    waits, runs_small = [], []
    with server("project", env) as url:
        token = register_and_login(url)
        time.sleep(2)  # the worker's polling has backed off to its idle interval
        for _ in range(50):
            video = upload_file(url, token, small)
            job = wait_job(url, token, video["id"])
            assert job["status"] == "succeeded", job
            waits.append(parse_time(job["started_at"]) - parse_time(job["created_at"]))
            runs_small.append(parse_time(job["finished_at"]) - parse_time(job["started_at"]))
            time.sleep(0.3)  # idle again
        video = upload_file(url, token, big)
        job = wait_job(url, token, video["id"])
        assert job["status"] == "succeeded", job
        run_big = (parse_time(job["finished_at"]) - parse_time(job["started_at"])).total_seconds()
        ready = http("GET", f"{url}/videos/{video['id']}", token=token)
        assert (ready["width"], ready["height"]) == (1920, 1080), ready
    ms = sorted(w.total_seconds() * 1000 for w in waits)
    return {
        "to_running_p50_ms": statistics.median(ms),
        "to_running_p99_ms": ms[int(0.99 * (len(ms) - 1))],
        "ingest_small_s": statistics.median(r.total_seconds() for r in runs_small),
        "ingest_1080p_60s_s": run_big,
    }


def main() -> None:
    if SERVER_PIN:  # the driver (the upload's client) on the other CPU
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-videos-", dir=results_dir) as name:
        tmp = Path(name)
        log("generating a 60-second 1080p H.264 clip")
        started = time.perf_counter()
        big = media.mp4(
            tmp / "big.mp4",
            seconds=60,
            size=(1920, 1080),
            rate=10,
            audio_codec=None,
            codec_options={"preset": "ultrafast"},
        )
        log(f"  {big.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.0f} s")
        upload = bench_upload(tmp)
        queue = bench_queue(tmp, big)
    project, reference = upload["project"], upload["reference"]
    print(f"\n(e) upload of {UPLOAD_MIB} MiB over loopback, median of {ROUNDS} rounds")
    print(f"    {'':<22}{'project':>12}{'reference':>12}{'ratio':>8}   target")
    rows = [
        ("MiB/s", "mib_per_s", ">= 0.7"),
        ("RSS growth MiB", "rss_growth_mib", "< 64 MiB"),
        ("wchar / file", "wchar_ratio", ""),
        ("write_bytes / file", "write_bytes_ratio", "<= 1.05"),
    ]
    for label, key, target in rows:
        ratio = project[key] / reference[key] if reference[key] else float("nan")
        print(
            f"    {label:<22}{project[key]:>12.3f}{reference[key]:>12.3f}{ratio:>8.3f}   {target}"
        )
    print("\n(f) embedded queue, 50 uploads one at a time, idle worker")
    print(f"    201 -> running  p50 {queue['to_running_p50_ms']:.0f} ms (goal <= 250)")
    print(f"    201 -> running  p99 {queue['to_running_p99_ms']:.0f} ms")
    print(f"    ingest of a 2 s 320x240 clip (probe + thumbnail): {queue['ingest_small_s']:.2f} s")
    print("\n(g) probe + thumbnail of a 60 s 1080p H.264 clip")
    print(f"    ingest job run time: {queue['ingest_1080p_60s_s']:.2f} s")
    (results_dir / "videos.json").write_text(json.dumps({"upload": upload, "queue": queue}))


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
