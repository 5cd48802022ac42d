"""Upload -> ingest -> ready or failed, through the API with the embedded worker."""

import hashlib
import io

import pytest
from PIL import Image

from app.upload import display_name
from tests.support import media
from tests.support.utils import bearer
from tests.support.videos import (
    assert_thumbnail_is_cached_by_its_etag,
    ingest_job,
    stored_files,
    upload,
    user_token,
    wait_until_settled,
)


@pytest.fixture
def token(video_client) -> str:
    return user_token(video_client)


def media_root(client):
    return client.app.state.settings.media_root.resolve()


def test_an_uploaded_mp4_becomes_ready_with_its_metadata_and_a_thumbnail(
    video_client, token, tmp_path
):
    source = media.mp4(tmp_path / "clip.mp4")

    response = upload(video_client, token, source, "My holiday.mp4")

    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/videos/{created['id']}"
    assert created["status"] == "processing"
    assert created["origin"] == "upload"
    assert created["filename"] == "My holiday.mp4"
    assert created["size_bytes"] == source.stat().st_size
    assert created["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert created["content_type"] == "video/mp4"
    assert created["duration_seconds"] is None and created["thumbnail_url"] is None

    video = wait_until_settled(video_client, token, created["id"])
    assert video["status"] == "ready", video
    assert video["error"] is None
    assert video["duration_seconds"] == pytest.approx(2.0, abs=0.1)
    assert (video["width"], video["height"], video["fps"]) == (320, 240, 25.0)
    assert (video["video_codec"], video["audio_codec"], video["has_audio"]) == ("h264", "aac", True)
    assert video["thumbnail_url"] == f"/videos/{video['id']}/thumbnail"

    job = ingest_job(video_client, token, video["id"])
    assert job["status"] == "succeeded" and job["progress"] == 1.0 and job["attempts"] == 1
    assert job["started_at"] and job["finished_at"] and job["error"] is None

    thumbnail = video_client.get(video["thumbnail_url"], headers=bearer(token))
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(thumbnail.content))
    assert image.format == "JPEG" and image.size == (320, 240)

    # Named by id, never by the client's file name; the stored bytes are the uploaded ones.
    root = media_root(video_client)
    vid = video["id"]
    assert stored_files(root) == [f"videos/{vid}/source", f"videos/{vid}/thumbnail.jpg"]
    assert (root / f"videos/{vid}/source").read_bytes() == source.read_bytes()


def test_webm_and_a_video_without_audio_are_ready_with_null_audio_codec(
    video_client, token, tmp_path
):
    webm = upload(video_client, token, media.webm(tmp_path / "a.webm")).json()
    silent = upload(video_client, token, media.mp4_without_audio(tmp_path / "s.mp4")).json()
    assert webm["content_type"] == "video/webm"

    webm = wait_until_settled(video_client, token, webm["id"])
    silent = wait_until_settled(video_client, token, silent["id"])

    assert (webm["status"], webm["video_codec"], webm["audio_codec"]) == ("ready", "vp9", "opus")
    assert silent["status"] == "ready"
    assert (silent["has_audio"], silent["audio_codec"]) == (False, None)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (media.audio_only, "no_video_stream"),
        (media.truncated, "unreadable_media"),
    ],
)
def test_a_file_that_cannot_be_used_ends_failed_with_its_code(
    video_client, token, tmp_path, make, code
):
    created = upload(video_client, token, make(tmp_path / "bad.mp4"))
    assert created.status_code == 201  # the container's first bytes are fine

    video = wait_until_settled(video_client, token, created.json()["id"])

    assert video["status"] == "failed"
    assert video["error"]["code"] == code and video["error"]["message"]
    assert video["duration_seconds"] is None and video["thumbnail_url"] is None
    job = ingest_job(video_client, token, video["id"])
    assert job["status"] == "failed" and job["error"]["code"] == code and job["attempts"] == 1
    # The worker survived: the next good file is processed.
    good = upload(video_client, token, media.mp4(tmp_path / "good.mp4")).json()
    assert wait_until_settled(video_client, token, good["id"])["status"] == "ready"


@pytest.mark.parametrize(
    ("setting", "code"),
    [
        ({"max_video_seconds": 1.5}, "duration_exceeded"),
        ({"max_video_side": 300}, "dimensions_exceeded"),
    ],
)
def test_declared_limits_fail_the_video_before_decoding(make_video_client, tmp_path, setting, code):
    client = make_video_client(**setting)
    token = user_token(client)
    created = upload(client, token, media.mp4(tmp_path / "a.mp4")).json()

    video = wait_until_settled(client, token, created["id"])

    assert (video["status"], video["error"]["code"]) == ("failed", code)
    assert not (media_root(client) / f"videos/{video['id']}/thumbnail.jpg").exists()


