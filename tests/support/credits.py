"""Helpers for the credit tests: the ledger invariant, paid jobs through the API."""

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from tests.support.utils import bearer
from tests.support.videos import upload, wait_for, wait_until_settled

LEDGER_BY_USER = """
SELECT u.id, u.credits, COALESCE(SUM(t.delta), 0), COALESCE(MIN(t.balance_after), 0),
       (SELECT t2.balance_after FROM credit_transactions t2
        WHERE t2.user_id = u.id ORDER BY t2.id DESC LIMIT 1)
FROM users u LEFT JOIN credit_transactions t ON t.user_id = u.id
GROUP BY u.id, u.credits
"""


def assert_ledger_balanced(database: Engine | str) -> dict[int, int]:
    """For every user: the deltas add up to the balance, the newest row's balance_after is the
    balance, and neither the balance nor any balance_after is below 0. The balances by id."""
    engine = create_engine(database) if isinstance(database, str) else database
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(LEDGER_BY_USER)).all()
    finally:
        if isinstance(database, str):
            engine.dispose()
    for user_id, credits, total, lowest, newest in rows:
        assert credits == total, f"user {user_id}: credits {credits}, ledger sums to {total}"
        assert credits >= 0 and lowest >= 0, f"user {user_id} went below 0"
        assert newest is None or newest == credits, f"user {user_id}: newest row says {newest}"
    return {user_id: credits for user_id, credits, *_ in rows}


def ready_video(client: TestClient, token: str, path) -> dict:
    created = upload(client, token, path)
    assert created.status_code == 201, created.text
    video = wait_until_settled(client, token, created.json()["id"])
    assert video["status"] == "ready", video
    return video


def start_job(client: TestClient, token: str, video_id: int, kind: str = "extract_audio", **kw):
    headers = {**bearer(token), **kw.pop("headers", {})}
    return client.post(f"/videos/{video_id}/jobs", json={"kind": kind}, headers=headers, **kw)


def wait_for_job(client: TestClient, token: str, job_id: int) -> dict:
    """The job once it reached a final status."""
    finished = ("succeeded", "failed", "canceled")
    return wait_for(client, token, f"/jobs/{job_id}", lambda job: job["status"] in finished)


def balance(client: TestClient, token: str) -> int:
    return client.get("/me", headers=bearer(token)).json()["credits"]


def history(client: TestClient, token: str) -> list[dict]:
    """The user's ledger, newest first, as (kind, delta, balance_after, job_id) tuples."""
    page = client.get("/me/credits", headers=bearer(token), params={"limit": 100}).json()
    return [(t["kind"], t["delta"], t["balance_after"], t["job_id"]) for t in page["data"]]
