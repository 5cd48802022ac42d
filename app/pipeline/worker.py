"""Runs jobs: claims one, heartbeats while its kind's function works, records how it ended.

Inside the API process (the embedded worker, started by app.main) or on its own
(`python -m app.worker`, app/worker.py). A reaper on every worker gives back the jobs of
workers that died (lease expired) and resends queue messages that were lost.
"""

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session

from app import idempotency, retention, scratch
from app.ai.factory import Providers
from app.ai.types import ProviderError
from app.config import Settings
from app.models import ProcessingJob, VideoSource
from app.pipeline import jobs, media
from app.pipeline.context import JobContext, JobStopped
from app.pipeline.kinds import KINDS
from app.pipeline.queue import JobQueue
from app.storage import FULL_MESSAGE, Storage, StorageUnavailable, is_full
from app.webhooks.delivery import Deliverer

logger = logging.getLogger("app.worker")

# A job with no room for what it writes (the store, or a scratch file): not worth an attempt more.
STORAGE_FULL = "storage_full"

TOKEN_PURGE_INTERVAL_SECONDS = 3600


class Worker:
    def __init__(self, engine: Engine, settings: Settings, storage: Storage) -> None:
        self.engine = engine
        self.settings = settings
        self.storage = storage
        self.sandbox = media.Sandbox(
            settings.media_memory_limit_mb,
            settings.media_cpu_seconds,
            settings.media_timeout_seconds,
        )
        self.ai = Providers(settings)
        self.queue = JobQueue(settings.queue_url, self.run_job)
        # Webhook deliveries are sent by every worker, on threads of their own.
        self.deliverer = Deliverer(engine, settings)
        self.stopping = threading.Event()
        self._reaper: threading.Thread | None = None
        self._tokens_purged_at: float | None = None  # time.monotonic() of the last purge
        # Called with a job's id after a commit that changed it (app.main: the event streams'
        # watcher; app.worker: the Redis announcer). Runs on the worker's threads (the reaper's
        # too); must not block.
        self.on_change: Callable[[int], None] | None = None

    # ---- one job ---------------------------------------------------------------------------

    def run_job(self, job_id: int) -> None:
        """The queue's task: run the job if it is still queued, else do nothing."""
        lease = self.settings.job_lease_seconds
        with Session(self.engine, expire_on_commit=False) as session:
            token = jobs.claim(session, job_id, lease)
            session.commit()
            if token is None:
                return  # finished, canceled, deleted, or another worker has it
            self._announce(job_id)
            job = session.get(ProcessingJob, job_id)
            video = session.get(VideoSource, job.video_id) if job else None
        if job is None or video is None:
            return
        context = JobContext(
            job=job,
            video=video,
            token=token,
            engine=self.engine,
            settings=self.settings,
            storage=self.storage,
            sandbox=self.sandbox,
            ai=self.ai,
            stopping=self.stopping,
            on_change=self._announce,
        )
        heartbeat = threading.Thread(target=self._heartbeat, args=(context, token), daemon=True)
        heartbeat.start()
        succeeded = False
        try:
            succeeded = self._run(context, token)
        finally:
            self._announce(job_id)  # how it ended (succeeded, failed, retried, released)
            context.lost.set()  # ends the heartbeat
            heartbeat.join()
            if not succeeded:
                self._clean_up(context)

    def _run(self, context: JobContext, token: str) -> bool:
        job = context.job
        try:
            changes = KINDS[job.kind].run(context)
        except JobStopped:
            if self.stopping.is_set():  # shutting down: give the job back for the next start
                self._transition(lambda s: jobs.release(s, job.id, token), enqueue=job.id)
            return False
        except StorageUnavailable:
            # The object store is away: not the job's fault, not an attempt. The job waits in
            # `queued`; the reaper resends it after JOB_LEASE_SECONDS.
            logger.warning("Job %s waits: the object store is unavailable", job.id)
            self._transition(lambda s: jobs.release(s, job.id, token))
            return False
        except (media.MediaError, ProviderError) as error:  # the input's fault, or the AI's
            code, message = error.code, error.message
            if code == STORAGE_FULL:  # the sandboxed child had no room for its output
                logger.error("Job %s (%s) failed: storage full (%s)", job.id, job.kind, message)
            self._transition(lambda s: jobs.fail(s, job, token, code, message))
            return False
        except Exception as error:
            if is_full(error):  # an operational condition: one line, no traceback
                logger.error("Job %s (%s) failed: storage full (%s)", job.id, job.kind, error)
                self._transition(lambda s: jobs.fail(s, job, token, STORAGE_FULL, FULL_MESSAGE))
                return False
            logger.exception("Job %s (%s) failed unexpectedly", job.id, job.kind)
            if job.attempts < self.settings.job_max_attempts:
                self._transition(lambda s: jobs.retry(s, job.id, token), enqueue=job.id)
            else:
                message = f"Failed after {job.attempts} attempts"
                self._transition(lambda s: jobs.fail(s, job, token, "internal_error", message))
            return False
        with Session(self.engine) as session:
            # The video changes only if this worker still holds the job: one transaction.
            key, media_type = context.result or (None, None)
            if not jobs.succeed(session, job.id, token, result_key=key, result_type=media_type):
                return False
            if changes:  # ingest: the video's metadata, and `ready`
                jobs.update_video(session, job.video_id, **changes)
            for write in context.on_success:
                write(session)
            session.commit()
        logger.info("Job %s (%s) succeeded on attempt %s", job.id, job.kind, job.attempts)
        return True

    def _transition(self, change: Callable[[Session], bool], enqueue: int | None = None) -> None:
        with Session(self.engine) as session:
            changed = change(session)
            session.commit()
        if changed and enqueue is not None:
            self.queue.enqueue(enqueue)

    def _announce(self, job_id: int) -> None:
        self.deliverer.poke()  # the change may have put webhook deliveries in the outbox
        if self.on_change is not None:
            try:
                self.on_change(job_id)
            except Exception:  # an announcement is a speed-up, never a reason to fail a job
                logger.warning("Announcing a change of job %s failed", job_id, exc_info=True)

    def _heartbeat(self, context: JobContext, token: str) -> None:
        lease = self.settings.job_lease_seconds
        while not context.lost.wait(lease / 3):
            try:
                with Session(self.engine) as session:
                    ours = jobs.heartbeat(session, context.job.id, token, lease)
                    session.commit()
            except Exception:  # the database is away for a moment: try again next beat
                logger.warning("Heartbeat of job %s failed", context.job.id, exc_info=True)
                continue
            if not ours:
                context.lost.set()

    def _clean_up(self, context: JobContext) -> None:
        """After a run that did not succeed: no object it wrote stays, and nothing at all of a
        video deleted meanwhile."""
        try:
            for key in context.stored:
                self.storage.delete(key)
            with Session(self.engine) as session:
                gone = session.get(VideoSource, context.video.id) is None
            if gone:
                self.storage.delete_video(context.video.id)
        except StorageUnavailable:
            logger.warning("Could not clean up after job %s", context.job.id, exc_info=True)

    # ---- the reaper ------------------------------------------------------------------------

    def reap(self) -> None:
        """Give back jobs whose lease expired and resend queue messages that went missing."""
        with Session(self.engine) as session:
            reaped, requeued = [], []
            for job in jobs.expired(session):
                if jobs.reap(session, job, self.settings.job_max_attempts):
                    logger.warning("Job %s lost its worker (attempt %s)", job.id, job.attempts)
                    reaped.append(job.id)
                    if job.attempts < self.settings.job_max_attempts:
                        requeued.append(job.id)
            lost = jobs.lost_in_queue(session, older_than_seconds=self.settings.job_lease_seconds)
            idempotency.forget_expired(session, hours=self.settings.idempotency_key_hours)
            self._forget_spent_tokens(session)
            session.commit()
        for job_id in reaped:  # queued again or failed: their event streams hear it
            self._announce(job_id)
        for job_id in requeued + lost:
            self.queue.enqueue(job_id)

    def _forget_spent_tokens(self, session: Session) -> None:
        """Spent refresh and emailed tokens past TOKEN_RETENTION_DAYS go; at most once per
        TOKEN_PURGE_INTERVAL_SECONDS per worker (the search reads the whole table)."""
        now = time.monotonic()
        last = self._tokens_purged_at
        if last is not None and now - last < TOKEN_PURGE_INTERVAL_SECONDS:
            return
        self._tokens_purged_at = now
        deleted = retention.forget_spent_tokens(session, self.settings)
        if deleted:
            logger.info("Deleted %s spent tokens past their retention", deleted)

    def _prepare_scratch(self) -> None:
        """A starting worker: its own scratch folder, and those of dead processes removed."""
        root = self.settings.scratch_dir
        try:
            scratch.process_dir(root)
            scratch.sweep(root)
        except OSError:  # the jobs will say what is wrong with the folder
            logger.warning("Could not prepare the scratch folder %s", root, exc_info=True)

    def _reap_forever(self) -> None:
        while not self.stopping.wait(self.settings.job_reap_interval_seconds):
            try:
                self.reap()
            except Exception:
                logger.exception("The reaper failed; it tries again")

    # ---- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """The embedded worker: worker threads and the reaper inside this process."""
        self._prepare_scratch()
        self.stopping.clear()
        self.queue.start(self.settings.worker_concurrency)
        self.deliverer.start()
        self._reaper = threading.Thread(target=self._reap_forever, name="reaper", daemon=True)
        self._reaper.start()

    def stop(self) -> None:
        """Running jobs stop at their next checkpoint and go back to the queue."""
        self.stopping.set()
        self.queue.stop()
        if self._reaper is not None:
            self._reaper.join()
        self.deliverer.stop()
        self.ai.close()  # after the jobs: the local model's child process ends

    def run_forever(self) -> None:
        self._prepare_scratch()
        self._reaper = threading.Thread(target=self._reap_forever, name="reaper", daemon=True)
        self._reaper.start()
        self.deliverer.start()
        try:
            self.queue.run_forever(self.settings.worker_concurrency)
        finally:
            self.stopping.set()
            self.deliverer.stop()
            self.ai.close()
