"""What a job kind's function gets: its job and video, the services it needs, and the ways to
report progress and to learn that it should stop."""

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from app import scratch
from app.ai.factory import Providers
from app.config import Settings
from app.models import ProcessingJob, VideoSource
from app.pipeline import jobs
from app.pipeline.media import Sandbox
from app.storage import Storage, job_key

REPORT_EVERY_SECONDS = 0.5


class JobStopped(Exception):
    """The job is no longer this worker's: canceled, deleted, reaped, or the worker stops."""


class JobContext:
    def __init__(
        self,
        *,
        job: ProcessingJob,
        video: VideoSource,
        token: str,
        engine: Engine,
        settings: Settings,
        storage: Storage,
        sandbox: Sandbox,
        ai: Providers,
        stopping: threading.Event,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self.job = job
        self.video = video
        self.engine = engine
        self.settings = settings
        self.storage = storage
        self.sandbox = sandbox
        self.ai = ai  # the worker's AI providers (the local model stays loaded between jobs)
        self.stored: list[str] = []  # objects this run wrote: removed unless it succeeds
        self.result: tuple[str, str] | None = None  # the job's product: storage key, media type
        # Rows the job writes, in the transaction that marks it succeeded (a transcript, usage
        # logs): all of them with the success, or none.
        self.on_success: list[Callable[[Session], None]] = []
        self.lost = threading.Event()  # set by the heartbeat when the lease is gone
        self._stopping = stopping  # set when the worker shuts down
        self._token = token
        self._reported: tuple[str, float] | None = None
        self._on_change = on_change  # after a commit that changed the job (the event streams)

    @property
    def token(self) -> str:
        """The lease token: every change of the job is conditional on it."""
        return self._token

    def checkpoint(self, stage: str, progress: float) -> None:
        """Record the stage and progress; raise JobStopped if the job should stop here.

        Unchanged stage and progress only check that the job is still ours (no event)."""
        lease = self.settings.job_lease_seconds
        with Session(self.engine) as session:
            if self._reported == (stage, progress):
                ours = jobs.heartbeat(session, self.job.id, self._token, lease)
            else:
                ours = jobs.checkpoint(
                    session, self.job.id, self._token, stage=stage, progress=progress, lease=lease
                )
            session.commit()
        if ours and self._reported != (stage, progress) and self._on_change is not None:
            self._on_change(self.job.id)
        self._reported = (stage, progress)
        if not ours or self.lost.is_set() or self._stopping.is_set():
            raise JobStopped

    def reporter(self, stage: str, start: float, end: float) -> Callable[[float], None]:
        """A progress callback for a long step (an AI provider's): the share of `stage` done
        (0..1) becomes a checkpoint between `start` and `end`, written at most every
        REPORT_EVERY_SECONDS (each is a database write, and the cancel check)."""
        last = 0.0

        def report(share: float) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= REPORT_EVERY_SECONDS:
                last = now
                self.checkpoint(stage, round(start + (end - start) * min(max(share, 0.0), 1.0), 3))

        return report

    def update_video(self, **values: Any) -> None:
        """Change the video now (not only when the job succeeds), while the job is still ours."""
        lease = self.settings.job_lease_seconds
        with Session(self.engine) as session:
            if not jobs.heartbeat(session, self.job.id, self._token, lease):
                raise JobStopped
            jobs.update_video(session, self.video.id, **values)
            session.commit()

    def scratch(self, prefix: str) -> tempfile.TemporaryDirectory[str]:
        """A temporary folder for this run, inside this worker process's scratch folder
        (SCRATCH_DIR, app/scratch.py): removed when the block ends, and by the next starting
        worker if this process is killed first."""
        return scratch.temporary_dir(self.settings.scratch_dir, prefix)

    def store(self, path: Path, key: str) -> None:
        self.storage.put_file(path, key)
        self.stored.append(key)

    def store_result(self, path: Path, name: str, media_type: str) -> None:
        """Store the file this job produces (`videos/{video}/jobs/{job}/{name}`); recorded on
        the job when it succeeds and served by GET /jobs/{id}/result."""
        key = job_key(self.video.id, self.job.id, name)
        self.store(path, key)
        self.result = (key, media_type)
