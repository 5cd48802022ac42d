"""The read path of bearer requests: the current user (and, for GET /videos/{id} and
GET /jobs/{id}, the object) in one query on a DBAPI cursor, turned into the Read models.

What it must keep from the ORM path it replaced: the same values (aware datetimes, booleans,
the derived `error`, `thumbnail_url` and `result_url`), fresh data on every request, and no
connection left checked out. Issue 15; figures in bench/README.md."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from app import crud, db
from app.models import ProcessingJob, User, VideoSource
from tests.support.utils import bearer, login, register


@pytest.fixture
def alice(client) -> tuple[str, int]:
    """Alice's access token and user id."""
    user_id = register(client).json()["id"]
    return login(client).json()["access_token"], user_id


def add_video_and_job(engine, user_id: int, **video_fields) -> tuple[int, int]:
    """A video and a finished job of it, stored directly with every column set."""
    moment = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    with Session(engine) as session:
        video = VideoSource(
            user_id=user_id,
            origin="link",
            filename="clip.mp4",
            source_url="https://example.com/clip.mp4",
            status="ready",
            size_bytes=5 * 2**30,  # past 32 bits
            sha256="ab" * 32,
            content_type="video/mp4",
            duration_seconds=12.5,
            width=1920,
            height=1080,
            fps=29.97,
            video_codec="h264",
            audio_codec="aac",
            has_audio=True,
            has_thumbnail=True,
            created_at=moment,
            updated_at=moment,
            **video_fields,
        )
        session.add(video)
        session.flush()
        job = ProcessingJob(
            video_id=video.id,
            user_id=user_id,
            kind="extract_audio",
            status="failed",
            stage="extracting",
            progress=0.5,
            attempts=2,
            credits_charged=3,
            error_code="internal_error",
            error_message="The worker stopped",
            result_key=f"jobs/{video.id}/audio.flac",
            result_type="audio/flac",
            created_at=moment,
            enqueued_at=moment,
            started_at=moment,
            finished_at=moment,
        )
        session.add(job)
        session.commit()
        return video.id, job.id


@pytest.mark.parametrize("owned", [None, "video", "job"])
def test_the_driver_read_gives_the_values_core_gives(client, alice, owned):
    engine = client.app.state.engine
    _token, user_id = alice
    video_id, job_id = add_video_and_job(engine, user_id)
    object_id = {None: 0, "video": video_id, "job": job_id}[owned]
    query = crud._USER_READ_QUERIES[owned]
    parameters = {"user_id": user_id, "object_id": object_id, "session_id": "no-such-session"}

    with engine.connect() as connection:
        expected = tuple(connection.execute(query, parameters).one())
    got = db.fetch_row(engine, query, parameters)

    assert got == expected
    assert [type(value) for value in got] == [type(value) for value in expected]
    assert all(value.utcoffset() == timedelta(0) for value in got if isinstance(value, datetime))
    assert db.fetch_row(engine, query, {**parameters, "user_id": user_id + 1}) is None


def test_get_video_and_job_show_what_the_orm_lists_show(client, alice):
    """GET /videos/{id} and GET /jobs/{id} (the driver read) against the list routes (ORM)."""
    token, user_id = alice
    video_id, job_id = add_video_and_job(
        client.app.state.engine, user_id, error_code="unsupported_media", error_message="No"
    )
    headers = bearer(token)

    video = client.get(f"/videos/{video_id}", headers=headers).json()
    job = client.get(f"/jobs/{job_id}", headers=headers).json()

    assert video == client.get("/videos", headers=headers).json()["data"][0]
    assert job == client.get(f"/videos/{video_id}/jobs", headers=headers).json()["data"][0]
    assert video["error"] == {"code": "unsupported_media", "message": "No"}
    assert video["thumbnail_url"] == f"/videos/{video_id}/thumbnail"
    assert video["size_bytes"] == 5 * 2**30
    assert video["created_at"] == "2026-05-01T12:30:15.123456Z"
    assert job["error"] == {"code": "internal_error", "message": "The worker stopped"}
    assert job["result_url"] == f"/jobs/{job_id}/result"
    assert "user_id" not in video and "result_key" not in job and "lease_token" not in job


def test_the_read_path_sees_every_change_at_once(client, session, alice):
    """No cache: a change committed elsewhere shows on the very next request."""
    token, user_id = alice
    video_id, _job_id = add_video_and_job(client.app.state.engine, user_id)
    user = session.exec(select(User)).one()
    video = session.get(VideoSource, video_id)
    user.credits, video.status = 7, "failed"
    session.add_all([user, video])
    session.commit()

    assert client.get("/me", headers=bearer(token)).json()["credits"] == 7
    assert client.get(f"/videos/{video_id}", headers=bearer(token)).json()["status"] == "failed"

    user.is_active = False
    session.add(user)
    session.commit()
    for path in ("/me", f"/videos/{video_id}"):
        response = client.get(path, headers=bearer(token))
        assert (response.status_code, response.json()) == (403, {"detail": "Inactive user"})


def test_the_read_path_gives_its_connection_back_to_the_pool(make_client, tmp_path):
    client = make_client(database_url=f"sqlite:///{tmp_path / 'pool.db'}", db_pool_size=1)
    register(client)
    token = login(client).json()["access_token"]
    engine = client.app.state.engine

    for path in ("/me", "/videos/1", "/jobs/1", "/videos/99999999999"):
        assert client.get(path, headers=bearer(token)).status_code in (200, 404)
        assert engine.pool.checkedout() == 0
