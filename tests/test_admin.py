"""Operators: `python -m app.admin` and the /admin routes, which only a superuser may use."""

import os
import subprocess
import sys

import pytest
from sqlmodel import Session

from app import crud
from app.db import ROOT
from app.models import User
from tests.support.credits import assert_ledger_balanced, balance, history
from tests.support.utils import PASSWORD, bearer, login
from tests.support.videos import user_token


@pytest.fixture
def client(make_video_client):
    """A database a second process can open too (a SQLite file or a PostgreSQL schema)."""
    client = make_video_client(embedded_worker=False, default_credits=2)
    yield client
    assert_ledger_balanced(client.app.state.engine)


def admin_command(client, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": client.app.state.settings.database_url,
        "ADMIN_PASSWORD": password,
        "DEFAULT_CREDITS": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "app.admin", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def admin(client) -> str:
    """A superuser made by the command line, logged in through the API."""
    made = admin_command(client, "create-superuser", "Boss@Example.com")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("created superuser boss@example.com")
    return login(client, "boss@example.com").json()["access_token"]


def test_create_superuser_then_grant_credits_on_the_command_line(client, admin):
    alice = user_token(client)

    granted = admin_command(client, "grant-credits", "ALICE@example.com", "40", "--note", "promo")
    refused = admin_command(client, "grant-credits", "alice@example.com", "-100", "--note", "x")
    unknown = admin_command(client, "grant-credits", "nobody@example.com", "1", "--note", "x")

    assert (granted.returncode, granted.stdout) == (
        0,
        "alice@example.com: +40 credits, balance 42\n",
    )
    assert refused.returncode == 1 and "below 0" in refused.stderr
    assert unknown.returncode == 1 and "no user" in unknown.stderr
    assert balance(client, alice) == 42
    page = client.get("/me/credits", headers=bearer(alice)).json()["data"]
    assert [(t["kind"], t["delta"], t["note"]) for t in page] == [
        ("grant", 40, "promo"),
        ("grant", 2, "Credits on registration"),
    ]


def test_create_superuser_promotes_an_existing_account_and_keeps_its_password(client):
    user_token(client)

    promoted = admin_command(client, "create-superuser", "alice@example.com", password="other pw!")

    assert promoted.returncode == 0 and "now a superuser" in promoted.stdout
    token = login(client).json()["access_token"]  # the old password still works
    assert client.get("/admin/users", headers=bearer(token)).status_code == 200


def test_create_superuser_refuses_a_short_password(client):
    made = admin_command(client, "create-superuser", "new@example.com", password="short")

    assert made.returncode == 1 and "password" in made.stderr
    assert client.get("/health").status_code == 200
    with Session(client.app.state.engine) as session:
        assert crud.get_user_by_email(session, "new@example.com") is None


ADMIN_REQUESTS = [
    ("GET", "/admin/users", None),
    ("POST", "/admin/users/1/credits", {"amount": 5, "note": "x"}),
    ("PATCH", "/admin/users/1", {"is_active": False}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_REQUESTS)
def test_admin_routes_refuse_everyone_but_a_superuser(client, method, path, body):
    alice = user_token(client)

    as_user = client.request(method, path, json=body, headers=bearer(alice))
    anonymous = client.request(method, path, json=body)

    assert as_user.status_code == 403 and as_user.json() == {"detail": "Superusers only"}
    assert anonymous.status_code == 401
    assert balance(client, alice) == 2
    assert client.get("/me", headers=bearer(alice)).json()["is_active"] is True


def test_a_superuser_grants_and_takes_credits_with_a_note(client, admin):
    alice = user_token(client)
    alice_id = client.get("/me", headers=bearer(alice)).json()["id"]

    granted = client.post(
        f"/admin/users/{alice_id}/credits",
        json={"amount": 10, "note": "Sorry for the outage"},
        headers=bearer(admin),
    )
    taken = client.post(
        f"/admin/users/{alice_id}/credits",
        json={"amount": -12, "note": "Chargeback"},
        headers=bearer(admin),
    )
    too_much = client.post(
        f"/admin/users/{alice_id}/credits", json={"amount": -1, "note": "x"}, headers=bearer(admin)
    )

    assert granted.status_code == 201
    body = granted.json()
    assert (body["kind"], body["delta"], body["balance_after"], body["note"]) == (
        "grant",
        10,
        12,
        "Sorry for the outage",
    )
    assert taken.status_code == 201 and taken.json()["balance_after"] == 0
    assert too_much.status_code == 409
    assert balance(client, alice) == 0
    assert history(client, alice) == [
        ("grant", -12, 0, None),
        ("grant", 10, 12, None),
        ("grant", 2, 2, None),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 5},
        {"amount": 5, "note": ""},
        {"amount": "lots", "note": "x"},
        {"amount": 10**10, "note": "x"},
    ],
)
def test_a_malformed_grant_is_422(client, admin, body):
    response = client.post("/admin/users/1/credits", json=body, headers=bearer(admin))

    assert response.status_code == 422


