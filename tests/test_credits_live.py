"""Credits under real concurrency: a live uvicorn with two worker processes, on a SQLite file
(make test) or PostgreSQL (make test-postgres); killed job workers (SQLite, like
tests/test_video_processes.py). The ledger invariant is checked after each test."""

import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support import media
from tests.support.credits import assert_ledger_balanced
from tests.support.live import live_server, query, send_at_once, worker_process
from tests.support.postgres import TEST_DATABASE_URL, fresh_schema
from tests.support.utils import bearer
from tests.test_video_processes import token_for, upload, wait_for_job

PURCHASES = 50
AFFORDABLE = 7
SAME_KEY_REQUESTS = 20


@pytest.fixture
def database_url(tmp_path: Path):
    if TEST_DATABASE_URL:
        with fresh_schema() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'app.db'}"


def place(tmp_path: Path, **settings: str) -> dict[str, str]:
    return {
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "JOB_REAP_INTERVAL_SECONDS": "0.3",
        "SECRET_KEY": "live-server-test-secret-key-0123456789",
        "BCRYPT_ROUNDS": "4",
        **settings,
    }


def ready_video(url: str, token: str, path: Path) -> int:
    video = upload(url, token, path)
    deadline = time.monotonic() + 30
    while video["status"] == "processing":
        assert time.monotonic() < deadline, video
        time.sleep(0.05)
        video = httpx.get(f"{url}/videos/{video['id']}", headers=bearer(token)).json()
    assert video["status"] == "ready", video
    return video["id"]


def purchase(url: str, token: str, video_id: int, key: str | None = None):
    """POST /videos/{id}/jobs for extract_audio, as a request for send_at_once."""
    headers = {**bearer(token), **({"Idempotency-Key": key} if key else {})}
    body = {"kind": "extract_audio"}
    return ("POST", f"{url}/videos/{video_id}/jobs", {"json": body, "headers": headers})


def buy(url: str, token: str, video_id: int, key: str | None = None) -> httpx.Response:
    method, target, options = purchase(url, token, video_id, key)
    return httpx.request(method, target, timeout=30, **options)


def assert_log_is_clean(log: Path) -> None:
    text = log.read_text(errors="replace")
    assert "database is locked" not in text
    assert "Traceback" not in text


def test_fifty_concurrent_purchases_with_credits_for_seven_charge_exactly_seven(
    database_url, tmp_path
):
    log = tmp_path / "server.log"
    env = place(tmp_path, DEFAULT_CREDITS=str(AFFORDABLE))
    with live_server(database_url, workers=2, env=env, log=log) as url:
        token = token_for(url)
        video_id = ready_video(url, token, media.mp4(tmp_path / "clip.mp4"))

        started = time.perf_counter()
        answers = send_at_once([purchase(url, token, video_id)] * PURCHASES)
        elapsed = time.perf_counter() - started

        statuses = Counter(answer.status_code for answer in answers)
        print(f"\n{PURCHASES} concurrent purchases, 2 workers: {dict(statuses)} in {elapsed:.2f} s")
        assert statuses == {202: AFFORDABLE, 402: PURCHASES - AFFORDABLE}
        refused = [a.json() for a in answers if a.status_code == 402]
        assert refused == [{"detail": "Insufficient credits"}] * (PURCHASES - AFFORDABLE)
        assert httpx.get(f"{url}/me", headers=bearer(token)).json()["credits"] == 0
        job_ids = sorted(a.json()["id"] for a in answers if a.status_code == 202)
        for job_id in job_ids:  # and every one of them is processed
            job = wait_for_job(url, token, job_id, lambda j: j["status"] == "succeeded", 60)
            assert job["credits_charged"] == 1

    rows = query(
        database_url,
        "SELECT kind, delta, balance_after, job_id FROM credit_transactions ORDER BY id",
    )
    assert rows[0] == ("grant", AFFORDABLE, AFFORDABLE, None)
    # One charge per accepted job, each leaving one credit less, down to 0.
    assert [row[:3] for row in rows[1:]] == [
        ("charge", -1, left) for left in range(AFFORDABLE - 1, -1, -1)
    ]
    assert sorted(row[3] for row in rows[1:]) == job_ids
    assert_ledger_balanced(database_url)
    assert_log_is_clean(log)


