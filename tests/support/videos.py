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


def assert_thumbnail_is_cached_by_its_etag(client: TestClient, token: str, video: dict) -> None:
    """ETag and `Cache-Control: private, no-cache`; If-None-Match with it is 304, no body."""
    first = client.get(video["thumbnail_url"], headers=bearer(token))
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
    assert first.headers["cache-control"] == "private, no-cache"

    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(video["thumbnail_url"], headers={**bearer(token), "If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "private, no-cache"
    stale = client.get(video["thumbnail_url"], headers={**bearer(token), "If-None-Match": '"old"'})
    assert stale.status_code == 200 and stale.content == first.content
    assert stale.headers["etag"] == etag
    # Still the owner's alone: no token, no answer, whatever the tag.
    anonymous = client.get(video["thumbnail_url"], headers={"If-None-Match": etag})
    assert anonymous.status_code == 401
