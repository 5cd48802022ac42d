"""Idempotency-Key on POST /videos/{id}/jobs: replay, mismatch, in flight, errors, expiry."""

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from app import credits, idempotency
from app.models import IdempotencyKey, JobCreate, utc_now
from tests.support import media
from tests.support.credits import assert_ledger_balanced, balance, history, ready_video, start_job
from tests.support.utils import bearer
from tests.support.videos import user_token


@pytest.fixture
def client(make_video_client):
    return make_video_client(default_credits=3)


@pytest.fixture
def token(client) -> str:
    return user_token(client)


@pytest.fixture
def video(client, token, tmp_path) -> dict:
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
    yield video
    assert_ledger_balanced(client.app.state.engine)


def key(value: str) -> dict:
    return {"headers": {"Idempotency-Key": value}}


def stored_keys(client) -> list[IdempotencyKey]:
    with Session(client.app.state.engine) as session:
        return list(session.exec(select(IdempotencyKey)).all())


def paid_jobs(client, token, video_id) -> list[int]:
    page = client.get(f"/videos/{video_id}/jobs", headers=bearer(token)).json()["data"]
    return [job["id"] for job in page if job["kind"] == "extract_audio"]


def test_a_retry_with_the_same_key_replays_the_first_answer_and_charges_once(client, token, video):
    first = start_job(client, token, video["id"], **key("order-1"))
    again = start_job(client, token, video["id"], **key("order-1"))

    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()  # the first answer, even though the job moved on
    assert again.headers["content-type"] == "application/json"
    assert paid_jobs(client, token, video["id"]) == [first.json()["id"]]
    assert balance(client, token) == 2
    assert [row[0] for row in history(client, token)] == ["charge", "grant"]


def test_without_a_key_every_request_is_a_new_job(client, token, video):
    answers = [start_job(client, token, video["id"]) for _ in range(2)]

    assert [a.status_code for a in answers] == [202, 202]
    assert len(set(paid_jobs(client, token, video["id"]))) == 2
    assert balance(client, token) == 1
    assert stored_keys(client) == []


def test_the_same_key_with_another_request_is_422(client, token, video, tmp_path):
    other = ready_video(client, token, media.mp4(tmp_path / "other.mp4"))
    assert start_job(client, token, video["id"], **key("order-1")).status_code == 202

    on_another_video = start_job(client, token, other["id"], **key("order-1"))
    another_kind = start_job(client, token, video["id"], kind="ingest", **key("order-1"))

    assert on_another_video.status_code == 422
    assert on_another_video.json() == {"detail": idempotency.MISMATCH}
    assert another_kind.status_code == 422  # not a paid kind: refused before the key is looked at
    assert balance(client, token) == 2


def test_a_request_while_the_first_is_in_flight_is_409(client, token, video):
    path = f"/videos/{video['id']}/jobs"
    fingerprint = idempotency.request_hash("POST", path, JobCreate(kind="extract_audio"))
    with Session(client.app.state.engine) as session:  # as the first request holds it
        session.add(IdempotencyKey(user_id=1, key="order-1", request_hash=fingerprint))
        session.commit()

    response = start_job(client, token, video["id"], **key("order-1"))

    assert response.status_code == 409
    assert response.json() == {"detail": idempotency.IN_FLIGHT}
    assert balance(client, token) == 3 and paid_jobs(client, token, video["id"]) == []


def test_an_error_is_not_stored_so_a_retry_runs_again(make_video_client, tmp_path):
    client = make_video_client(default_credits=1, price_extract_audio_per_minute=2)
    token = user_token(client)
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))

    short = start_job(client, token, video["id"], **key("order-1"))
    assert short.status_code == 402 and stored_keys(client) == []
    with Session(client.app.state.engine) as session:
        credits.grant(session, 1, 1, "top-up")
        session.commit()
    retried = start_job(client, token, video["id"], **key("order-1"))

    assert retried.status_code == 202 and "idempotent-replayed" not in retried.headers
    assert balance(client, token) == 0
    [stored] = stored_keys(client)
    assert (stored.key, stored.response_status) == ("order-1", 202)
    assert_ledger_balanced(client.app.state.engine)


