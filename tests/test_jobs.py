"""app/pipeline/jobs.py: the state machine of processing_jobs, transition by transition."""

import time
from datetime import timedelta

import pytest
from sqlmodel import Session

from app.models import ProcessingJob, VideoSource, utc_now
from app.pipeline import jobs
from tests.support import media
from tests.support.videos import ingest_job, upload, user_token

LEASE = 30.0


@pytest.fixture
def client(make_video_client):
    return make_video_client(embedded_worker=False)


@pytest.fixture
def job_id(client, tmp_path) -> int:
    """A queued ingest job of a real uploaded video; no worker runs."""
    token = user_token(client)
    video = upload(client, token, media.mp4(tmp_path / "a.mp4")).json()
    return ingest_job(client, token, video["id"])["id"]


@pytest.fixture
def session(client):
    with Session(client.app.state.engine, expire_on_commit=False) as session:
        yield session


def current(session: Session, job_id: int) -> ProcessingJob:
    session.expire_all()
    job = session.get(ProcessingJob, job_id)
    assert job is not None
    return job


def video_of(session: Session, job: ProcessingJob) -> VideoSource:
    session.expire_all()
    return session.get(VideoSource, job.video_id)


def test_a_job_is_claimed_once_however_many_messages_ask(session, job_id):
    first = jobs.claim(session, job_id, LEASE)
    second = jobs.claim(session, job_id, LEASE)
    session.commit()

    assert first is not None and second is None
    job = current(session, job_id)
    assert (job.status, job.attempts, job.lease_token) == ("running", 1, first)
    assert job.lease_expires_at > utc_now() + timedelta(seconds=LEASE - 5)
    assert job.started_at is not None


def test_only_the_lease_holder_moves_a_running_job(session, job_id):
    token = jobs.claim(session, job_id, LEASE)
    assert token is not None

    assert not jobs.succeed(session, job_id, "someone else")
    assert not jobs.heartbeat(session, job_id, "someone else", LEASE)
    assert not jobs.checkpoint(
        session, job_id, "someone else", stage="probing", progress=0.5, lease=LEASE
    )
    assert jobs.succeed(session, job_id, token)
    assert not jobs.succeed(session, job_id, token)  # exactly once
    session.commit()
    job = current(session, job_id)
    assert (job.status, job.progress, job.lease_token) == ("succeeded", 1.0, None)
    assert job.finished_at is not None


def test_progress_never_goes_back_and_each_change_bumps_the_version(session, job_id):
    token = jobs.claim(session, job_id, LEASE)
    versions = [current(session, job_id).version]
    for stage, progress in [("probing", 0.6), ("thumbnail", 0.8), ("probing", 0.3)]:
        assert jobs.checkpoint(session, job_id, token, stage=stage, progress=progress, lease=LEASE)
        versions.append(current(session, job_id).version)

    job = current(session, job_id)
    assert (job.stage, job.progress) == ("probing", 0.8)
    assert versions == sorted(set(versions))


def test_cancel_beats_a_running_worker_and_fails_the_ingested_video(session, job_id):
    token = jobs.claim(session, job_id, LEASE)

    assert jobs.cancel(session, current(session, job_id))
    session.commit()

    assert not jobs.heartbeat(session, job_id, token, LEASE)  # the worker learns it here
    assert not jobs.succeed(session, job_id, token)
    assert not jobs.cancel(session, current(session, job_id))  # already finished
    job = current(session, job_id)
    assert (job.status, job.error_code) == ("canceled", "canceled")
    video = video_of(session, job)
    assert (video.status, video.error_code) == ("failed", "canceled")


def expire_lease(session: Session, job_id: int) -> None:
    job = current(session, job_id)
    job.lease_expires_at = utc_now() - timedelta(seconds=1)
    session.add(job)
    session.commit()


def test_the_reaper_requeues_an_expired_job_then_fails_it_after_the_last_attempt(session, job_id):
    for attempt in (1, 2):
        assert jobs.claim(session, job_id, LEASE)
        expire_lease(session, job_id)
        assert [job.id for job in jobs.expired(session)] == [job_id]
        assert jobs.reap(session, current(session, job_id), max_attempts=3)
        session.commit()
        job = current(session, job_id)
        assert (job.status, job.attempts, job.lease_token) == ("queued", attempt, None)

    assert jobs.claim(session, job_id, LEASE)
    expire_lease(session, job_id)
    assert jobs.reap(session, current(session, job_id), max_attempts=3)
    session.commit()

    job = current(session, job_id)
    assert (job.status, job.attempts, job.error_code) == ("failed", 3, "internal_error")
    assert video_of(session, job).error_code == "internal_error"


def test_a_heartbeat_that_comes_in_time_keeps_the_job_from_the_reaper(session, job_id):
    token = jobs.claim(session, job_id, LEASE)
    expire_lease(session, job_id)
    stale = current(session, job_id)  # what the reaper read

    assert jobs.heartbeat(session, job_id, token, LEASE)  # the worker was only slow
    session.commit()

    assert not jobs.reap(session, stale, max_attempts=3)
    assert current(session, job_id).status == "running"


def test_release_gives_a_job_back_without_using_an_attempt(session, job_id):
    token = jobs.claim(session, job_id, LEASE)

    assert jobs.release(session, job_id, token)

    job = current(session, job_id)
    assert (job.status, job.attempts, job.lease_token) == ("queued", 0, None)


def test_queued_jobs_waiting_too_long_are_resent_once_a_period(session, job_id):
    assert jobs.lost_in_queue(session, older_than_seconds=1) == []
    time.sleep(1.1)

    assert jobs.lost_in_queue(session, older_than_seconds=1) == [job_id]
    assert jobs.lost_in_queue(session, older_than_seconds=1) == []  # enqueued_at moved on
    assert jobs.claim(session, job_id, LEASE)
    time.sleep(1.1)
    assert jobs.lost_in_queue(session, older_than_seconds=1) == []  # running, not queued
