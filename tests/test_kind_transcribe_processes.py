"""`transcribe` across real processes: a live uvicorn and standalone workers on a SQLite file,
the real local model; a worker killed with SIGKILL in the middle of a transcription."""

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.support.credits import assert_ledger_balanced
from tests.support.live import live_server, query, worker_process
from tests.support.postgres import TEST_DATABASE_URL
from tests.support.speech import have_espeak, speech_video
from tests.support.utils import bearer
from tests.test_credits_live import place, ready_video
from tests.test_video_processes import token_for, wait_for_job

pytestmark = [
    pytest.mark.skipif(not have_espeak(), reason="espeak-ng is missing (make test installs it)"),
    pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="process tests run on SQLite files"),
]

# A worker whose transcriptions start 5 s late, so it can be killed in the middle of one.
SLOW_WORKER = (
    "import time\n"
    "from app import worker\n"
    "from app.ai import local_whisper\n"
    "real = local_whisper.LocalWhisper.transcribe\n"
    "def slow(self, *args, **kwargs):\n"
    "    time.sleep(5)\n"
    "    return real(self, *args, **kwargs)\n"
    "local_whisper.LocalWhisper.transcribe = slow\n"
    "worker.main()\n"
)


def test_a_worker_killed_mid_transcription_runs_it_again_with_one_transcript_and_one_charge(
    tmp_path: Path,
):
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    env = place(tmp_path, DEFAULT_CREDITS="5", EMBEDDED_WORKER="false", JOB_LEASE_SECONDS="2")
    clip = speech_video(tmp_path / "speech.mp4", "The worker was killed, and the job ran again.")
    with live_server(database_url, env=env) as url:
        token = token_for(url)
        with worker_process(database_url, env):
            video_id = ready_video(url, token, clip)
        body = {"kind": "transcribe"}
        job = httpx.post(f"{url}/videos/{video_id}/jobs", json=body, headers=bearer(token)).json()

        with worker_process(database_url, env, code=SLOW_WORKER) as doomed:
            wait_for_job(url, token, job["id"], lambda j: j["stage"] == "transcribing")
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()

        with worker_process(database_url, env):
            job = wait_for_job(url, token, job["id"], lambda j: j["status"] == "succeeded")
        transcript = httpx.get(f"{url}/videos/{video_id}/transcript", headers=bearer(token)).json()

    assert job["attempts"] == 2
    assert "killed" in transcript["text"].lower() and transcript["job_id"] == job["id"]
    assert query(database_url, "SELECT job_id FROM transcripts") == [(job["id"],)]
    assert query(database_url, "SELECT job_id FROM ai_usage_logs") == [(job["id"],)]
    ledger = "SELECT kind, delta FROM credit_transactions WHERE job_id = :job ORDER BY id"
    assert query(database_url, ledger, job=job["id"]) == [("charge", -2)]
    assert_ledger_balanced(database_url)