def test_a_probe_past_its_wall_clock_limit_is_killed_and_the_video_fails(
    make_video_client, tmp_path
):
    client = make_video_client(media_timeout_seconds=0.01)
    token = user_token(client)
    created = upload(client, token, media.mp4(tmp_path / "a.mp4")).json()

    video = wait_until_settled(client, token, created["id"])

    assert video["error"] == {
        "code": "unreadable_media",
        "message": "Reading the file took too long",
    }


@pytest.mark.parametrize(
    "content",
    [
        b"just some text, named like a video\n" * 40,
        b"#EXTM3U\n#EXTINF:2,\n/etc/passwd\n",
        b"ffconcat version 1.0\nfile '/etc/passwd'\n",
        b"<html><body>not a video</body></html>",
    ],
    ids=["text", "hls-playlist", "ffconcat", "html"],
)
def test_a_file_that_is_no_video_container_is_415_and_nothing_is_kept(
    video_client, token, session, content
):
    files = {"file": ("movie.mp4", content, "video/mp4")}

    response = video_client.post("/videos/upload", files=files, headers=bearer(token))

    assert response.status_code == 415
    assert response.json() == {"detail": "Unsupported media type"}
    assert video_client.get("/videos", headers=bearer(token)).json()["data"] == []
    assert stored_files(media_root(video_client)) == []


def test_the_thumbnail_has_an_etag_and_answers_if_none_match_with_304(
    video_client, token, tmp_path
):
    created = upload(video_client, token, media.mp4(tmp_path / "clip.mp4")).json()
    video = wait_until_settled(video_client, token, created["id"])

    assert_thumbnail_is_cached_by_its_etag(video_client, token, video)
    # The tag is the stored file's: written again (a new file renamed into place), a new tag.
    path = media_root(video_client) / f"videos/{video['id']}/thumbnail.jpg"
    etag = video_client.get(video["thumbnail_url"], headers=bearer(token)).headers["etag"]
    replacement = path.with_name("new.jpg")
    replacement.write_bytes(path.read_bytes() + b"\0")
    replacement.replace(path)
    changed = video_client.get(
        video["thumbnail_url"], headers={**bearer(token), "If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_an_empty_file_is_415_saying_it_is_empty_and_nothing_is_kept(video_client, token):
    files = {"file": ("movie.mp4", b"", "video/mp4")}

    response = video_client.post("/videos/upload", files=files, headers=bearer(token))

    assert response.status_code == 415
    assert response.json() == {"detail": "The file is empty"}
    assert video_client.get("/videos", headers=bearer(token)).json()["data"] == []
    assert stored_files(media_root(video_client)) == []


def test_the_file_name_is_only_displayed_never_used_as_a_path(video_client, token, tmp_path):
    source = media.mp4(tmp_path / "a.mp4")
    created = upload(video_client, token, source, "../../etc/evil.mp4").json()

    assert created["filename"] == "evil.mp4"
    wait_until_settled(video_client, token, created["id"])
    vid = created["id"]
    assert stored_files(media_root(video_client)) == [
        f"videos/{vid}/source",
        f"videos/{vid}/thumbnail.jpg",
    ]


def test_deleting_a_video_removes_its_row_jobs_and_files(video_client, token, tmp_path):
    created = upload(video_client, token, media.mp4(tmp_path / "a.mp4")).json()
    video = wait_until_settled(video_client, token, created["id"])
    job = ingest_job(video_client, token, video["id"])

    response = video_client.delete(f"/videos/{video['id']}", headers=bearer(token))

    assert response.status_code == 204
    assert video_client.get(f"/videos/{video['id']}", headers=bearer(token)).status_code == 404
    assert video_client.get(f"/jobs/{job['id']}", headers=bearer(token)).status_code == 404
    thumbnail = video_client.get(f"/videos/{video['id']}/thumbnail", headers=bearer(token))
    assert thumbnail.status_code == 404
    assert stored_files(media_root(video_client)) == []


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"C:\\Users\\me\\clip.mp4", "clip.mp4"),
        (b"evil\x07\x00name.mp4", "evilname.mp4"),
        (b"/", None),
        ("caf\u00e9.mp4".encode(), "caf\u00e9.mp4"),
        (b"\xff\xfe.mp4", "\ufffd\ufffd.mp4"),
        (b"x" * 300, "x" * 255),
    ],
)
def test_display_name_keeps_a_readable_base_name(raw, shown):
    assert display_name(raw) == shown
