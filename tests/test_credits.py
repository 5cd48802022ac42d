"""Credits: the ledger, extract_audio charged at creation, refunds when a job does not succeed."""

import io
from datetime import timedelta

import av
import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app import credits
from app.models import ProcessingJob, VideoSource, utc_now
from app.pipeline import jobs
from tests.support import media
from tests.support.credits import (
    assert_ledger_balanced,
    balance,
    history,
    ready_video,
    start_job,
    wait_for_job,
)
from tests.support.utils import bearer, register
from tests.support.videos import stored_files, user_token


@pytest.fixture
def client(make_video_client):
    return make_video_client(default_credits=5)


@pytest.fixture
def token(client) -> str:
    return user_token(client)


@pytest.fixture
def engine(client):
    yield client.app.state.engine
    assert_ledger_balanced(client.app.state.engine)  # after every test


def test_registration_with_default_credits_records_a_grant(make_client):
    client = make_client(default_credits=10)
    token = user_token(client)

    page = client.get("/me/credits", headers=bearer(token)).json()

    assert page["next_cursor"] is None
    [grant] = page["data"]
    assert (grant["kind"], grant["delta"], grant["balance_after"]) == ("grant", 10, 10)
    assert grant["job_id"] is None and grant["note"] == "Credits on registration"
    assert_ledger_balanced(client.app.state.engine)


def test_registration_without_default_credits_has_an_empty_history(make_client):
    client = make_client()
    token = user_token(client)

    assert client.get("/me/credits", headers=bearer(token)).json() == {
        "data": [],
        "next_cursor": None,
    }


def test_history_pages_newest_first(make_client):
    client = make_client(default_credits=1)
    token = user_token(client)
    with Session(client.app.state.engine) as session:
        for amount in range(2, 6):
            credits.grant(session, 1, amount, f"grant {amount}")
        session.commit()

    first = client.get("/me/credits", params={"limit": 3}, headers=bearer(token)).json()
    rest = client.get(
        "/me/credits", params={"limit": 3, "cursor": first["next_cursor"]}, headers=bearer(token)
    ).json()

    assert [t["delta"] for t in first["data"]] == [5, 4, 3]
    assert [t["delta"] for t in rest["data"]] == [2, 1] and rest["next_cursor"] is None
    assert [t["balance_after"] for t in first["data"] + rest["data"]] == [15, 10, 6, 3, 1]
    bad = client.get("/me/credits", params={"cursor": "nope"}, headers=bearer(token))
    assert bad.status_code == 422


def test_extract_audio_is_charged_runs_and_its_flac_is_16khz_mono_and_as_long_as_the_video(
    client, token, engine, tmp_path
):
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))

    response = start_job(client, token, video["id"])

    assert response.status_code == 202, response.text
    created = response.json()
    assert (created["kind"], created["status"], created["credits_charged"]) == (
        "extract_audio",
        "queued",
        1,
    )
    assert created["video_id"] == video["id"] and created["result_url"] is None
    assert balance(client, token) == 4
    job = wait_for_job(client, token, created["id"])
    assert job["status"] == "succeeded", job
    assert job["result_url"] == f"/jobs/{job['id']}/result" and job["credits_charged"] == 1

    result = client.get(job["result_url"], headers=bearer(token))

    assert result.status_code == 200
    assert result.headers["content-type"] == "audio/flac"
    assert f"job-{job['id']}-audio.flac" in result.headers["content-disposition"]
    with av.open(io.BytesIO(result.content)) as flac:
        stream = flac.streams.audio[0]
        assert stream.codec_context.name == "flac"
        assert (stream.rate, stream.channels) == (16000, 1)
        assert flac.duration / 1_000_000 == pytest.approx(video["duration_seconds"], abs=0.05)
    assert history(client, token) == [("charge", -1, 4, job["id"]), ("grant", 5, 5, None)]
    assert f"videos/{video['id']}/jobs/{job['id']}/audio.flac" in stored_files(
        client.app.state.settings.media_root.resolve()
    )


def test_a_webm_with_opus_audio_is_extracted_too(client, token, engine, tmp_path):
    video = ready_video(client, token, media.webm(tmp_path / "clip.webm"))

    job = wait_for_job(client, token, start_job(client, token, video["id"]).json()["id"])

    assert job["status"] == "succeeded", job
    flac = client.get(job["result_url"], headers=bearer(token)).content
    with av.open(io.BytesIO(flac)) as container:
        assert container.duration / 1_000_000 == pytest.approx(2.0, abs=0.05)


