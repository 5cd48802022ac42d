"""Webhooks (../shared/contract-ai.md#webhooks): endpoints per user, events written in the
transaction of their change, deliveries signed per Standard Webhooks and checked by the
`standardwebhooks` package on a receiver on 127.0.0.1, retried, disabled when gone."""

import base64
import time
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app import fetch
from app.models import ProcessingJob, WebhookDelivery, WebhookEndpoint, utc_now
from app.pipeline import jobs
from tests.support import media
from tests.support.credits import ready_video, start_job, wait_for_job
from tests.support.receiver import webhook_receiver
from tests.support.utils import bearer
from tests.support.videos import upload, user_token, wait_until_settled

FAST = {
    "webhook_allow_private": True,
    "webhook_poll_seconds": 0.05,
    "webhook_retry_schedule": [0, 0.2, 0.2],
    "webhook_timeout_seconds": 2,
}


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    """No DNS here: hooks.example.com resolves to a public address, other names as usual."""
    real = fetch.resolve_host
    answers = {"hooks.example.com": ["93.184.215.14"]}
    monkeypatch.setattr(
        fetch, "resolve_host", lambda host, port: answers.get(host) or real(host, port)
    )
    return answers


@pytest.fixture
def receiver():
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def hook_client(make_video_client):
    return make_video_client(default_credits=100, **FAST)


