"""The state machine of `processing_jobs`: the truth about every job lives here, not in the queue.

    queued --claim--> running --succeed--> succeeded
                      running --fail-----> failed
                      running --retry----> queued    (an error worth another attempt)
                      running --reap-----> queued    (lease expired: its worker died), or
                                           failed    (internal_error) after JOB_MAX_ATTEMPTS
    queued | running --cancel--> canceled

Every transition is one conditional UPDATE: a claim takes only a queued job, and a running job
changes only for the worker that holds its lease token. So a job finishes exactly once, however
many queue messages, workers, reapers and cancels race for it. Callers commit.

A paid job that ends without success (fail, cancel, reap to failed) is refunded by the same
transition, in the same transaction (app/credits.py): once, because the transition happens once.
Likewise a final status (and a video's `ready` or `failed`) puts its webhook event in the outbox
(app/webhooks/outbox.py) in that transaction: sent once it commits, never if it rolls back.
"""

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal_column, update
from sqlmodel import Session, col, select

from app import credits
from app.models import (
    ProcessingJob,
    ProcessingJobRead,
    VideoSource,
    VideoSourceRead,
    WebhookEvent,
    utc_now,
)
from app.webhooks import outbox

# The job every new video gets: a video is `ready` only once ingested, and fails with it.
INGEST = "ingest"
UNFINISHED = ("queued", "running")


def ingest_job_id(video_id: Any) -> Any:
    """The id of a video's ingest job (the job its client watches), as a scalar subquery on
    `video_id` (a column, to read it beside the video's row): the (video_id, id) index. The
    kind is a literal, not a parameter: app.db.fetch_row passes only the caller's parameters."""
    ingest = literal_column(f"'{INGEST}'")
    return (
        select(func.min(ProcessingJob.id))
        .where(col(ProcessingJob.video_id) == video_id, col(ProcessingJob.kind) == ingest)
        .scalar_subquery()
    )


def _set_job(session: Session, job_id: int, *conditions: Any, **values: Any) -> bool:
    statement = (
        update(ProcessingJob)
        .where(col(ProcessingJob.id) == job_id, *conditions)
        .values(version=ProcessingJob.version + 1, **values)
    )
    return session.exec(statement).rowcount == 1  # type: ignore[call-overload]


def _held_by(token: str) -> tuple[Any, Any]:
    return col(ProcessingJob.status) == "running", col(ProcessingJob.lease_token) == token


def _lease(seconds: float) -> datetime:
    return utc_now() + timedelta(seconds=seconds)


def claim(session: Session, job_id: int, lease_seconds: float) -> str | None:
    """Take a queued job for this worker: its lease token, or None if it is not queued."""
    token = secrets.token_hex(16)
    claimed = _set_job(
        session,
        job_id,
        col(ProcessingJob.status) == "queued",
        status="running",
        lease_token=token,
        lease_expires_at=_lease(lease_seconds),
        attempts=ProcessingJob.attempts + 1,
        started_at=func.coalesce(ProcessingJob.started_at, utc_now()),
    )
    return token if claimed else None


def heartbeat(session: Session, job_id: int, token: str, lease_seconds: float) -> bool:
    """Extend the lease; False when the job is no longer this worker's (canceled, reaped)."""
    statement = (
        update(ProcessingJob)
        .where(col(ProcessingJob.id) == job_id, *_held_by(token))
        .values(lease_expires_at=_lease(lease_seconds))
    )
    return session.exec(statement).rowcount == 1  # type: ignore[call-overload]


def checkpoint(
    session: Session, job_id: int, token: str, *, stage: str, progress: float, lease: float
) -> bool:
    """Record the stage and progress (which never goes back); False when no longer ours."""
    return _set_job(
        session,
        job_id,
        *_held_by(token),
        stage=stage,
        progress=case(
            (col(ProcessingJob.progress) > progress, ProcessingJob.progress), else_=progress
        ),
        lease_expires_at=_lease(lease),
    )


def succeed(
    session: Session,
    job_id: int,
    token: str,
    *,
    result_key: str | None = None,
    result_type: str | None = None,
) -> bool:
    """Finish the running job this worker holds, with the file it produced, if any."""
    succeeded = _set_job(
        session,
        job_id,
        *_held_by(token),
        status="succeeded",
        progress=1.0,
        finished_at=utc_now(),
        lease_token=None,
        lease_expires_at=None,
        result_key=result_key,
        result_type=result_type,
    )
    if succeeded:
        _tell_job(session, job_id, "job.succeeded")
    return succeeded


def fail(session: Session, job: ProcessingJob, token: str, code: str, message: str) -> bool:
    """Fail the running job this worker holds, and its video if it is the video's ingest."""
    return _finish_failed(session, job, _held_by(token), code, message)


def _finish_failed(
    session: Session, job: ProcessingJob, conditions: tuple[Any, ...], code: str, message: str
) -> bool:
    failed = _set_job(
        session,
        job.id,
        *conditions,
        status="failed",
        error_code=code,
        error_message=message[:500],
        finished_at=utc_now(),
        lease_token=None,
        lease_expires_at=None,
    )
    if failed:
        credits.refund(session, job, f"Job {job.id} ({job.kind}) failed: {code}")
        _tell_job(session, job.id, "job.failed")
        fail_video(session, job.video_id, code, message)
    return failed


