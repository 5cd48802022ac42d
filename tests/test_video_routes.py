"""The video and job routes: limits, ownership, pagination, cancel and the event stream."""

import json
import threading

import pytest
from sqlmodel import Session

from app.models import VideoSource
from app.pipeline import media as app_media
from tests.support import media
from tests.support.utils import bearer
from tests.support.videos import (
    ingest_job,
    stored_files,
    upload,
    user_token,
    wait_for,
    wait_until_settled,
)


@pytest.fixture
def clip(tmp_path):
    return media.mp4(tmp_path / "clip.mp4")


@pytest.fixture
def queued_client(make_video_client):
    """No worker: every job stays queued."""
    return make_video_client(embedded_worker=False, max_active_ingests=50)


def files_under(client) -> list[str]:
    return stored_files(client.app.state.settings.media_root.resolve())


# ---- the upload's limits


def test_upload_without_a_token_is_401_before_reading_the_body(video_client, clip):
    with clip.open("rb") as file:
        response = video_client.post("/videos/upload", files={"file": file})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert files_under(video_client) == []


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "chunked"])
def test_a_file_past_max_upload_bytes_is_413_and_nothing_is_kept(
    make_video_client, clip, session, send_length
):
    client = make_video_client(max_upload_bytes=10_000)
    token = user_token(client)
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n'
        f"Content-Type: video/mp4\r\n\r\n".encode()
        + clip.read_bytes()  # about 25 KB
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {**bearer(token), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    content = body if send_length else (body[i : i + 4096] for i in range(0, len(body), 4096))

    response = client.post("/videos/upload", content=content, headers=headers)

    assert response.status_code == 413
    # The limit in readable units and in bytes.
    assert response.json() == {
        "detail": "The file is larger than the limit of 9.8 KiB (10000 bytes)"
    }
    assert client.get("/videos", headers=bearer(token)).json()["data"] == []
    assert files_under(client) == []


def test_a_declared_length_far_past_the_cap_is_refused_unread(make_video_client):
    client = make_video_client(max_upload_bytes=10_000)
    token = user_token(client)
    headers = {
        **bearer(token),
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(10**9),
    }

    response = client.post("/videos/upload", content=b"", headers=headers)

    assert response.status_code == 413


def test_the_64_kib_limit_still_holds_on_every_other_route(video_client):
    response = video_client.post("/auth/register", content=b"x" * (65 * 1024))
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nhello\r\n--b--\r\n', "b"),
        (b'{"file": "x"}', None),
        (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n', "b"),
    ],
    ids=["no-file-field", "json-body", "unterminated"],
)
def test_a_body_without_a_complete_file_field_is_422(video_client, content, content_type):
    token = user_token(video_client)
    headers = {
        **bearer(token),
        "Content-Type": f"multipart/form-data; boundary={content_type}"
        if content_type
        else "application/json",
    }

    response = video_client.post("/videos/upload", content=content, headers=headers)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]
    assert files_under(video_client) == []


def test_too_many_videos_processing_is_429_with_retry_after(make_video_client, clip):
    client = make_video_client(embedded_worker=False, max_active_ingests=2)
    token = user_token(client)
    assert [upload(client, token, clip).status_code for _ in range(2)] == [201, 201]

    response = upload(client, token, clip)

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "processing" in response.json()["detail"]
    other = user_token(client, "bob@example.com")  # the limit is per user
    assert upload(client, other, clip).status_code == 201


# ---- which job to watch


def test_the_upload_and_the_link_name_their_ingest_job_and_the_reads_too(queued_client, clip):
    """Nobody needs to guess that job 1 belongs to video 1: here they differ."""
    client = queued_client
    token = user_token(client)
    with Session(client.app.state.engine) as session:  # a video that never had an ingest job
        old = VideoSource(user_id=1, origin="upload", status="ready")
        session.add(old)
        session.commit()
        old_id = old.id

    uploaded = upload(client, token, clip)
    linked = client.post(
        "/videos/link", json={"url": "https://example.com/a.mp4"}, headers=bearer(token)
    )

    assert (uploaded.status_code, linked.status_code) == (201, 201)
    watch = {}
    for created in (uploaded.json(), linked.json()):
        job = ingest_job(client, token, created["id"])
        assert created["ingest_job_id"] == job["id"]
        assert created["ingest_job_id"] != created["id"]
        watched = client.get(f"/jobs/{job['id']}", headers=bearer(token)).json()
        assert (watched["kind"], watched["video_id"]) == ("ingest", created["id"])
        watch[created["id"]] = job["id"]
    watch[old_id] = None
    for video_id, job_id in watch.items():
        read = client.get(f"/videos/{video_id}", headers=bearer(token)).json()
        assert read["ingest_job_id"] == job_id
    listed = client.get("/videos", headers=bearer(token)).json()["data"]
    assert {video["id"]: video["ingest_job_id"] for video in listed} == watch
    # Paged too: one video a page.
    first = client.get("/videos?limit=1", headers=bearer(token)).json()
    second = client.get(f"/videos?limit=1&cursor={first['next_cursor']}", headers=bearer(token))
    assert [v["ingest_job_id"] for v in first["data"] + second.json()["data"]] == [
        watch[linked.json()["id"]],
        watch[uploaded.json()["id"]],
    ]