def test_the_price_is_every_started_minute_times_the_price_setting(make_video_client, tmp_path):
    client = make_video_client(default_credits=10, price_extract_audio_per_minute=3)
    token = user_token(client)
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))

    job = start_job(client, token, video["id"]).json()

    assert job["credits_charged"] == 3 and balance(client, token) == 7
    assert [credits.price(s, 3) for s in (0.5, 60.0, 60.01, 119.9, 121)] == [3, 3, 6, 6, 9]
    assert_ledger_balanced(client.app.state.engine)


def test_a_short_balance_is_402_and_nothing_is_created(make_video_client, tmp_path):
    client = make_video_client(price_extract_audio_per_minute=2, default_credits=1)
    token = user_token(client)
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))

    response = start_job(client, token, video["id"])

    assert response.status_code == 402
    assert response.json() == {"detail": "Insufficient credits"}
    jobs_of_video = client.get(f"/videos/{video['id']}/jobs", headers=bearer(token)).json()
    assert [job["kind"] for job in jobs_of_video["data"]] == ["ingest"]
    assert balance(client, token) == 1 and history(client, token) == [("grant", 1, 1, None)]
    assert_ledger_balanced(client.app.state.engine)


def test_a_video_that_is_not_ready_is_409(make_video_client, tmp_path):
    client = make_video_client(default_credits=5, embedded_worker=False)
    token = user_token(client)
    processing = client.post(
        "/videos/upload",
        files={"file": ("a.mp4", media.mp4(tmp_path / "a.mp4").read_bytes())},
        headers=bearer(token),
    ).json()

    response = start_job(client, token, processing["id"])

    assert response.status_code == 409
    assert response.json() == {"detail": "Video is not ready"}
    assert balance(client, token) == 5


def test_a_failed_video_is_409(client, token, engine, tmp_path):
    created = client.post(
        "/videos/upload",
        files={"file": ("bad.mp4", media.truncated(tmp_path / "bad.mp4").read_bytes())},
        headers=bearer(token),
    ).json()
    wait_for_job(client, token, 1)

    assert start_job(client, token, created["id"]).status_code == 409
    assert balance(client, token) == 5


def test_another_users_video_is_404_and_charges_no_one(client, token, engine, tmp_path):
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
    bob = user_token(client, "bob@example.com")

    response = start_job(client, bob, video["id"])

    assert response.status_code == 404
    assert response.json() == {"detail": "Video not found"}
    assert balance(client, token) == 5 and balance(client, bob) == 5


@pytest.mark.parametrize("kind", ["ingest", "clip", ""])
def test_a_kind_that_is_not_for_sale_is_422(client, token, engine, tmp_path, kind):
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))

    response = start_job(client, token, video["id"], kind=kind)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "kind"]
    assert balance(client, token) == 5


def test_a_video_without_audio_is_409_at_the_request_and_nothing_is_charged(
    client, token, engine, tmp_path
):
    silent = ready_video(client, token, media.mp4_without_audio(tmp_path / "silent.mp4"))
    assert silent["has_audio"] is False

    response = start_job(client, token, silent["id"])

    assert (response.status_code, response.json()) == (409, {"detail": "Video has no audio"})
    assert balance(client, token) == 5
    assert history(client, token) == [("grant", 5, 5, None)]
    jobs_of_video = client.get(f"/videos/{silent['id']}/jobs", headers=bearer(token)).json()
    assert [job["kind"] for job in jobs_of_video["data"]] == ["ingest"]


def unknown_audio(engine, video_id: int) -> None:
    """As if the probe could not tell whether there is sound: the request lets the job in."""
    with Session(engine) as session:
        session.get(VideoSource, video_id).has_audio = None
        session.commit()


