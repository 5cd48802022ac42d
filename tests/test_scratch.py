"""Scratch space (issue 25): a worker's temporary folders live under SCRATCH_DIR in a folder of
its own process; a starting worker removes what dead processes left there, and nothing of a
process that still runs."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from app import scratch
from app.db import ROOT
from tests.support import media
from tests.support.live import live_server, worker_process
from tests.support.postgres import TEST_DATABASE_URL
from tests.support.utils import PASSWORD, bearer

# A process that takes its scratch folder the way a worker does, fills it, says where it is
# and then waits to be killed.
HOLDER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from app import scratch\n"
    "folder = scratch.process_dir(Path(sys.argv[1]))\n"
    "(folder / 'audio-leftover').mkdir()\n"
    "(folder / 'audio-leftover' / 'audio.flac').write_bytes(b'x' * 1000)\n"
    "print(folder, flush=True)\n"
    "time.sleep(120)\n"
)


@contextmanager
def holder(root: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """A process holding its scratch folder under root; killed at the end by its pid."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        folder = Path(process.stdout.readline().strip())
        assert folder == root / str(process.pid)
        yield process, folder
    finally:
        process.kill()
        process.wait()


def killed(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_a_starting_worker_sweeps_the_folder_of_a_dead_process_and_keeps_a_live_one(
    make_video_client, tmp_path: Path
):
    root = tmp_path / "scratch"
    with holder(root) as (dead, dead_folder), holder(root) as (live, live_folder):
        killed(dead)  # SIGKILL: no clean-up of its own
        assert (dead_folder / "audio-leftover" / "audio.flac").exists()
        # A folder named after a running process that never locked it (a reused pid): its
        # owner is gone, whatever runs under that number now.
        reused = root / str(os.getppid())
        (reused / "transcribe-x").mkdir(parents=True)

        client = make_video_client(scratch_dir=root)  # the embedded worker starts

        assert not dead_folder.exists()
        assert not (root / f"{dead.pid}.lock").exists()
        assert not reused.exists()
        assert (live_folder / "audio-leftover" / "audio.flac").exists()
        assert (root / f"{live.pid}.lock").exists()
        own = root / str(os.getpid())
        assert own.is_dir()
        assert sorted(path.name for path in root.iterdir() if path.is_dir()) == sorted(
            [str(live.pid), own.name]
        )
        assert client.get("/health").status_code == 200
    # The holder is gone now: the next sweep takes its folder too, never the caller's own.
    assert scratch.sweep(root) == [str(live.pid)]
    assert sorted(path.name for path in root.iterdir()) == [own.name, f"{own.name}.lock"]


def test_scratch_folders_are_private_to_their_owner(tmp_path: Path):
    root = tmp_path / "private"
    folder = scratch.process_dir(root)
    assert folder == root / str(os.getpid())
    assert scratch.process_dir(root) == folder  # one per process, however often asked
    assert folder.stat().st_mode & 0o777 == 0o700
    with scratch.temporary_dir(root, "audio-") as temporary:
        assert Path(temporary).parent == folder and Path(temporary).name.startswith("audio-")
    assert list(folder.iterdir()) == []


# A worker whose probe takes 3 s: killed inside the ingest, whose thumbnail folder is open.
SLOW_WORKER = (
    "import time\n"
    "from app import worker\n"
    "from app.pipeline import media\n"
    "real = media.probe\n"
    "media.probe = lambda *a, **k: (time.sleep(3), real(*a, **k))[1]\n"
    "worker.main()\n"
)


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="process tests run on SQLite files")
def test_a_worker_killed_mid_job_leaves_its_folder_only_until_the_next_worker_starts(
    tmp_path: Path,
):
    root = tmp_path / "scratch"
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "SCRATCH_DIR": str(root),
        "EMBEDDED_WORKER": "false",
        "JOB_LEASE_SECONDS": "2",
        "JOB_REAP_INTERVAL_SECONDS": "0.3",
        "SECRET_KEY": "live-server-test-secret-key-0123456789",
        "BCRYPT_ROUNDS": "4",
    }
    clip = media.mp4(tmp_path / "clip.mp4")
    with live_server(env["DATABASE_URL"], env=env) as base_url:
        user = {"email": "alice@example.com", "password": PASSWORD}
        httpx.post(f"{base_url}/auth/register", json=user)
        token = httpx.post(f"{base_url}/auth/login", json=user).json()["access_token"]
        with clip.open("rb") as file:
            files = {"file": file}
            video = httpx.post(f"{base_url}/videos/upload", files=files, headers=bearer(token))
        jobs = httpx.get(f"{base_url}/videos/{video.json()['id']}/jobs", headers=bearer(token))
        job_url = f"{base_url}/jobs/{jobs.json()['data'][0]['id']}"

        with worker_process(env["DATABASE_URL"], env, code=SLOW_WORKER) as doomed:
            wait_until(lambda: job(job_url, token)["stage"] == "probing")
            # The job's temporary folder, in the worker's own (made as the 3 s probe starts).
            wait_until(lambda: len(list((root / str(doomed.pid)).glob("thumbnail-*"))) == 1)
            left = list((root / str(doomed.pid)).glob("thumbnail-*"))
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
        assert left[0].exists()  # what a killed worker leaves behind

        with worker_process(env["DATABASE_URL"], env) as successor:
            wait_until(lambda: job(job_url, token)["status"] == "succeeded")
            assert not (root / str(doomed.pid)).exists()
            assert (root / str(successor.pid)).is_dir()
            # The job cleans up after its success is committed: a moment later at most.
            wait_until(lambda: list((root / str(successor.pid)).iterdir()) == [])


def job(url: str, token: str) -> dict:
    return httpx.get(url, headers=bearer(token)).json()


def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
