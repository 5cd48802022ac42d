"""Playback URLs (POST /videos/{id}/playback): signed for one video, no Authorization needed,
the file served with HTTP Range (206/416) or, with S3 storage, a 307 to a presigned URL; the
signature never reaches the access log."""

import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support import media
from tests.support.credits import ready_video
from tests.support.live import live_server
from tests.support.services import s3_server
from tests.support.utils import PASSWORD, bearer
from tests.support.videos import upload, user_token, wait_until_settled

CREDENTIALS = {"email": "alice@example.com", "password": PASSWORD}
EXPECTED_HEADERS = {
    "accept-ranges": "bytes",
    "content-type": "video/mp4",
    "cache-control": "private",
    "referrer-policy": "no-referrer",
}


def playback_url(client, token: str, video_id: int):
    return client.post(f"/videos/{video_id}/playback", headers=bearer(token))


@pytest.fixture
def source(tmp_path) -> Path:
    return media.mp4(tmp_path / "clip.mp4")


@pytest.fixture
def ready(video_client, source) -> tuple:
    """(client, token, the ready video, its signed URL) of a freshly uploaded clip."""
    token = user_token(video_client)
    video = ready_video(video_client, token, source)
    answer = playback_url(video_client, token, video["id"])
    assert answer.status_code == 200, answer.text
    return video_client, token, video, answer.json()["url"]


def play(client, url: str, **headers):
    """GET the URL as a <video> element would: no Authorization, no cookie."""
    client.cookies.clear()
    return client.get(url, headers=headers, follow_redirects=False)


def test_a_ready_video_gets_a_url_signed_for_an_hour(video_client, source):
    token = user_token(video_client)
    video = ready_video(video_client, token, source)
    before = datetime.now(UTC)
    answer = playback_url(video_client, token, video["id"])
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"url", "expires_at"}
    url = urlsplit(body["url"])
    assert (url.scheme, url.netloc, url.path) == ("", "", f"/playback/{video['id']}")
    assert set(parse_qs(url.query)) == {"owner", "expires", "sig"}
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert 3598 <= (expires_at - before).total_seconds() <= 3601
    assert int(parse_qs(url.query)["expires"][0]) == int(expires_at.timestamp())


def test_the_url_plays_the_whole_file_without_authorization(ready, source):
    client, _, _, url = ready
    response = play(client, url)
    assert response.status_code == 200
    assert response.content == source.read_bytes()
    assert response.headers["content-length"] == str(source.stat().st_size)
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers[name] == value, name


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=100-1123", 100, 1124), ("bytes=0-0", 0, 1), ("bytes=-500", None, None)],
)
def test_a_range_request_is_206_with_its_bytes(ready, source, header, start, end):
    client, _, _, url = ready
    data = source.read_bytes()
    if start is None:  # the last 500 bytes
        start, end = len(data) - 500, len(data)
    response = play(client, url, Range=header)
    assert response.status_code == 206
    assert response.content == data[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(data)}"
    assert response.headers["content-length"] == str(end - start)
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers[name] == value, name


def test_a_range_from_past_the_end_is_416(ready, source):
    client, _, _, url = ready
    size = source.stat().st_size
    response = play(client, url, Range=f"bytes={size}-{size + 10}")
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"


