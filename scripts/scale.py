"""`make test-scale` (scripts/test-scale.sh starts PostgreSQL and runs this with DATABASE_URL).

The video tier as it runs on several machines, here all on 127.0.0.1: redis-server (the queue),
moto's S3 server (standing in for S3/MinIO), 2 API processes with no embedded worker and 3
separate `python -m app.worker` processes, each started and stopped by its process id.

1. one worker: 10 uploads from 5 users at once; jobs/minute.
2. three workers: 10 more; jobs/minute.
3. 10 more uploads and 10 links (to an origin server in this process) at once, while one
   worker is killed with SIGKILL in the middle of a job and Redis is restarted (no persistence:
   its queued messages are lost); the time until the killed worker's job is done.
Then: every video ready with its metadata, every job succeeded exactly once (attempts in
processing_jobs, one success line in the workers' logs), exactly one source and one thumbnail
per video in the bucket, and nothing left of deleted videos (one deleted while processing).
Exits non-zero on any failed check.
"""

import hashlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC
from pathlib import Path

import httpx

from tests.support import media
from tests.support.live import live_server, query, send_at_once, worker_process
from tests.support.origin import origin_server
from tests.support.services import redis_server, s3_server
from tests.support.utils import PASSWORD, bearer

USERS = 5
PER_PHASE = 10
LEASE_SECONDS = 6
# Sizes and lengths vary, so each video's metadata is its own.
SHAPES = [((320, 240), 2.0), ((256, 144), 1.0), ((160, 120), 3.0), ((192, 108), 1.5)]
SUCCESS_LINE = re.compile(r"Job (\d+) \(ingest\) succeeded on attempt (\d+)")

failures: list[str] = []


def check(condition: bool, message: str) -> None:
    if not condition:
        failures.append(message)
        print(f"  FAIL {message}", flush=True)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def make_clips(directory: Path, count: int) -> list[tuple[Path, tuple[int, int], float]]:
    clips = []
    for index in range(count):
        size, seconds = SHAPES[index % len(SHAPES)]
        path = media.mp4(directory / f"clip-{index}.mp4", size=size, seconds=seconds)
        clips.append((path, size, seconds))
    return clips


def register(base_url: str, email: str) -> str:
    body = {"email": email, "password": PASSWORD}
    assert httpx.post(f"{base_url}/auth/register", json=body).status_code == 201
    return httpx.post(f"{base_url}/auth/login", json=body).json()["access_token"]


def upload_all(apis: list[str], tokens: list[str], clips, origin=None) -> list[dict]:
    """Every clip at once, users and API processes in turn; the created videos in order.
    With an origin server, clips are sent as links to it (POST /videos/link) instead."""
    requests = []
    for index, (path, _, _) in enumerate(clips):
        api = apis[index % len(apis)]
        headers = bearer(tokens[index % len(tokens)])
        if origin is None:
            files = {"file": (path.name, path.read_bytes(), "video/mp4")}
            requests.append(("POST", f"{api}/videos/upload", {"files": files, "headers": headers}))
        else:
            link = {"url": origin.url(f"/{path.name}")}
            requests.append(("POST", f"{api}/videos/link", {"json": link, "headers": headers}))
    answers = send_at_once(requests)
    for answer in answers:
        if answer.status_code != 201:
            raise AssertionError(
                f"{answer.request.url} answered {answer.status_code}: {answer.text}"
            )
    return [answer.json() for answer in answers]


def job_rows(database_url: str, video_ids: list[int]) -> list[tuple]:
    return query(
        database_url,
        "SELECT id, video_id, status, attempts, created_at, started_at, finished_at"
        " FROM processing_jobs WHERE video_id = ANY(:ids) ORDER BY id",
        ids=video_ids,
    )


def wait_finished(database_url: str, video_ids: list[int], timeout: float = 300) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while True:
        rows = job_rows(database_url, video_ids)
        if rows and all(row[2] in ("succeeded", "failed", "canceled") for row in rows):
            return rows
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs not finished after {timeout} s: {rows}")
        time.sleep(0.2)


