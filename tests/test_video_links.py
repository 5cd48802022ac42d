"""POST /videos/link: the ingest job downloads through app/fetch.py, against local
servers only.

With LINK_ALLOW_PRIVATE the local origin server (127.0.0.1) stands in for a media host; with the
default policy every private destination is refused, at the request or at the hop.
"""

import hashlib
import json

import pytest

from app import fetch
from tests.support import media
from tests.support.origin import origin_server
from tests.support.utils import bearer
from tests.support.videos import ingest_job, stored_files, user_token, wait_for, wait_until_settled


@pytest.fixture
def clip(tmp_path) -> bytes:
    return media.mp4(tmp_path / "clip.mp4").read_bytes()


@pytest.fixture
def link_client(make_video_client):
    """Private addresses allowed (the origin server is on loopback); short timeouts."""
    return make_video_client(
        link_allow_private=True,
        link_read_timeout_seconds=1,
        link_download_timeout_seconds=4,
        max_upload_bytes=200_000,
    )


def add_link(client, token: str, url: str):
    return client.post("/videos/link", json={"url": url}, headers=bearer(token))


def files_under(client) -> list[str]:
    return stored_files(client.app.state.settings.media_root.resolve())


def test_a_link_is_downloaded_probed_and_ready_with_its_sha256(link_client, clip):
    token = user_token(link_client)
    with origin_server(files={"/clip.mp4": ("video/mp4", clip)}) as origin:
        url = origin.url("/clip.mp4")
        response = add_link(link_client, token, url)
        assert response.status_code == 201
        created = response.json()
        assert response.headers["location"] == f"/videos/{created['id']}"
        assert (created["origin"], created["source_url"], created["status"]) == (
            "link",
            url,
            "processing",
        )
        assert created["filename"] is None and created["sha256"] is None

        video = wait_until_settled(link_client, token, created["id"])

    assert video["status"] == "ready", video
    assert video["sha256"] == hashlib.sha256(clip).hexdigest()
    assert (video["size_bytes"], video["content_type"]) == (len(clip), "video/mp4")
    assert (video["width"], video["height"], video["video_codec"]) == (320, 240, "h264")
    assert video["thumbnail_url"]
    assert origin.paths == ["/clip.mp4"]
    assert files_under(link_client) == [
        f"videos/{video['id']}/source",
        f"videos/{video['id']}/thumbnail.jpg",
    ]


def test_progress_rises_during_a_slow_download(link_client, clip):
    token = user_token(link_client)
    with origin_server(files={"/clip.mp4": ("video/mp4", clip)}) as origin:
        created = add_link(link_client, token, origin.url("/clip.mp4?chunk=2000&delay=0.1"))
        job_id = ingest_job(link_client, token, created.json()["id"])["id"]
        events = []
        url = f"/jobs/{job_id}/events"
        with link_client.stream("GET", url, headers=bearer(token)) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: ")))

    downloading = [e["progress"] for e in events if e["stage"] == "downloading"]
    assert len(set(downloading)) >= 3, events  # several distinct steps while bytes arrive
    assert downloading == sorted(downloading) and 0 < max(downloading) <= 0.6
    assert events[-1]["status"] == "succeeded" and events[-1]["progress"] == 1.0


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.mp4",
        "file:///etc/passwd",
        "http://user:pass@example.com/a.mp4",
        "http://127.0.0.1/a.mp4",
        "http://localhost/a.mp4",
        "http://sub.localhost/a.mp4",
        "http://10.1.2.3/a.mp4",
        "http://192.168.0.10/a.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/a.mp4",
        "http://[::ffff:127.0.0.1]/a.mp4",
        "http://[fe80::1]/a.mp4",
        "http://2130706433/a.mp4",
        "http://0177.0.0.1/a.mp4",
        "http://0x7f.0.0.1/a.mp4",
        "http://127.1/a.mp4",
        "http://0/a.mp4",
        "https://example.com/" + "a" * 2048,
        "not a url",
    ],
)
def test_links_that_can_never_be_fetched_are_422_at_the_request(video_client, url):
    token = user_token(video_client)

    response = add_link(video_client, token, url)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "url"]
    assert video_client.get("/videos", headers=bearer(token)).json()["data"] == []


def test_a_host_resolving_to_loopback_fails_without_any_connection(video_client, clip, monkeypatch):
    token = user_token(video_client)
    with origin_server(files={"/clip.mp4": ("video/mp4", clip)}) as origin:
        # The stub resolver stands in for DNS: a public-looking name with a loopback answer.
        monkeypatch.setattr(fetch, "resolve_host", lambda host, port: ["127.0.0.1"])
        created = add_link(video_client, token, f"http://media.example:{origin.port}/clip.mp4")
        assert created.status_code == 201

        video = wait_until_settled(video_client, token, created.json()["id"])

    assert (video["status"], video["error"]["code"]) == ("failed", "url_not_allowed")
    assert origin.connections == 0 and origin.requests == []
    assert files_under(video_client) == []