def test_head_gives_the_headers_without_the_bytes(ready, source):
    client, _, _, url = ready
    client.cookies.clear()
    whole = client.head(url)
    assert whole.status_code == 200
    assert whole.content == b""
    assert whole.headers["content-length"] == str(source.stat().st_size)
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"
    part = client.head(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 10-19/{source.stat().st_size}"


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query.update(changes)
    query = {name: value for name, value in query.items() if value is not None}
    return parts.path + "?" + "&".join(f"{name}={value}" for name, value in query.items())


def flip(text: str) -> str:
    return ("A" if text[0] != "A" else "B") + text[1:]


def test_an_altered_url_is_403(ready):
    client, _, video, url = ready
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    altered = [
        with_query(url, sig=flip(query["sig"])),
        with_query(url, sig=query["sig"][:-1]),
        with_query(url, sig=None),
        with_query(url, sig=""),
        with_query(url, expires=str(int(query["expires"]) + 3600)),  # a longer life
        with_query(url, expires=None),
        with_query(url, expires="1e9"),
        with_query(url, owner=str(int(query["owner"]) + 1)),
        with_query(url, owner="٣"),  # another spelling of a digit
        f"/playback/{video['id']}",
    ]
    for candidate in altered:
        response = play(client, candidate)
        assert response.status_code == 403, candidate
        assert response.json() == {"detail": "Invalid playback URL"}, candidate


def test_a_url_signed_for_another_video_is_403(ready, source):
    client, token, video, url = ready
    other = ready_video(client, token, source)
    query = urlsplit(url).query
    response = play(client, f"/playback/{other['id']}?{query}")
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid playback URL"}
    # ... and the other video's own URL plays it.
    own = playback_url(client, token, other["id"]).json()["url"]
    assert play(client, own).status_code == 200


def test_an_expired_url_is_403(make_video_client, source):
    client = make_video_client(playback_url_ttl_seconds=1)
    token = user_token(client)
    video = ready_video(client, token, source)
    answer = playback_url(client, token, video["id"]).json()
    expires_at = datetime.fromisoformat(answer["expires_at"])
    while datetime.now(UTC) < expires_at:
        time.sleep(0.1)
    response = play(client, answer["url"])
    assert response.status_code == 403
    assert response.json() == {"detail": "Playback URL expired"}


def test_the_url_of_a_deleted_video_is_404(ready):
    client, token, video, url = ready
    assert client.delete(f"/videos/{video['id']}", headers=bearer(token)).status_code == 204
    response = play(client, url)
    assert response.status_code == 404
    assert response.json() == {"detail": "Video not found"}


def test_the_url_of_a_deleted_video_does_not_play_a_new_video_with_its_id(ready, source):
    """SQLite may give the id of the deleted newest row to the next one: the URL names the
    owner too, so another user's new video under that id is not played."""
    client, token, video, url = ready
    assert client.delete(f"/videos/{video['id']}", headers=bearer(token)).status_code == 204
    other = user_token(client, "bob@example.com")
    reused = ready_video(client, other, source)
    if reused["id"] != video["id"]:
        pytest.skip("the database did not reuse the id")
    assert play(client, url).status_code == 404


def test_a_playback_url_is_404_for_another_users_video_or_none(ready):
    client, _, video, _ = ready
    stranger = user_token(client, "mallory@example.com")
    for video_id in (video["id"], video["id"] + 100):
        response = playback_url(client, stranger, video_id)
        assert response.status_code == 404
        assert response.json() == {"detail": "Video not found"}
    assert client.post(f"/videos/{video['id']}/playback").status_code == 401


def test_a_video_that_is_not_ready_has_no_playback_url(client, tmp_path):
    # No worker in this app: the upload stays `processing`.
    token = user_token(client)
    created = upload(client, token, media.mp4(tmp_path / "a.mp4")).json()
    assert created["status"] == "processing"
    response = playback_url(client, token, created["id"])
    assert response.status_code == 409
    assert response.json() == {"detail": "Video is not ready"}


def test_a_failed_video_has_no_playback_url(video_client, tmp_path):
    token = user_token(video_client)
    created = upload(video_client, token, media.truncated(tmp_path / "broken.mp4")).json()
    video = wait_until_settled(video_client, token, created["id"])
    assert video["status"] == "failed"
    response = playback_url(video_client, token, video["id"])
    assert response.status_code == 409
    assert response.json() == {"detail": "Video is not ready"}


def test_the_signature_never_reaches_the_access_log(tmp_path, source):
    log = tmp_path / "uvicorn.log"
    env = {
        "MEDIA_ROOT": str(tmp_path / "media"),
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "WEBAPP_DIR": str(tmp_path / "no-app"),
    }
    database = f"sqlite:///{tmp_path / 'app.db'}"
    with (
        live_server(database, env=env, log=log, access_log=True) as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        token = user_token(http)
        video = ready_video(http, token, source)
        url = playback_url(http, token, video["id"]).json()["url"]
        signature = parse_qs(urlsplit(url).query)["sig"][0]
        assert http.get(url, headers={"Range": "bytes=0-99"}).status_code == 206
        assert http.get(with_query(url, sig=flip(signature))).status_code == 403
    text = log.read_text()
    assert f"/playback/{video['id']}?[redacted]" in text  # the access log did print the requests
    assert text.count(f'"GET /playback/{video["id"]}?[redacted] HTTP/1.1" 206') == 1
    assert signature not in text
    assert signature[:16] not in text
    assert "sig=" not in text


# ---- S3 storage: a redirect to the store, which serves the ranges


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


def test_with_s3_storage_the_url_redirects_to_a_presigned_url_that_serves_ranges(
    s3, make_video_client, source
):
    bucket = s3.new_bucket()
    client = make_video_client(
        storage_backend="s3",
        s3_bucket=bucket,
        s3_endpoint_url=s3.url,
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
    )
    token = user_token(client)
    video = ready_video(client, token, source)
    url = playback_url(client, token, video["id"]).json()["url"]

    response = play(client, url)
    assert response.status_code == 307
    assert response.headers["cache-control"] == "private"
    assert response.headers["referrer-policy"] == "no-referrer"
    location = response.headers["location"]
    assert location.startswith(f"{s3.url}/{bucket}/videos/{video['id']}/source?")
    presigned = parse_qs(urlsplit(location).query)
    assert 3590 <= int(presigned["X-Amz-Expires"][0]) <= 3600  # no longer than the URL

    data = source.read_bytes()
    ranged = httpx.get(location, headers={"Range": "bytes=100-1123"})  # no credentials
    assert ranged.status_code == 206
    assert ranged.content == data[100:1124]
    assert ranged.headers["content-range"] == f"bytes 100-1123/{len(data)}"
    assert ranged.headers["content-type"] == "video/mp4"
    assert httpx.get(location).content == data
    # An altered playback URL gets no presigned URL.
    altered = play(client, with_query(url, sig=flip(parse_qs(urlsplit(url).query)["sig"][0])))
    assert altered.status_code == 403
    assert "location" not in altered.headers