def test_a_job_that_fails_in_the_worker_is_refunded_once(client, token, engine, tmp_path):
    silent = ready_video(client, token, media.mp4_without_audio(tmp_path / "silent.mp4"))
    unknown_audio(engine, silent["id"])

    created = start_job(client, token, silent["id"]).json()
    job = wait_for_job(client, token, created["id"])

    assert job["status"] == "failed" and job["error"]["code"] == "no_audio_stream"
    assert job["credits_charged"] == 1 and job["result_url"] is None
    assert balance(client, token) == 5
    assert history(client, token) == [
        ("refund", 1, 5, job["id"]),
        ("charge", -1, 4, job["id"]),
        ("grant", 5, 5, None),
    ]
    assert client.get(f"/jobs/{job['id']}/result", headers=bearer(token)).status_code == 404
    # A late cancel, fail or reap of the finished job refunds nothing more.
    assert client.post(f"/jobs/{job['id']}/cancel", headers=bearer(token)).status_code == 409
    with Session(engine) as session:
        row = session.get(ProcessingJob, job["id"])
        assert not jobs.cancel(session, row)
        assert not jobs.fail(session, row, "any token", "internal_error", "late")
        session.commit()
        # And the ledger itself refuses a second refund of the job.
        with pytest.raises(IntegrityError):
            credits.refund(session, row, "again")
    assert balance(client, token) == 5


def test_a_queued_job_has_no_result_and_cancel_refunds_it(client, token, engine, tmp_path):
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
    client.app.state.worker.stop()  # the job stays queued
    job = start_job(client, token, video["id"]).json()
    assert balance(client, token) == 4

    result = client.get(f"/jobs/{job['id']}/result", headers=bearer(token))
    canceled = client.post(f"/jobs/{job['id']}/cancel", headers=bearer(token))

    assert result.status_code == 404 and result.json() == {"detail": "Result not found"}
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert balance(client, token) == 5
    assert history(client, token)[:2] == [("refund", 1, 5, job["id"]), ("charge", -1, 4, job["id"])]
    assert client.post(f"/jobs/{job['id']}/cancel", headers=bearer(token)).status_code == 409
    assert balance(client, token) == 5


def test_deleting_a_video_refunds_its_unfinished_paid_jobs(client, token, engine, tmp_path):
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
    client.app.state.worker.stop()
    job = start_job(client, token, video["id"]).json()

    assert client.delete(f"/videos/{video['id']}", headers=bearer(token)).status_code == 204

    assert balance(client, token) == 5
    # The ledger outlives the job: its rows stay, no longer pointing at it.
    assert history(client, token) == [
        ("refund", 1, 5, None),
        ("charge", -1, 4, None),
        ("grant", 5, 5, None),
    ]
    page = client.get("/me/credits", headers=bearer(token)).json()["data"]
    assert page[0]["note"] == f"Job {job['id']} (extract_audio) canceled"


def expire_lease(session: Session, job_id: int) -> ProcessingJob:
    job = session.get(ProcessingJob, job_id)
    job.lease_expires_at = utc_now() - timedelta(seconds=1)
    session.add(job)
    session.commit()
    session.refresh(job)
    return job


def test_retries_refund_nothing_and_the_reaper_refunds_once_after_the_last_attempt(
    client, token, engine, tmp_path
):
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
    client.app.state.worker.stop()
    job_id = start_job(client, token, video["id"]).json()["id"]
    with Session(engine, expire_on_commit=False) as session:
        token_1 = jobs.claim(session, job_id, 30)
        assert jobs.retry(session, job_id, token_1)  # an unexpected error: another attempt
        session.commit()
        assert jobs.claim(session, job_id, 30)
        session.commit()
        stale = expire_lease(session, job_id)  # the worker died on its second attempt
        assert jobs.reap(session, stale, max_attempts=3)  # back to the queue: no refund
        session.commit()
        assert balance(client, token) == 4
        assert jobs.claim(session, job_id, 30)
        session.commit()
        last = expire_lease(session, job_id)

        assert jobs.reap(session, last, max_attempts=3)
        assert not jobs.reap(session, last, max_attempts=3)  # a second reaper finds nothing
        session.commit()

    job = client.get(f"/jobs/{job_id}", headers=bearer(token)).json()
    assert (job["status"], job["attempts"], job["error"]["code"]) == ("failed", 3, "internal_error")
    assert balance(client, token) == 5
    assert [row[0] for row in history(client, token)] == ["refund", "charge", "grant"]


def test_a_user_with_no_credits_registered_can_buy_after_a_grant(make_video_client, tmp_path):
    client = make_video_client()
    assert register(client).status_code == 201
    token = user_token(client, "bob@example.com")
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
    assert start_job(client, token, video["id"]).status_code == 402
    with Session(client.app.state.engine) as session:
        credits.grant(session, 2, 1, "support")
        session.commit()

    assert start_job(client, token, video["id"]).status_code == 202
    assert balance(client, token) == 0
    assert start_job(client, token, video["id"]).status_code == 402
    assert_ledger_balanced(client.app.state.engine)