def test_twenty_concurrent_requests_with_one_idempotency_key_make_one_job_and_one_charge(
    database_url, tmp_path
):
    log = tmp_path / "server.log"
    env = place(tmp_path, DEFAULT_CREDITS="5")
    with live_server(database_url, workers=2, env=env, log=log) as url:
        token = token_for(url)
        video_id = ready_video(url, token, media.mp4(tmp_path / "clip.mp4"))

        answers = send_at_once([purchase(url, token, video_id, "retry-42")] * SAME_KEY_REQUESTS)
        late = buy(url, token, video_id, "retry-42")

        statuses = Counter(answer.status_code for answer in answers)
        print(f"\n{SAME_KEY_REQUESTS} concurrent requests with one key: {dict(statuses)}")
        assert set(statuses) <= {202, 409}
        accepted = [a for a in answers if a.status_code == 202]
        first = [a for a in accepted if "idempotent-replayed" not in a.headers]
        assert len(first) == 1
        assert {a.json()["id"] for a in accepted} == {first[0].json()["id"]}
        for answer in answers:
            if answer.status_code == 409:
                assert answer.json() == {
                    "detail": "A request with this Idempotency-Key is still in progress"
                }
        assert late.status_code == 202 and late.headers["idempotent-replayed"] == "true"
        assert late.json() == first[0].json()
        assert httpx.get(f"{url}/me", headers=bearer(token)).json()["credits"] == 4

    jobs = query(database_url, "SELECT kind FROM processing_jobs ORDER BY id")
    assert jobs == [("ingest",), ("extract_audio",)]
    charges = query(database_url, "SELECT count(*) FROM credit_transactions WHERE kind = 'charge'")
    assert charges == [(1,)]
    assert_ledger_balanced(database_url)
    assert_log_is_clean(log)


# A worker whose audio extraction takes 3 s, so it can be killed in the middle of a job.
SLOW_WORKER = (
    "import time\n"
    "from app import worker\n"
    "from app.pipeline import media\n"
    "real = media.extract_audio\n"
    "media.extract_audio = lambda *a, **k: (time.sleep(3), real(*a, **k))[1]\n"
    "worker.main()\n"
)


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="process tests run on SQLite files")
@pytest.mark.parametrize(
    ("make", "max_attempts", "code", "attempts"),
    [
        # retried, then fails (the video's has_audio made unknown: else 409 at the request)
        (media.mp4_without_audio, "3", "no_audio_stream", 2),
        (media.mp4, "1", "internal_error", 1),  # the reaper fails it: no attempts left
    ],
    ids=["retried-then-failed", "reaped-to-failed"],
)
def test_a_paid_job_whose_worker_is_killed_is_refunded_once(
    database_url, tmp_path, make, max_attempts, code, attempts
):
    env = place(
        tmp_path,
        DEFAULT_CREDITS="3",
        EMBEDDED_WORKER="false",
        JOB_LEASE_SECONDS="2",
        JOB_MAX_ATTEMPTS=max_attempts,
    )
    log = tmp_path / "worker.log"
    with live_server(database_url, env=env) as url:
        token = token_for(url)
        with worker_process(database_url, env, log=log):
            video_id = ready_video(url, token, make(tmp_path / "clip.mp4"))
        engine = create_engine(database_url)
        with engine.begin() as connection:
            update = "UPDATE video_sources SET has_audio = NULL WHERE id = :id AND NOT has_audio"
            connection.execute(text(update), {"id": video_id})
        engine.dispose()
        job = buy(url, token, video_id).json()
        assert job["credits_charged"] == 1

        with worker_process(database_url, env, code=SLOW_WORKER, log=log) as doomed:
            wait_for_job(url, token, job["id"], lambda j: j["stage"] == "extracting")
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
        assert httpx.get(f"{url}/me", headers=bearer(token)).json()["credits"] == 2

        with worker_process(database_url, env, log=log):
            job = wait_for_job(url, token, job["id"], lambda j: j["status"] == "failed")
            time.sleep(1)  # a reaper pass or two more: nothing changes

        assert (job["error"]["code"], job["attempts"]) == (code, attempts)
        assert httpx.get(f"{url}/me", headers=bearer(token)).json()["credits"] == 3
    rows = query(
        database_url,
        "SELECT kind, delta FROM credit_transactions WHERE job_id = :job ORDER BY id",
        job=job["id"],
    )
    assert rows == [("charge", -1), ("refund", 1)]
    assert_ledger_balanced(database_url)