# ---- ownership


def test_another_users_video_and_job_answer_like_ids_that_do_not_exist(queued_client, clip):
    alice = user_token(queued_client)
    bob = user_token(queued_client, "bob@example.com")
    video = upload(queued_client, alice, clip).json()
    job = ingest_job(queued_client, alice, video["id"])

    for method, url in [
        ("GET", f"/videos/{video['id']}"),
        ("DELETE", f"/videos/{video['id']}"),
        ("GET", f"/videos/{video['id']}/thumbnail"),
        ("GET", f"/videos/{video['id']}/jobs"),
    ]:
        for video_id in (video["id"], 999_999):
            response = queued_client.request(
                method, url.replace(str(video["id"]), str(video_id)), headers=bearer(bob)
            )
            assert (response.status_code, response.json()) == (
                404,
                {"detail": "Video not found"},
            ), (method, url)
    for method, url in [
        ("GET", f"/jobs/{job['id']}"),
        ("POST", f"/jobs/{job['id']}/cancel"),
        ("GET", f"/jobs/{job['id']}/events"),
    ]:
        response = queued_client.request(method, url, headers=bearer(bob))
        assert (response.status_code, response.json()) == (404, {"detail": "Job not found"})
    assert queued_client.get("/videos", headers=bearer(bob)).json() == {
        "data": [],
        "next_cursor": None,
    }
    # Nothing of Alice's changed.
    assert queued_client.get(f"/jobs/{job['id']}", headers=bearer(alice)).json() == job


# ---- pagination


def test_pages_walk_every_video_once_newest_first_while_new_ones_arrive(queued_client, clip):
    token = user_token(queued_client)
    first = [upload(queued_client, token, clip).json()["id"] for _ in range(7)]

    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = queued_client.get("/videos", params=params, headers=bearer(token)).json()
        seen += [video["id"] for video in page["data"]]
        upload(queued_client, token, clip)  # a new video arrives between pages
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted(first, reverse=True)


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"cursor": "nonsense"}, {"cursor": "aWQ6LTE"}, {"cursor": ""}],
)
def test_a_bad_limit_or_cursor_is_422(queued_client, params):
    token = user_token(queued_client)
    assert queued_client.get("/videos", params=params, headers=bearer(token)).status_code == 422


# ---- cancel


def test_cancel_of_a_queued_job_cancels_it_and_fails_its_video(queued_client, clip):
    token = user_token(queued_client)
    video = upload(queued_client, token, clip).json()
    job = ingest_job(queued_client, token, video["id"])
    assert job["status"] == "queued"

    response = queued_client.post(f"/jobs/{job['id']}/cancel", headers=bearer(token))

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert response.json()["finished_at"] is not None
    video = queued_client.get(f"/videos/{video['id']}", headers=bearer(token)).json()
    assert (video["status"], video["error"]["code"]) == ("failed", "canceled")
    again = queued_client.post(f"/jobs/{job['id']}/cancel", headers=bearer(token))
    assert (again.status_code, again.json()) == (409, {"detail": "Job already finished"})


@pytest.fixture
def held_probe(monkeypatch):
    """The probe waits until released, so a job can be caught while it runs."""
    started, release = threading.Event(), threading.Event()
    real_probe = app_media.probe

    def probe(*args, **kwargs):
        started.set()
        assert release.wait(20)
        return real_probe(*args, **kwargs)

    monkeypatch.setattr(app_media, "probe", probe)
    yield started, release
    release.set()