def retry(session: Session, job_id: int, token: str) -> bool:
    """Back to the queue for another attempt (the caller enqueues it after committing)."""
    return _set_job(
        session,
        job_id,
        *_held_by(token),
        status="queued",
        lease_token=None,
        lease_expires_at=None,
        enqueued_at=utc_now(),
    )


def cancel(session: Session, job: ProcessingJob) -> bool:
    """Cancel a queued or running job; False if it had already finished. A running job's
    worker sees it at its next checkpoint. A canceled ingest leaves its video failed."""
    canceled = _set_job(
        session,
        job.id,
        col(ProcessingJob.status).in_(UNFINISHED),
        status="canceled",
        error_code="canceled",
        error_message="Canceled",
        finished_at=utc_now(),
        lease_token=None,
        lease_expires_at=None,
    )
    if canceled:
        credits.refund(session, job, f"Job {job.id} ({job.kind}) canceled")
        _tell_job(session, job.id, "job.canceled")
        fail_video(session, job.video_id, "canceled", "The ingest job was canceled")
    return canceled


def fail_video(session: Session, video_id: int, code: str, message: str) -> None:
    """A video still `processing` fails with its job. Only its ingest runs while a video is
    processing (paid jobs need a ready video), so for any other job this changes nothing."""
    failed = session.exec(
        update(VideoSource)  # type: ignore[call-overload]
        .where(col(VideoSource.id) == video_id, col(VideoSource.status) == "processing")
        .values(status="failed", error_code=code, error_message=message[:500], updated_at=utc_now())
    )
    if failed.rowcount == 1:
        _tell_video(session, video_id, "video.failed")


def update_video(session: Session, video_id: int, **values: Any) -> bool:
    """Change a video's columns; `status="ready"` tells the owner's webhooks."""
    statement = (
        update(VideoSource)
        .where(col(VideoSource.id) == video_id)
        .values(updated_at=utc_now(), **values)
    )
    updated = session.exec(statement).rowcount == 1  # type: ignore[call-overload]
    if updated and values.get("status") == "ready":
        _tell_video(session, video_id, "video.ready")
    return updated


def _tell_job(session: Session, job_id: int, event: WebhookEvent) -> None:
    """The job's event into the outbox, with the job as it is now (JobRead)."""
    owner = select(ProcessingJob.user_id).where(col(ProcessingJob.id) == job_id)

    def job_read() -> dict[str, Any]:
        job = session.get(ProcessingJob, job_id, populate_existing=True)
        return ProcessingJobRead.model_validate(job).model_dump(mode="json")

    outbox.emit(session, owner=owner.scalar_subquery(), event=event, data=job_read)


def _tell_video(session: Session, video_id: int, event: WebhookEvent) -> None:
    """The video's event into the outbox, with the video as it is now (VideoRead)."""
    owner = select(VideoSource.user_id).where(col(VideoSource.id) == video_id)

    def video_read() -> dict[str, Any]:
        video = session.get(VideoSource, video_id, populate_existing=True)
        ingest = {"ingest_job_id": session.scalar(select(ingest_job_id(video_id)))}
        return VideoSourceRead.model_validate(video, update=ingest).model_dump(mode="json")

    outbox.emit(session, owner=owner.scalar_subquery(), event=event, data=video_read)


def expired(session: Session) -> list[ProcessingJob]:
    """Running jobs whose lease ran out: their worker died or hangs."""
    query = select(ProcessingJob).where(
        col(ProcessingJob.status) == "running", col(ProcessingJob.lease_expires_at) < utc_now()
    )
    return list(session.exec(query).all())


def lost_in_queue(session: Session, older_than_seconds: float) -> list[int]:
    """Queued jobs waiting longer than this: their queue message may be lost (a queue server
    restarted without persistence). Enqueued again; a duplicate message is harmless, since
    only one claim can succeed. Their enqueued_at moves on, so each is resent once a period."""
    cutoff = utc_now() - timedelta(seconds=older_than_seconds)
    query = select(ProcessingJob.id).where(
        col(ProcessingJob.status) == "queued", col(ProcessingJob.enqueued_at) < cutoff
    )
    ids = list(session.exec(query).all())
    if ids:
        session.exec(
            update(ProcessingJob)  # type: ignore[call-overload]
            .where(col(ProcessingJob.id).in_(ids), col(ProcessingJob.status) == "queued")
            .values(enqueued_at=utc_now())
        )
    return ids  # type: ignore[return-value]


def release(session: Session, job_id: int, token: str) -> bool:
    """Give a running job back untouched because its worker is stopping: not an attempt."""
    return _set_job(
        session,
        job_id,
        *_held_by(token),
        status="queued",
        lease_token=None,
        lease_expires_at=None,
        attempts=ProcessingJob.attempts - 1,
        enqueued_at=utc_now(),
    )


def reap(session: Session, job: ProcessingJob, max_attempts: int) -> bool:
    """A job whose lease expired goes back to the queue, or fails after its last attempt.

    Conditional on the same lease token and the lease still expired, so a heartbeat that
    arrives meanwhile keeps the job where it is.
    """
    expired_lease = (
        *_held_by(job.lease_token or ""),
        col(ProcessingJob.lease_expires_at) < utc_now(),
    )
    if job.attempts < max_attempts:
        return _set_job(
            session,
            job.id,
            *expired_lease,
            status="queued",
            lease_token=None,
            lease_expires_at=None,
            enqueued_at=utc_now(),
        )
    message = f"The worker stopped responding, {job.attempts} times"
    return _finish_failed(session, job, expired_lease, "internal_error", message)