def test_keys_are_per_user(client, token, video, tmp_path):
    bob = user_token(client, "bob@example.com")
    bobs = ready_video(client, bob, media.mp4(tmp_path / "bob.mp4"))

    alice_answer = start_job(client, token, video["id"], **key("order-1"))
    bob_answer = start_job(client, bob, bobs["id"], **key("order-1"))

    assert alice_answer.status_code == bob_answer.status_code == 202
    assert "idempotent-replayed" not in bob_answer.headers
    assert alice_answer.json()["id"] != bob_answer.json()["id"]
    assert balance(client, token) == balance(client, bob) == 2


def test_an_expired_key_runs_again_and_the_reaper_forgets_old_keys(client, token, video):
    first = start_job(client, token, video["id"], **key("order-1"))
    hours = client.app.state.settings.idempotency_key_hours
    with Session(client.app.state.engine) as session:
        session.exec(
            update(IdempotencyKey)
            .where(col(IdempotencyKey.key) == "order-1")
            .values(created_at=utc_now() - timedelta(hours=hours, minutes=1))
        )
        session.commit()

    second = start_job(client, token, video["id"], **key("order-1"))

    assert second.status_code == 202 and "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first.json()["id"]
    assert balance(client, token) == 1
    with Session(client.app.state.engine) as session:
        session.add(
            IdempotencyKey(
                user_id=1,
                key="stale",
                request_hash="x",
                created_at=utc_now() - timedelta(hours=hours + 1),
            )
        )
        session.commit()
    client.app.state.worker.reap()
    assert [row.key for row in stored_keys(client)] == ["order-1"]


@pytest.mark.parametrize("value", [b"", b"with space", b"x" * 256, "caf\u00e9".encode()])
def test_a_malformed_key_is_422(client, token, video, value):
    response = client.post(
        f"/videos/{video['id']}/jobs",
        json={"kind": "extract_audio"},
        headers={**bearer(token), "Idempotency-Key": value},
    )

    assert response.status_code == 422
    assert balance(client, token) == 3


def test_a_link_retried_with_its_key_is_one_video_and_the_replay_keeps_its_location(
    make_video_client,
):
    client = make_video_client(link_allow_private=True, embedded_worker=False)
    token = user_token(client)
    body = {"url": "http://127.0.0.1:9/clip.mp4"}

    def add(url_body, value="link-1"):
        headers = {**bearer(token), "Idempotency-Key": value}
        return client.post("/videos/link", json=url_body, headers=headers)

    first, again = add(body), add(body)
    other_url = add({"url": "http://127.0.0.1:9/other.mp4"})

    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"] == f"/videos/{first.json()['id']}"
    assert other_url.status_code == 422 and other_url.json() == {"detail": idempotency.MISMATCH}
    listed = client.get("/videos", headers=bearer(token)).json()["data"]
    assert [video["id"] for video in listed] == [first.json()["id"]]
    # The key belongs to that request: on another route it is another request.
    job = client.post(
        f"/videos/{first.json()['id']}/jobs",
        json={"kind": "extract_audio"},
        headers={**bearer(token), "Idempotency-Key": "link-1"},
    )
    assert job.status_code == 422 and job.json() == {"detail": idempotency.MISMATCH}


def test_two_keys_are_422_and_change_nothing(client, token, video):
    """Not the first one silently: the client's retry logic is confused, and must hear it."""
    two = [("Idempotency-Key", "order-1"), ("Idempotency-Key", "order-2")]
    headers = [*bearer(token).items(), *two]

    job = client.post(
        f"/videos/{video['id']}/jobs", json={"kind": "extract_audio"}, headers=headers
    )
    link = client.post("/videos/link", json={"url": "https://example.com/a.mp4"}, headers=headers)

    for response in (job, link):
        assert response.status_code == 422
        assert response.json() == {
            "detail": [
                {
                    "type": "value_error",
                    "loc": ["header", "Idempotency-Key"],
                    "msg": idempotency.SEVERAL,
                }
            ]
        }
    assert idempotency.SEVERAL == "Send one Idempotency-Key header, not several"
    assert balance(client, token) == 3
    assert paid_jobs(client, token, video["id"]) == []
    assert stored_keys(client) == []
    assert [v["id"] for v in client.get("/videos", headers=bearer(token)).json()["data"]] == [
        video["id"]
    ]
    # One of them is fine.
    one = [*bearer(token).items(), two[0]]
    answer = client.post(f"/videos/{video['id']}/jobs", json={"kind": "extract_audio"}, headers=one)
    assert answer.status_code == 202