def test_a_grant_to_an_unknown_user_is_404(client, admin):
    response = client.post(
        "/admin/users/999/credits", json={"amount": 1, "note": "x"}, headers=bearer(admin)
    )

    assert response.status_code == 404 and response.json() == {"detail": "User not found"}


def test_a_grant_past_the_largest_balance_is_409(client, admin):
    alice = user_token(client)
    with Session(client.app.state.engine) as session:
        entry = crud.grant_credits(session, user_id=2, amount=2**31 - 1 - 2, note="max")
        assert entry is not None and entry.balance_after == 2**31 - 1

    response = client.post(
        "/admin/users/2/credits", json={"amount": 1, "note": "x"}, headers=bearer(admin)
    )

    assert response.status_code == 409
    assert balance(client, alice) == 2**31 - 1


def test_a_superuser_lists_users_newest_first_and_filters_by_email(client, admin):
    for name in ("alice", "bob", "carol"):
        user_token(client, f"{name}@example.com")

    first = client.get("/admin/users", params={"limit": 2}, headers=bearer(admin)).json()
    rest = client.get(
        "/admin/users", params={"limit": 2, "cursor": first["next_cursor"]}, headers=bearer(admin)
    ).json()
    found = client.get("/admin/users", params={"email": "BO"}, headers=bearer(admin)).json()
    wildcard = client.get("/admin/users", params={"email": "%"}, headers=bearer(admin)).json()

    emails = [u["email"] for u in first["data"] + rest["data"]]
    assert emails == [
        "carol@example.com",
        "bob@example.com",
        "alice@example.com",
        "boss@example.com",
    ]
    assert rest["next_cursor"] is None
    assert [u["email"] for u in found["data"]] == ["bob@example.com", "boss@example.com"]
    assert wildcard["data"] == []  # a LIKE wildcard is matched literally
    boss = rest["data"][-1]
    assert boss["is_superuser"] is True and first["data"][0]["is_superuser"] is False
    assert set(boss) == {
        "id",
        "email",
        "created_at",
        "is_active",
        "credits",
        "is_superuser",
        "email_verified",
    }


def test_a_superuser_deactivates_and_reactivates_a_user(client, admin):
    alice = user_token(client)

    off = client.patch("/admin/users/2", json={"is_active": False}, headers=bearer(admin))

    assert off.status_code == 200 and off.json()["is_active"] is False
    assert client.get("/me", headers=bearer(alice)).status_code == 403
    assert login(client).status_code == 403
    on = client.patch("/admin/users/2", json={"is_active": True}, headers=bearer(admin))
    assert on.json()["is_active"] is True
    assert client.get("/me", headers=bearer(alice)).status_code == 200
    with Session(client.app.state.engine) as session:
        assert session.get(User, 2).is_active is True


def test_a_superuser_cannot_deactivate_themselves(client, admin):
    response = client.patch("/admin/users/1", json={"is_active": False}, headers=bearer(admin))

    assert response.status_code == 409
    assert client.get("/admin/users", headers=bearer(admin)).status_code == 200
