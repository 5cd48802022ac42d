"""Helpers for the video and job tests: upload, wait, read what is stored."""

import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.support.utils import bearer, login, register


def user_token(client: TestClient, email: str = "alice@example.com") -> str:
    assert register(client, email).status_code == 201
    return login(client, email).json()["access_token"]


def upload(client: TestClient, token: str, path: Path, filename: str | None = None):
    with path.open("rb") as file:
        files = {"file": (filename or path.name, file, "application/octet-stream")}
        return client.post("/videos/upload", files=files, headers=bearer(token))


def wait_for(client: TestClient, token: str, url: str, done, timeout: float = 20.0) -> dict:
    """Poll a resource until done(body) holds; the last body."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(url, headers=bearer(token)).json()
        if done(body):
            return body
        assert time.monotonic() < deadline, f"{url} still {body}"
        time.sleep(0.05)


def wait_until_settled(client: TestClient, token: str, video_id: int, **kwargs) -> dict:
    """The video once it is no longer processing."""
    return wait_for(
        client, token, f"/videos/{video_id}", lambda v: v["status"] != "processing", **kwargs
    )


def ingest_job(client: TestClient, token: str, video_id: int) -> dict:
    jobs = client.get(f"/videos/{video_id}/jobs", headers=bearer(token)).json()["data"]
    assert [job["kind"] for job in jobs] == ["ingest"]
    return jobs[0]


def stored_files(media_root: Path) -> list[str]:
    """Every file under the media root, as paths relative to it."""
    return sorted(str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file())
