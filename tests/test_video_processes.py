"""Jobs across real processes on a real SQLite file: killed workers, restarts, concurrency."""

import os
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import media
from tests.support.live import live_server, query, send_at_once, worker_process
from tests.support.postgres import TEST_DATABASE_URL
from tests.support.utils import PASSWORD, bearer
from tests.support.videos import stored_files

pytestmark = pytest.mark.skipif(
    bool(TEST_DATABASE_URL), reason="process tests run on SQLite files (make test)"
)


@pytest.fixture
def place(tmp_path: Path) -> dict[str, str]:
    """Settings that put the database, the queue and the media in this test's directory."""
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "JOB_LEASE_SECONDS": "2",
        "JOB_REAP_INTERVAL_SECONDS": "0.3",
        "SECRET_KEY": "live-server-test-secret-key-0123456789",
        "BCRYPT_ROUNDS": "4",
    }


def token_for(base_url: str, email: str = "alice@example.com") -> str:
    body = {"email": email, "password": PASSWORD}
    assert httpx.post(f"{base_url}/auth/register", json=body).status_code == 201
    return httpx.post(f"{base_url}/auth/login", json=body).json()["access_token"]


def upload(base_url: str, token: str, path: Path) -> dict:
    with path.open("rb") as file:
        response = httpx.post(
            f"{base_url}/videos/upload", files={"file": file}, headers=bearer(token), timeout=30
        )
    assert response.status_code == 201, response.text
    return response.json()


def wait_for_job(base_url: str, token: str, job_id: int, done, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(f"{base_url}/jobs/{job_id}", headers=bearer(token)).json()
        if done(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.02)


def job_id_of(base_url: str, token: str, video_id: int) -> int:
    jobs = httpx.get(f"{base_url}/videos/{video_id}/jobs", headers=bearer(token)).json()
    return jobs["data"][0]["id"]


# A worker whose probe takes 3 s, so it can be killed in the middle of a job.
SLOW_WORKER = (
    "import time\n"
    "from app import worker\n"
    "from app.pipeline import media\n"
    "real = media.probe\n"
    "media.probe = lambda *a, **k: (time.sleep(3), real(*a, **k))[1]\n"
    "worker.main()\n"
)


def test_a_worker_killed_mid_job_loses_nothing_and_the_job_finishes_once(place, tmp_path):
    env = {**place, "EMBEDDED_WORKER": "false"}
    clip = media.mp4(tmp_path / "clip.mp4")
    with live_server(place["DATABASE_URL"], env=env) as base_url:
        token = token_for(base_url)
        video = upload(base_url, token, clip)
        job_id = job_id_of(base_url, token, video["id"])
        with worker_process(place["DATABASE_URL"], env, code=SLOW_WORKER) as doomed:
            wait_for_job(base_url, token, job_id, lambda j: j["stage"] == "probing")
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
        killed_at = time.monotonic()
        assert (
            httpx.get(f"{base_url}/jobs/{job_id}", headers=bearer(token)).json()["status"]
            == "running"
        )

        with worker_process(place["DATABASE_URL"], env):
            job = wait_for_job(base_url, token, job_id, lambda j: j["status"] == "succeeded")
        recovered_in = time.monotonic() - killed_at

        assert job["attempts"] == 2 and job["progress"] == 1.0
        assert recovered_in < 15
        video = httpx.get(f"{base_url}/videos/{video['id']}", headers=bearer(token)).json()
        assert video["status"] == "ready" and video["thumbnail_url"]
    rows = query(place["DATABASE_URL"], "SELECT status, attempts FROM processing_jobs")
    assert rows == [("succeeded", 2)]


def test_a_server_restarted_with_queued_jobs_processes_them(place, tmp_path):
    clip = media.mp4(tmp_path / "clip.mp4")
    with live_server(place["DATABASE_URL"], env={**place, "EMBEDDED_WORKER": "false"}) as url:
        token = token_for(url)
        videos = [upload(url, token, clip) for _ in range(3)]
        jobs = [job_id_of(url, token, video["id"]) for video in videos]
        statuses = {
            httpx.get(f"{url}/jobs/{j}", headers=bearer(token)).json()["status"] for j in jobs
        }
        assert statuses == {"queued"}

    with live_server(place["DATABASE_URL"], env=place) as url:  # the embedded worker is on
        for job_id in jobs:
            wait_for_job(url, token, job_id, lambda j: j["status"] == "succeeded")
        listed = httpx.get(f"{url}/videos", headers=bearer(token)).json()["data"]
        assert [v["status"] for v in listed] == ["ready"] * 3


def test_twenty_concurrent_uploads_from_five_users_all_become_ready(place, tmp_path):
    clips = [media.mp4(tmp_path / "a.mp4"), media.webm(tmp_path / "b.webm")]
    log = tmp_path / "server.log"
    with live_server(place["DATABASE_URL"], env=place, log=log) as url:
        tokens = [token_for(url, f"user{n}@example.com") for n in range(5)]
        requests = []
        for n in range(20):
            clip = clips[n % 2]
            files = {"file": (clip.name, clip.read_bytes(), "application/octet-stream")}
            requests.append(
                ("POST", f"{url}/videos/upload", {"files": files, "headers": bearer(tokens[n % 5])})
            )

        answers = send_at_once(requests)

        assert [a.status_code for a in answers] == [201] * 20
        deadline = time.monotonic() + 90
        for answer, token in zip(answers, [tokens[n % 5] for n in range(20)], strict=True):
            video_id = answer.json()["id"]
            while True:
                video = httpx.get(f"{url}/videos/{video_id}", headers=bearer(token)).json()
                if video["status"] != "processing":
                    break
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert video["status"] == "ready", video
        for n, token in enumerate(tokens):  # each user sees exactly their four
            listed = httpx.get(f"{url}/videos", headers=bearer(token)).json()["data"]
            assert len(listed) == 4, n
    server_log = log.read_text()
    assert "database is locked" not in server_log
    assert "Traceback" not in server_log


def test_an_aborted_upload_leaves_no_row_and_no_file(place, tmp_path):
    clip = media.mp4(tmp_path / "clip.mp4").read_bytes()
    with live_server(place["DATABASE_URL"], env=place) as url:
        token = token_for(url)
        host, port = urlsplit(url).hostname, urlsplit(url).port
        head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n'
        with socket.create_connection((host, port)) as connection:
            connection.sendall(
                b"POST /videos/upload HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: Bearer {token}\r\n".encode()
                + b"Content-Type: multipart/form-data; boundary=b\r\n"
                + f"Content-Length: {len(head) + 10 * len(clip)}\r\n\r\n".encode()
                + head
                + clip  # then the client goes away, 9/10 of the file unsent
            )
            time.sleep(0.5)  # the server has read and stored what came
        time.sleep(0.5)
        assert httpx.get(f"{url}/videos", headers=bearer(token)).json()["data"] == []
    assert query(place["DATABASE_URL"], "SELECT count(*) FROM video_sources") == [(0,)]
    assert stored_files(Path(place["MEDIA_ROOT"])) == []