def jobs_per_minute(rows: list[tuple]) -> float:
    """Jobs done per minute from the first job's creation to the last one's end."""
    start = min(row[4] for row in rows)
    end = max(row[6] for row in rows)
    return len(rows) * 60 / (end - start).total_seconds()


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is pid (read from /proc: a worker's FFmpeg child)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry))
    return children


def kill_a_worker_mid_job(workers, database_url: str) -> tuple[int, float, set[int]]:
    """SIGKILL the first worker seen running its FFmpeg child; its index, the time, and the
    jobs that were running then."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for index, process in enumerate(workers):
            if child_pids(process.pid):
                running = {
                    row[0]
                    for row in query(
                        database_url, "SELECT id FROM processing_jobs WHERE status = 'running'"
                    )
                }
                os.killpg(process.pid, signal.SIGKILL)
                killed_at = time.time()
                process.wait()
                return index, killed_at, running
        time.sleep(0.01)
    raise TimeoutError("no worker was seen in the middle of a job")


def main() -> int:
    database_url = os.environ["DATABASE_URL"]
    work = Path(tempfile.mkdtemp(prefix="test-scale-"))
    log(f"work directory {work}")
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server(work / "redis", log=work / "redis.log"))
        s3 = stack.enter_context(s3_server(log=work / "moto.log"))
        bucket = s3.new_bucket()
        log(f"redis-server {redis.url}, moto S3 server {s3.url} bucket {bucket}")
        env = {
            "DATABASE_URL": database_url,
            "QUEUE_URL": redis.url,
            **s3.settings(bucket),
            "EMBEDDED_WORKER": "false",
            "WORKER_CONCURRENCY": "1",
            "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "JOB_REAP_INTERVAL_SECONDS": "1",
            "MAX_ACTIVE_INGESTS": "20",
            "LINK_ALLOW_PRIVATE": "true",  # the origin server of the links is on 127.0.0.1
            "SECRET_KEY": "scale-test-secret-key-0123456789abcdef",
            "BCRYPT_ROUNDS": "4",
            "DB_POOL_SIZE": "10",
        }
        apis = [
            stack.enter_context(live_server(database_url, env=env, log=work / f"api-{n}.log"))
            for n in (1, 2)
        ]
        log(f"API processes {apis}")
        env["MIGRATE_ON_STARTUP"] = "false"  # the APIs did it

        def start_worker(n: int):
            return stack.enter_context(
                worker_process(database_url, env, log=work / f"worker-{n}.log")
            )

        workers = [start_worker(1)]
        clips = make_clips(work, 4 * PER_PHASE)  # the last 10 are served as links
        files = {f"/{path.name}": ("video/mp4", path.read_bytes()) for path, _, _ in clips}
        origin = stack.enter_context(origin_server(files=files))
        tokens = [register(apis[n % 2], f"user{n}@example.com") for n in range(USERS)]
        expected: dict[int, tuple] = {}

        def run_phase(phase_clips, origin=None) -> list[int]:
            videos = upload_all(apis, tokens, phase_clips, origin)
            for index, (video, clip) in enumerate(zip(videos, phase_clips, strict=True)):
                expected[video["id"]] = (*clip, tokens[index % len(tokens)])
            return [video["id"] for video in videos]

        log("phase 1: 1 worker, 10 videos from 5 users")
        ids = run_phase(clips[:PER_PHASE])
        one_worker = jobs_per_minute(wait_finished(database_url, ids))
        log(f"  {one_worker:.1f} jobs/minute")

        workers += [start_worker(2), start_worker(3)]
        time.sleep(2)  # the new workers connect to Redis and the database
        log("phase 2: 3 workers, 10 videos from 5 users")
        ids = run_phase(clips[PER_PHASE : 2 * PER_PHASE])
        three_workers = jobs_per_minute(wait_finished(database_url, ids))
        log(f"  {three_workers:.1f} jobs/minute")

        log("phase 3: 10 uploads and 10 links at once; SIGKILL one worker mid-job, restart Redis")
        with ThreadPoolExecutor(2) as pool:
            uploads = pool.submit(run_phase, clips[2 * PER_PHASE : 3 * PER_PHASE])
            links = pool.submit(run_phase, clips[3 * PER_PHASE :], origin)
            ids = uploads.result() + links.result()
        victim, killed_at, running = kill_a_worker_mid_job(workers, database_url)
        log(f"  killed worker {victim + 1} (pid {workers[victim].pid}); running jobs {running}")
        queued = query(database_url, "SELECT count(*) FROM processing_jobs WHERE status = 'queued'")
        redis.restart()
        log(f"  Redis restarted: the messages of {queued[0][0]} queued jobs are gone")
        rows = wait_finished(database_url, ids)
        retried = [row for row in rows if row[3] > 1]
        check(len(retried) == 1, f"exactly one job was retried (the killed one's): {retried}")
        check(all(row[0] in running for row in retried), "the retried job was running at the kill")
        recovery = max((utc(row[6]) - killed_at for row in retried), default=float("nan"))
        log(f"  the killed worker's job done {recovery:.1f} s after the kill")

        log("deleting one ready video per user and one still processing")
        all_ids = sorted(expected)
        deleted = []
        for user in range(USERS):
            video_id = next(v for v in all_ids if expected[v][3] == tokens[user])
            headers = bearer(tokens[user])
            answer = httpx.delete(f"{apis[user % 2]}/videos/{video_id}", headers=headers)
            check(answer.status_code == 204, f"delete {video_id}: {answer.status_code}")
            deleted.append(video_id)
        racing = upload_all(apis, tokens[:1], clips[:1])[0]["id"]
        answer = httpx.delete(f"{apis[0]}/videos/{racing}", headers=bearer(tokens[0]))
        check(answer.status_code == 204, f"delete while processing: {answer.status_code}")
        deleted.append(racing)
        time.sleep(LEASE_SECONDS / 2)  # a worker that had the racing job finds no row and cleans

        log("checking videos, jobs, the bucket and the workers' logs")
        kept = [video_id for video_id in all_ids if video_id not in deleted]
        check_videos(apis, kept, expected)
        check_jobs(database_url, all_ids, kept, work)
        check_bucket(s3, bucket, kept)

    print()
    print("make test-scale figures (2 API processes, 3 workers x 1 thread, 2-core machine):")
    print(f"  jobs/minute with 1 worker:  {one_worker:6.1f}")
    print(f"  jobs/minute with 3 workers: {three_workers:6.1f}")
    print(f"  killed worker's job done {recovery:.1f} s after its SIGKILL", end="")
    print(f" (JOB_LEASE_SECONDS={LEASE_SECONDS}, reaper every 1 s)")
    if failures:
        print(f"  {len(failures)} checks FAILED; logs in {work}")
        return 1
    print("  all checks passed")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def utc(moment) -> float:
    """A timestamp from the database (naive ones are UTC) as seconds since the epoch."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def check_videos(apis, kept, expected) -> None:
    for video_id in kept:
        path, (width, height), seconds, owner = expected[video_id]
        video = httpx.get(f"{apis[video_id % 2]}/videos/{video_id}", headers=bearer(owner)).json()
        check(video.get("status") == "ready", f"video {video_id} is {video.get('status')}")
        check((video.get("width"), video.get("height")) == (width, height), f"{video_id} size")
        check(abs((video.get("duration_seconds") or 0) - seconds) < 0.1, f"{video_id} duration")
        check(video.get("video_codec") == "h264", f"video {video_id} codec")
        check(
            video.get("sha256") == hashlib.sha256(path.read_bytes()).hexdigest(),
            f"video {video_id} sha256",
        )
    sample = kept[0]
    owner = expected[sample][3]
    thumbnail = httpx.get(f"{apis[1]}/videos/{sample}/thumbnail", headers=bearer(owner))
    check(thumbnail.status_code == 200, "thumbnail served")
    check(thumbnail.content[:3] == b"\xff\xd8\xff", "the thumbnail is a JPEG")


def check_jobs(database_url: str, all_ids: list[int], kept: list[int], work: Path) -> None:
    rows = job_rows(database_url, all_ids)
    per_video = Counter(row[1] for row in rows)
    check(sorted(per_video) == sorted(kept), "the kept videos have jobs, the deleted none")
    check(all(count == 1 for count in per_video.values()), f"one job per video: {per_video}")
    check(all(row[2] == "succeeded" for row in rows), "every job succeeded")
    check(all(row[3] in (1, 2) for row in rows), "attempts: 1, or 2 for the killed one's")
    successes = Counter()
    for path in work.glob("worker-*.log"):
        text = path.read_text(errors="replace")
        check("not found in TaskRegistry" not in text, f"{path.name}: every message understood")
        for match in SUCCESS_LINE.finditer(text):
            successes[int(match.group(1))] += 1
    for job_id, *_ in rows:
        check(successes[job_id] == 1, f"job {job_id} succeeded {successes[job_id]} times")


def check_bucket(s3, bucket: str, kept: list[int]) -> None:
    keys = s3.keys(bucket)
    wanted = sorted(f"videos/{v}/{name}" for v in kept for name in ("source", "thumbnail.jpg"))
    check(
        keys == wanted, f"the bucket holds the kept videos' objects only: {set(keys) ^ set(wanted)}"
    )
    check(s3.open_multipart_uploads(bucket) == [], "no multipart upload left open")
    log(f"  bucket: {len(keys)} objects for {len(kept)} videos")


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    print(f"  ({time.monotonic() - started:.0f} s)")
    sys.exit(status)