def test_cancel_of_a_running_job_stops_it_at_its_next_checkpoint(video_client, clip, held_probe):
    started, release = held_probe
    token = user_token(video_client)
    video = upload(video_client, token, clip).json()
    assert started.wait(10)
    job = ingest_job(video_client, token, video["id"])
    assert (job["status"], job["stage"]) == ("running", "probing")

    response = video_client.post(f"/jobs/{job['id']}/cancel", headers=bearer(token))
    release.set()

    assert response.status_code == 200 and response.json()["status"] == "canceled"
    # The worker stops at the thumbnail checkpoint: no thumbnail, the job stays canceled.
    wait_for(video_client, token, f"/jobs/{job['id']}", lambda j: j["status"] == "canceled")
    video_client.app.state.worker.stop()  # waits for the worker thread to let go of the job
    job = video_client.get(f"/jobs/{job['id']}", headers=bearer(token)).json()
    assert job["status"] == "canceled" and job["error"]["code"] == "canceled"
    video = video_client.get(f"/videos/{video['id']}", headers=bearer(token)).json()
    assert (video["status"], video["error"]["code"], video["thumbnail_url"]) == (
        "failed",
        "canceled",
        None,
    )
    assert files_under(video_client) == [f"videos/{video['id']}/source"]


# ---- the event stream


def read_events(client, token: str, job_id: int, **headers) -> list[dict]:
    events: list[dict] = []
    url = f"/jobs/{job_id}/events"
    with client.stream("GET", url, headers={**bearer(token), **headers}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event: dict = {}
        for line in response.iter_lines():
            if not line:
                if "data" in event:
                    events.append(event)
                event = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                event[name] = value
    return events


def test_the_event_stream_delivers_each_change_in_order_and_ends(video_client, clip, held_probe):
    started, release = held_probe
    token = user_token(video_client)
    video = upload(video_client, token, clip).json()
    job_id = ingest_job(video_client, token, video["id"])["id"]
    threading.Timer(0.6, release.set).start()

    events = read_events(video_client, token, job_id)

    assert {event["event"] for event in events} == {"job"}
    ids = [int(event["id"]) for event in events]
    assert ids == sorted(set(ids))  # strictly increasing
    jobs = [json.loads(event["data"]) for event in events]
    statuses = [job["status"] for job in jobs]
    assert statuses[-1] == "succeeded" and "running" in statuses
    order = ["queued", "running", "succeeded"]
    assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses)
    progress = [job["progress"] for job in jobs]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert "probing" in [job["stage"] for job in jobs]
    # Resuming after the last event: nothing more to say, and the stream ends at once.
    assert read_events(video_client, token, job_id, **{"Last-Event-ID": str(ids[-1])}) == []
    # A new connection without Last-Event-ID gets the job as it is now.
    assert [json.loads(e["data"]) for e in read_events(video_client, token, job_id)] == [jobs[-1]]
    assert wait_until_settled(video_client, token, video["id"])["status"] == "ready"


def test_a_method_a_path_does_not_serve_is_405_naming_every_method_it_does(video_client):
    token = user_token(video_client)

    options = video_client.options("/videos/1", headers=bearer(token))
    get_upload = video_client.get("/videos/upload", headers=bearer(token))

    assert (options.status_code, options.headers["allow"]) == (405, "DELETE, GET")
    assert (get_upload.status_code, get_upload.headers["allow"]) == (405, "POST")


def test_a_commit_that_fails_after_the_file_moved_leaves_no_file_and_no_row(
    video_client, clip, monkeypatch
):
    from sqlmodel import Session

    from app.storage.local import LocalStorage

    token = user_token(video_client)
    moved = []
    real_move, real_commit = LocalStorage.commit, Session.commit

    def move(self, pending, key):
        real_move(self, pending, key)
        moved.append(key)

    def commit(self):
        if moved:  # the database fails just after the file went into place
            raise RuntimeError("the database went away")
        real_commit(self)

    with monkeypatch.context() as patch:
        patch.setattr(LocalStorage, "commit", move)
        patch.setattr(Session, "commit", commit)
        with clip.open("rb") as file:
            response = video_client.post(
                "/videos/upload", files={"file": file}, headers=bearer(token)
            )

    assert moved == ["videos/1/source"]
    assert response.status_code == 500
    assert video_client.get("/videos", headers=bearer(token)).json()["data"] == []
    assert files_under(video_client) == []