def test_a_redirect_from_an_allowed_host_to_a_private_one_is_refused_at_that_hop(
    video_client, clip, monkeypatch
):
    """127.0.0.1 plays a public host (the policy is told so); 127.0.0.2 stays private."""
    token = user_token(video_client)
    real_policy = fetch.address_allowed
    monkeypatch.setattr(
        fetch,
        "address_allowed",
        lambda ip, allow_private=False: str(ip) == "127.0.0.1" or real_policy(ip),
    )
    with (
        origin_server("127.0.0.2", files={"/clip.mp4": ("video/mp4", clip)}) as inside,
        origin_server() as outside,
    ):
        target = inside.url("/clip.mp4")
        created = add_link(video_client, token, outside.url(f"/to?url={target}"))
        assert created.status_code == 201
        video = wait_until_settled(video_client, token, created.json()["id"])

    assert (video["status"], video["error"]["code"]) == ("failed", "url_not_allowed")
    assert "Redirect 1" in video["error"]["message"]
    assert outside.paths == [f"/to?url={target}"]
    assert inside.connections == 0


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/redirect/6", "download_failed"),
        ("/status/404", "download_failed"),
        ("/stall", "download_failed"),
        ("/big.mp4", "file_too_large"),  # Content-Length over the cap
        ("/big.mp4?mode=lying", "file_too_large"),  # says 10 bytes, sends more
        ("/big.mp4?mode=close", "file_too_large"),  # no length at all
        ("/page.html", "unsupported_media"),
        ("/list.m3u8", "unsupported_media"),
    ],
)
def test_a_link_that_cannot_give_a_video_ends_failed_with_its_code(link_client, clip, path, code):
    token = user_token(link_client)
    files = {
        "/big.mp4": ("video/mp4", clip + bytes(300_000)),  # a video's first bytes, past the cap
        "/page.html": ("text/html", b"<!doctype html><html><body>a video page</body></html>"),
        "/list.m3u8": ("application/vnd.apple.mpegurl", b"#EXTM3U\n#EXTINF:2,\nseg.ts\n"),
    }
    with origin_server(files=files) as origin:
        created = add_link(link_client, token, origin.url(path))
        video = wait_until_settled(link_client, token, created.json()["id"], timeout=30)

    assert (video["status"], video["error"]["code"]) == ("failed", code), video
    job = ingest_job(link_client, token, video["id"])
    assert (job["status"], job["error"]["code"], job["attempts"]) == ("failed", code, 1)
    assert files_under(link_client) == []  # no partial file


def test_a_refused_connection_is_download_failed(link_client):
    token = user_token(link_client)
    with origin_server() as origin:
        url = origin.url("/clip.mp4")  # the port is free again once the server stopped
    created = add_link(link_client, token, url)

    video = wait_until_settled(link_client, token, created.json()["id"])

    assert video["error"]["code"] == "download_failed"


def test_cancel_during_a_slow_download_stops_it_and_removes_the_partial_file(link_client, clip):
    token = user_token(link_client)
    slow = clip + bytes(150_000)  # a real video's first bytes, then more than it takes to cancel
    with origin_server(files={"/slow.mp4": ("video/mp4", slow)}) as origin:
        created = add_link(link_client, token, origin.url("/slow.mp4?chunk=1000&delay=0.02"))
        video_id = created.json()["id"]
        job = wait_for(
            link_client,
            token,
            f"/jobs/{ingest_job(link_client, token, video_id)['id']}",
            lambda j: j["stage"] == "downloading" and j["progress"] > 0,
        )

        canceled = link_client.post(f"/jobs/{job['id']}/cancel", headers=bearer(token))

        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        assert origin.aborted.wait(5)  # the worker hung up mid-body
    link_client.app.state.worker.stop()  # the worker thread has let go of the job
    video = link_client.get(f"/videos/{video_id}", headers=bearer(token)).json()
    assert (video["status"], video["error"]["code"]) == ("failed", "canceled")
    assert files_under(link_client) == []


def test_too_many_videos_processing_applies_to_links_too(make_video_client):
    client = make_video_client(embedded_worker=False, max_active_ingests=1, link_allow_private=True)
    token = user_token(client)
    assert add_link(client, token, "http://127.0.0.1:9/a.mp4").status_code == 201

    response = add_link(client, token, "http://127.0.0.1:9/b.mp4")

    assert response.status_code == 429 and response.headers["retry-after"]
