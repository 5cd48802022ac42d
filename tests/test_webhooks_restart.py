"""Webhook deliveries survive a server killed with SIGKILL: real uvicorn processes on one SQLite
file, receivers on 127.0.0.1 that verify with the `standardwebhooks` package."""

import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support import media
from tests.support.live import free_port, query, wait_for_health, worker_process
from tests.support.postgres import TEST_DATABASE_URL
from tests.support.receiver import webhook_receiver
from tests.support.utils import PASSWORD, bearer

pytestmark = pytest.mark.skipif(
    bool(TEST_DATABASE_URL), reason="process tests run on SQLite files (make test)"
)


# Before the kill: one delivery succeeded, the other's first attempt (a 500) recorded, its next
# attempt 3 s away (WEBHOOK_RETRY_SCHEDULE), so no attempt is in flight when the kill comes (a
# claimed one would wait out its lease, timeout + 30 s, before the restarted server retried).
BEFORE_THE_KILL = "SELECT status, attempts FROM webhook_deliveries ORDER BY endpoint_id"


def serve(port: int) -> str:
    """`uvicorn app.main:app` with its embedded worker, as code for worker_process."""
    return f"import uvicorn\nuvicorn.run('app.main:app', host='127.0.0.1', port={port})\n"


def test_deliveries_pending_at_a_sigkill_are_sent_after_restart_and_none_twice(tmp_path: Path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "SECRET_KEY": "live-server-test-secret-key-0123456789",
        "BCRYPT_ROUNDS": "4",
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "WEBHOOK_POLL_SECONDS": "0.1",
        "WEBHOOK_RETRY_SCHEDULE": "0,3,1,1,1,1",
    }
    clip = media.mp4(tmp_path / "clip.mp4")
    with webhook_receiver() as answered, webhook_receiver() as failing:
        failing.default = (500, 0.0)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        with worker_process(env["DATABASE_URL"], env, code=serve(port)) as doomed:
            wait_for_health(base_url)
            body = {"email": "alice@example.com", "password": PASSWORD}
            assert httpx.post(f"{base_url}/auth/register", json=body).status_code == 201
            token = httpx.post(f"{base_url}/auth/login", json=body).json()["access_token"]
            secrets = {}
            for receiver in (answered, failing):
                created = httpx.post(
                    f"{base_url}/webhooks",
                    json={"url": receiver.url, "events": ["video.ready"]},
                    headers=bearer(token),
                ).json()
                secrets[receiver.url] = created["secret"]
            with clip.open("rb") as file:
                uploaded = httpx.post(
                    f"{base_url}/videos/upload", files={"file": file}, headers=bearer(token)
                )
            assert uploaded.status_code == 201
            answered.wait_for(1)
            failing.wait_for(1)
            deadline = time.monotonic() + 10  # the 2xx recorded: what a kill must not undo
            while query(env["DATABASE_URL"], BEFORE_THE_KILL) != [
                ("succeeded", 1),
                ("pending", 1),
            ]:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
        pending = query(
            env["DATABASE_URL"], "SELECT status FROM webhook_deliveries ORDER BY endpoint_id"
        )
        assert pending == [("succeeded",), ("pending",)]

        failing.default = (200, 0.0)  # the receiver is back
        port = free_port()
        with worker_process(env["DATABASE_URL"], env, code=serve(port)):
            wait_for_health(f"http://127.0.0.1:{port}")
            deadline = time.monotonic() + 20
            while not failing.succeeded():
                assert time.monotonic() < deadline, "the pending delivery was not sent"
                time.sleep(0.05)
            time.sleep(1.5)  # time enough for a wrong second copy to arrive

    rows = query(env["DATABASE_URL"], "SELECT status FROM webhook_deliveries")
    assert rows == [("succeeded",), ("succeeded",)]
    for receiver in (answered, failing):
        per_message = Counter(d.message_id for d in receiver.succeeded())
        assert list(per_message.values()) == [1], per_message  # one 2xx per message, never two
        assert all(d.verifies_with(secrets[receiver.url]) for d in receiver.deliveries)
        assert {d.json["type"] for d in receiver.deliveries} == {"video.ready"}
    assert len(answered.deliveries) == 1