def register_endpoint(client, token, url, events=("video.ready",), **extra) -> dict:
    body = {"url": url, "events": list(events), **extra}
    response = client.post("/webhooks", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def deliveries_of(client, token, endpoint_id) -> list[dict]:
    page = client.get(f"/webhooks/{endpoint_id}/deliveries", headers=bearer(token))
    assert page.status_code == 200, page.text
    return page.json()["data"]


def wait_for_delivery(client, token, endpoint_id, done, timeout=20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = deliveries_of(client, token, endpoint_id)
        if found and done(found[0]):
            return found[0]
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


# ---- the endpoints' routes ----------------------------------------------------------------


def test_an_endpoint_is_created_with_a_secret_shown_once_and_sealed_at_rest(client, session):
    token = user_token(client)
    url = "https://hooks.example.com/video-ai"
    created = client.post(
        "/webhooks",
        json={"url": url, "events": ["video.ready", "job.failed"], "description": "CRM"},
        headers=bearer(token),
    )

    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {
        "id", "url", "events", "description", "enabled", "disabled_reason", "created_at", "secret"
    }  # fmt: skip
    assert body["url"] == url and body["events"] == ["video.ready", "job.failed"]
    assert body["enabled"] is True and body["description"] == "CRM"
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) == 32
    listed = client.get("/webhooks", headers=bearer(token)).json()
    assert [set(e) for e in listed] == [set(body) - {"secret"}]
    stored = session.exec(select(WebhookEndpoint)).one()
    secret_part = body["secret"].removeprefix("whsec_")
    assert secret_part not in stored.secret_sealed and body["secret"] not in stored.secret_sealed


def test_update_rotate_and_delete(client, session):
    token = user_token(client)
    endpoint = register_endpoint(client, token, "https://hooks.example.com/a")
    path = f"/webhooks/{endpoint['id']}"

    changed = client.patch(
        path, json={"events": ["job.succeeded"], "enabled": False}, headers=bearer(token)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"] == ["job.succeeded"] and changed.json()["enabled"] is False
    assert changed.json()["url"] == "https://hooks.example.com/a"
    assert client.patch(path, json={"url": None}, headers=bearer(token)).status_code == 422

    rotated = client.post(f"{path}/rotate-secret", headers=bearer(token))
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != endpoint["secret"]
    assert rotated.json()["secret"].startswith("whsec_")

    assert client.delete(path, headers=bearer(token)).status_code == 204
    assert client.get("/webhooks", headers=bearer(token)).json() == []
    assert client.delete(path, headers=bearer(token)).status_code == 404
    assert session.exec(select(WebhookEndpoint)).all() == []


def test_another_users_endpoint_ids_answer_404(client):
    owner = user_token(client, "owner@example.com")
    stranger = user_token(client, "stranger@example.com")
    endpoint = register_endpoint(client, owner, "https://hooks.example.com/a")
    path = f"/webhooks/{endpoint['id']}"

    for method, url, body in [
        ("PATCH", path, {"enabled": False}),
        ("DELETE", path, None),
        ("POST", f"{path}/rotate-secret", None),
        ("GET", f"{path}/deliveries", None),
        ("POST", f"{path}/deliveries/1/redeliver", None),
        ("GET", "/webhooks/99999999999999999/deliveries", None),
    ]:
        answer = client.request(method, url, json=body, headers=bearer(stranger))
        assert answer.status_code == 404, (method, url, answer.text)
        assert "not found" in answer.json()["detail"].lower()
    assert client.get("/webhooks", headers=bearer(stranger)).json() == []
    assert client.get("/webhooks", headers=bearer(owner)).json()[0]["enabled"] is True


@pytest.mark.parametrize(
    "body, says",
    [
        ({"url": "http://127.0.0.1:9000/hook", "events": ["video.ready"]}, "not allowed"),
        ({"url": "http://169.254.169.254/latest", "events": ["video.ready"]}, "not allowed"),
        ({"url": "http://localhost/hook", "events": ["video.ready"]}, "localhost"),
        ({"url": "http://internal.test/hook", "events": ["video.ready"]}, "not public"),
        ({"url": "ftp://hooks.example.com/", "events": ["video.ready"]}, "http"),
        ({"url": "https://hooks.example.com/", "events": []}, "at least 1"),
        ({"url": "https://hooks.example.com/", "events": ["video.deleted"]}, "video.ready"),
        ({"url": "https://hooks.example.com/"}, "Field required"),
    ],
)
def test_bad_urls_and_events_are_422(client, dns, body, says):
    dns["internal.test"] = ["127.0.0.1"]
    token = user_token(client)

    answer = client.post("/webhooks", json=body, headers=bearer(token))

    assert answer.status_code == 422, answer.text
    assert says in str(answer.json()["detail"])
    assert client.get("/webhooks", headers=bearer(token)).json() == []


def test_the_metadata_address_is_refused_even_with_private_targets_allowed(make_client):
    client = make_client(webhook_allow_private=True)
    token = user_token(client)
    body = {"url": "http://169.254.169.254/", "events": ["video.ready"]}
    assert client.post("/webhooks", json=body, headers=bearer(token)).status_code == 422
    body = {"url": "http://127.0.0.1:1/hook", "events": ["video.ready"]}
    assert client.post("/webhooks", json=body, headers=bearer(token)).status_code == 201


# ---- events and deliveries -----------------------------------------------------------------


def test_an_upload_gives_video_ready_once_signed(hook_client, receiver, tmp_path):
    token = user_token(hook_client)
    endpoint = register_endpoint(hook_client, token, receiver.url, ["video.ready"])

    video = upload(hook_client, token, media.mp4(tmp_path / "clip.mp4")).json()
    ready = wait_until_settled(hook_client, token, video["id"])
    [delivery] = receiver.wait_for(1)
    time.sleep(0.5)  # nothing else comes

    assert len(receiver.deliveries) == 1
    assert delivery.verifies_with(endpoint["secret"])
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.message_id.startswith("msg_")
    sent = delivery.json
    assert sent["type"] == "video.ready"
    assert sent["timestamp"].endswith("Z")
    assert sent["data"] == ready  # the VideoRead, as GET /videos/{id} gives it
    recorded = wait_for_delivery(hook_client, token, endpoint["id"], lambda d: d["attempts"])
    assert recorded["status"] == "succeeded" and recorded["attempts"] == 1
    assert recorded["message_id"] == delivery.message_id
    assert recorded["last_status_code"] == 200 and recorded["last_error"] is None


def test_a_paid_job_gives_job_succeeded_with_its_job_read(hook_client, receiver, tmp_path):
    token = user_token(hook_client)
    endpoint = register_endpoint(hook_client, token, receiver.url, ["job.succeeded"])
    video = ready_video(hook_client, token, media.mp4(tmp_path / "clip.mp4"))
    [ingested] = receiver.wait_for(1)  # the ingest job's
    assert ingested.json["data"]["kind"] == "ingest"

    job = start_job(hook_client, token, video["id"]).json()
    done = wait_for_job(hook_client, token, job["id"])
    delivery = receiver.wait_for(2)[1]

    assert done["status"] == "succeeded"
    assert delivery.verifies_with(endpoint["secret"])
    assert delivery.json["type"] == "job.succeeded"
    now = hook_client.get(f"/jobs/{job['id']}", headers=bearer(token)).json()
    assert delivery.json["data"] == now


def test_canceled_and_failed_jobs_and_failed_videos_are_told(hook_client, receiver, tmp_path):
    token = user_token(hook_client)
    events = ["job.canceled", "job.failed", "video.failed"]
    register_endpoint(hook_client, token, receiver.url, events)
    broken = upload(hook_client, token, media.truncated(tmp_path / "broken.mp4")).json()
    assert wait_until_settled(hook_client, token, broken["id"])["status"] == "failed"
    got = receiver.wait_for(2)
    assert sorted(d.json["type"] for d in got) == ["job.failed", "video.failed"]

    video = ready_video(hook_client, token, media.mp4(tmp_path / "ok.mp4"))
    with Session(hook_client.app.state.engine) as session:  # a queued job, never enqueued
        owner = session.exec(select(WebhookEndpoint.user_id)).one()
        job = ProcessingJob(kind="extract_audio", video_id=video["id"], user_id=owner)
        session.add(job)
        session.commit()
        session.refresh(job)
    canceled = hook_client.post(f"/jobs/{job.id}/cancel", headers=bearer(token))
    told = receiver.wait_for(3)[2]

    assert canceled.status_code == 200, canceled.text
    assert told.json["type"] == "job.canceled"
    assert told.json["data"] == hook_client.get(f"/jobs/{job.id}", headers=bearer(token)).json()


def test_500_500_200_is_three_attempts_of_one_message(hook_client, receiver, tmp_path):
    token = user_token(hook_client)
    endpoint = register_endpoint(hook_client, token, receiver.url)
    receiver.answer(500, 500)

    upload(hook_client, token, media.mp4(tmp_path / "clip.mp4"))
    attempts = receiver.wait_for(3)

    assert [d.status for d in attempts] == [500, 500, 200]
    assert len({d.message_id for d in attempts}) == 1
    assert len({d.body for d in attempts}) == 1
    assert all(d.verifies_with(endpoint["secret"]) for d in attempts)
    assert attempts[1].at - attempts[0].at >= 0.15  # the schedule's 0.2 s, from the failure
    recorded = wait_for_delivery(
        hook_client, token, endpoint["id"], lambda d: d["status"] == "succeeded"
    )
    assert recorded["attempts"] == 3 and recorded["last_status_code"] == 200


def test_a_receiver_failing_every_attempt_ends_failed_after_the_schedule(
    hook_client, receiver, tmp_path
):
    token = user_token(hook_client)
    endpoint = register_endpoint(hook_client, token, receiver.url)
    receiver.default = (503, 0.0)

    upload(hook_client, token, media.mp4(tmp_path / "clip.mp4"))
    recorded = wait_for_delivery(
        hook_client, token, endpoint["id"], lambda d: d["status"] == "failed"
    )

    assert recorded["attempts"] == 3 and len(receiver.deliveries) == 3  # the schedule's three
    assert recorded["last_status_code"] == 503
    assert recorded["last_error"].startswith("The receiver answered HTTP 503")
    assert recorded["next_attempt_at"] is None
    assert hook_client.get("/webhooks", headers=bearer(token)).json()[0]["enabled"] is True


def test_410_disables_the_endpoint(hook_client, receiver, tmp_path):
    token = user_token(hook_client)
    endpoint = register_endpoint(hook_client, token, receiver.url)
    receiver.answer(410)

    upload(hook_client, token, media.mp4(tmp_path / "one.mp4"))
    recorded = wait_for_delivery(
        hook_client, token, endpoint["id"], lambda d: d["status"] == "failed"
    )
    video = ready_video(hook_client, token, media.mp4(tmp_path / "two.mp4"))
    time.sleep(0.5)

    assert recorded["attempts"] == 1 and recorded["last_status_code"] == 410
    [shown] = hook_client.get("/webhooks", headers=bearer(token)).json()
    assert shown["enabled"] is False and "410" in shown["disabled_reason"]
    assert len(receiver.deliveries) == 1  # nothing for the second video
    assert video["status"] == "ready"
    assert len(deliveries_of(hook_client, token, endpoint["id"])) == 1


def test_a_receiver_that_sleeps_past_the_timeout_does_not_delay_another(
    make_video_client, tmp_path
):
    client = make_video_client(**{**FAST, "webhook_timeout_seconds": 1})
    token = user_token(client)
    with webhook_receiver() as slow, webhook_receiver() as fast:
        slow.default = (200, 3.0)
        slow_endpoint = register_endpoint(client, token, slow.url)
        register_endpoint(client, token, fast.url)

        upload(client, token, media.mp4(tmp_path / "clip.mp4"))
        [got] = fast.wait_for(1)
        recorded = wait_for_delivery(
            client, token, slow_endpoint["id"], lambda d: d["attempts"] >= 1
        )
        slow.wait_for(1)

    assert got.json["type"] == "video.ready"
    assert recorded["status"] == "pending" and recorded["last_status_code"] is None
    assert "No answer within 1 s" in recorded["last_error"]
    assert slow.deliveries[0].at - got.at > 1.5  # the fast one did not wait for the slow one


def test_rotation_signs_with_the_new_secret_and_the_old_one_during_its_grace(
    hook_client, receiver, tmp_path
):
    token = user_token(hook_client)
    endpoint = register_endpoint(hook_client, token, receiver.url)
    old = endpoint["secret"]
    new = hook_client.post(
        f"/webhooks/{endpoint['id']}/rotate-secret", headers=bearer(token)
    ).json()["secret"]

    upload(hook_client, token, media.mp4(tmp_path / "one.mp4"))
    [during] = receiver.wait_for(1)
    with Session(hook_client.app.state.engine) as session:  # the grace period ends
        row = session.get(WebhookEndpoint, endpoint["id"])
        row.previous_secret_expires_at = utc_now() - timedelta(seconds=1)
        session.add(row)
        session.commit()
    upload(hook_client, token, media.mp4(tmp_path / "two.mp4"))
    after = receiver.wait_for(2)[1]

    assert during.verifies_with(new) and during.verifies_with(old)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert after.verifies_with(new) and not after.verifies_with(old)


def test_a_dns_answer_that_turns_private_at_delivery_time_is_refused(
    make_video_client, dns, receiver, tmp_path
):
    client = make_video_client(**{**FAST, "webhook_allow_private": False})
    token = user_token(client)
    port = receiver.url.split(":")[2].split("/")[0]
    endpoint = register_endpoint(client, token, f"http://hooks.example.com:{port}/hooks")
    dns["hooks.example.com"] = ["127.0.0.1"]  # rebinding: now it points inside

    upload(client, token, media.mp4(tmp_path / "clip.mp4"))
    recorded = wait_for_delivery(client, token, endpoint["id"], lambda d: d["attempts"] >= 1)

    assert "not public" in recorded["last_error"] and recorded["last_status_code"] is None
    assert receiver.deliveries == []


def test_a_rolled_back_change_sends_nothing_and_a_committed_one_is_in_the_outbox(
    hook_client, receiver, tmp_path
):
    token = user_token(hook_client)
    register_endpoint(hook_client, token, receiver.url, ["job.canceled"])
    video = ready_video(hook_client, token, media.mp4(tmp_path / "clip.mp4"))
    engine = hook_client.app.state.engine
    with Session(engine) as session:
        owner = session.exec(select(WebhookEndpoint.user_id)).one()
        job = ProcessingJob(kind="extract_audio", video_id=video["id"], user_id=owner)
        session.add(job)  # queued, never enqueued: no worker takes it
        session.commit()
        session.refresh(job)
        assert jobs.cancel(session, job)
        assert len(session.exec(select(WebhookDelivery)).all()) == 1  # in the transaction
        session.rollback()
    with Session(engine) as session:
        assert session.exec(select(WebhookDelivery)).all() == []
    time.sleep(0.3)
    assert receiver.deliveries == []


def test_deliveries_are_listed_and_redelivered_with_the_same_message(
    hook_client, receiver, tmp_path
):
    token = user_token(hook_client)
    endpoint = register_endpoint(hook_client, token, receiver.url)
    upload(hook_client, token, media.mp4(tmp_path / "clip.mp4"))
    [first] = receiver.wait_for(1)
    delivered = wait_for_delivery(
        hook_client, token, endpoint["id"], lambda d: d["status"] == "succeeded"
    )

    again = hook_client.post(
        f"/webhooks/{endpoint['id']}/deliveries/{delivered['id']}/redeliver", headers=bearer(token)
    )
    second = receiver.wait_for(2)[1]

    assert again.status_code == 202, again.text
    assert again.json()["status"] == "pending" and again.json()["id"] != delivered["id"]
    assert again.json()["message_id"] == delivered["message_id"] == second.message_id
    assert second.body == first.body and second.verifies_with(endpoint["secret"])
    listed = deliveries_of(hook_client, token, endpoint["id"])
    assert [d["id"] for d in listed] == [again.json()["id"], delivered["id"]]
    missing = hook_client.post(
        f"/webhooks/{endpoint['id']}/deliveries/999999/redeliver", headers=bearer(token)
    )
    assert missing.status_code == 404


def test_an_endpoint_failing_for_days_is_disabled_and_its_owner_told(
    make_video_client, inbox, receiver, tmp_path
):
    client = make_video_client(
        **FAST, smtp_host="127.0.0.1", smtp_port=inbox.port, smtp_starttls=False
    )
    token = user_token(client)
    endpoint = register_endpoint(client, token, receiver.url)
    with Session(client.app.state.engine) as session:
        row = session.get(WebhookEndpoint, endpoint["id"])
        row.failing_since = utc_now() - timedelta(days=6)
        session.add(row)
        session.commit()
    receiver.default = (500, 0.0)

    upload(client, token, media.mp4(tmp_path / "clip.mp4"))
    recorded = wait_for_delivery(client, token, endpoint["id"], lambda d: d["status"] == "failed")
    message = inbox.wait_for("alice@example.com")

    assert recorded["attempts"] == 1
    [shown] = client.get("/webhooks", headers=bearer(token)).json()
    assert shown["enabled"] is False and "120 hours" in shown["disabled_reason"]
    assert "disabled" in message["Subject"]
    assert receiver.url in message.get_content()

    enabled = client.patch(
        f"/webhooks/{endpoint['id']}", json={"enabled": True}, headers=bearer(token)
    )
    assert enabled.json()["enabled"] is True and enabled.json()["disabled_reason"] is None


def test_finished_deliveries_are_forgotten_after_the_retention(hook_client, receiver, tmp_path):
    token = user_token(hook_client)
    endpoint = register_endpoint(hook_client, token, receiver.url)
    upload(hook_client, token, media.mp4(tmp_path / "clip.mp4"))
    wait_for_delivery(hook_client, token, endpoint["id"], lambda d: d["status"] == "succeeded")
    engine = hook_client.app.state.engine
    with Session(engine) as session:
        old = WebhookDelivery(
            endpoint_id=endpoint["id"], event="video.ready", message_id="msg_old", payload="{}",
            status="failed", created_at=utc_now() - timedelta(days=31),
        )  # fmt: skip
        waiting = WebhookDelivery(
            endpoint_id=endpoint["id"], event="video.ready", message_id="msg_waiting",
            payload="{}", next_attempt_at=utc_now() + timedelta(days=1),
            created_at=utc_now() - timedelta(days=31),
        )  # fmt: skip
        session.add_all([old, waiting])
        session.commit()

    assert hook_client.app.state.worker.deliverer.forget_old() == 1

    kept = {d["message_id"] for d in deliveries_of(hook_client, token, endpoint["id"])}
    assert "msg_old" not in kept and "msg_waiting" in kept and len(kept) == 2
