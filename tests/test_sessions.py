"""Sessions: refresh tokens rotate, a reused one ends its session (reuse detection), logout
ends one session, logout-all ends every session and every access token issued before it."""

import time
from contextlib import nullcontext
from pathlib import Path

import pytest
from jose import jwt
from sqlmodel import select

from app.models import RefreshToken, User
from app.security import hash_opaque_token
from tests.support.live import live_server, query, send_at_once
from tests.support.postgres import TEST_DATABASE_URL, fresh_schema
from tests.support.utils import PASSWORD, bearer, data_statements, login, register, statements_sent

INVALID_REFRESH = {"detail": "Invalid refresh token"}
INVALID_ACCESS = {"detail": "Could not validate credentials"}


@pytest.fixture
def pair(client) -> dict:
    """The token pair of a freshly registered and logged-in user."""
    assert register(client).status_code == 201
    response = login(client)
    assert response.status_code == 200
    return response.json()


def refresh(client, refresh_token: str):
    return client.post("/auth/refresh", json={"refresh_token": refresh_token})


def me_status(client, access_token: str) -> int:
    return client.get("/me", headers=bearer(access_token)).status_code


def test_login_returns_a_refresh_token_stored_only_as_its_hash(client, pair, session):
    assert set(pair) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert len(pair["refresh_token"]) >= 43  # 32 random bytes
    row = session.exec(select(RefreshToken)).one()
    assert row.token_hash == hash_opaque_token(pair["refresh_token"])
    assert pair["refresh_token"] not in row.model_dump_json()
    days = (row.expires_at - row.created_at).total_seconds() / 86400
    assert days == pytest.approx(30, abs=0.01)
    # The access token names its session, so a password change can keep this one.
    assert jwt.get_unverified_claims(pair["access_token"])["sid"] == row.family_id


def test_the_oauth2_form_login_returns_a_refresh_token_too(client, pair):
    response = client.post(
        "/auth/token", data={"username": "alice@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert refresh(client, response.json()["refresh_token"]).status_code == 200


def test_refresh_returns_a_new_working_pair_and_uses_the_old_token_up(client, pair):
    response = refresh(client, pair["refresh_token"])

    assert response.status_code == 200
    new = response.json()
    assert new["refresh_token"] != pair["refresh_token"]
    assert new["token_type"] == "bearer" and new["expires_in"] == 30 * 60
    assert client.get("/me", headers=bearer(new["access_token"])).json()["email"] == (
        "alice@example.com"
    )
    assert refresh(client, new["refresh_token"]).status_code == 200  # a chain of rotations


def test_reusing_a_used_refresh_token_is_401_and_kills_the_newer_token(client, pair, session):
    newer = refresh(client, pair["refresh_token"]).json()

    reuse = refresh(client, pair["refresh_token"])  # the thief (or the user) replays it

    assert reuse.status_code == 401
    assert reuse.json() == INVALID_REFRESH
    # The whole family is revoked: the newer token is dead too, for whoever holds it.
    assert refresh(client, newer["refresh_token"]).status_code == 401
    rows = session.exec(select(RefreshToken)).all()
    assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)


def test_reuse_revokes_only_that_session(client, pair):
    other = login(client).json()  # a second device
    refresh(client, pair["refresh_token"])
    refresh(client, pair["refresh_token"])  # reuse in the first session

    assert refresh(client, other["refresh_token"]).status_code == 200


@pytest.mark.parametrize("token", ["", "x", "a" * 256, "not-a-token-we-issued-0123456789abcdef"])
def test_an_unknown_refresh_token_is_401(client, pair, token):
    response = refresh(client, token)
    assert response.status_code == 401
    assert response.json() == INVALID_REFRESH


def test_an_overlong_or_missing_refresh_token_is_422(client):
    assert refresh(client, "a" * 257).status_code == 422
    assert client.post("/auth/refresh", json={}).status_code == 422


def test_an_expired_refresh_token_is_401(client, pair, session):
    row = session.exec(select(RefreshToken)).one()
    row.expires_at = row.created_at
    session.add(row)
    session.commit()

    assert refresh(client, pair["refresh_token"]).json() == INVALID_REFRESH


def test_an_access_token_is_not_a_refresh_token_nor_the_reverse(client, pair):
    assert refresh(client, pair["access_token"]).json() == INVALID_REFRESH
    assert me_status(client, pair["refresh_token"]) == 401


def test_refresh_of_a_deactivated_user_is_403(client, pair, session):
    user = session.exec(select(User)).one()
    user.is_active = False
    session.add(user)
    session.commit()

    response = refresh(client, pair["refresh_token"])
    assert response.status_code == 403
    assert response.json() == {"detail": "Inactive user"}


def test_logout_revokes_that_session_only(client, pair):
    other = login(client).json()

    response = client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]})

    assert response.status_code == 204
    assert response.content == b""
    assert refresh(client, pair["refresh_token"]).status_code == 401
    assert refresh(client, other["refresh_token"]).status_code == 200


def test_logout_revokes_the_successors_too(client, pair):
    newer = refresh(client, pair["refresh_token"]).json()
    client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]})  # the old one
    assert refresh(client, newer["refresh_token"]).status_code == 401


def test_logout_with_an_unknown_token_is_204_and_changes_nothing(client, pair):
    assert client.post("/auth/logout", json={"refresh_token": "nope"}).status_code == 204
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_logout_all_refuses_an_access_token_issued_a_second_earlier(client, pair):
    time.sleep(1.05)  # the token's iat is now a whole second in the past
    assert me_status(client, pair["access_token"]) == 200

    response = client.post("/auth/logout-all", headers=bearer(pair["access_token"]))

    assert response.status_code == 204
    me = client.get("/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 401
    assert me.json() == INVALID_ACCESS
    assert me.headers["www-authenticate"] == "Bearer"


def test_logout_all_ends_every_session_and_a_new_login_works_at_once(client, pair):
    other = login(client).json()
    access_of_same_second = login(client).json()["access_token"]

    assert client.post("/auth/logout-all", headers=bearer(pair["access_token"])).status_code == 204

    for token in (pair["access_token"], other["access_token"], access_of_same_second):
        assert me_status(client, token) == 401
    for token in (pair["refresh_token"], other["refresh_token"]):
        assert refresh(client, token).status_code == 401
    # Issued in the same second as the logout, yet after it: valid.
    again = login(client).json()
    assert me_status(client, again["access_token"]) == 200
    assert me_status(client, refresh(client, again["refresh_token"]).json()["access_token"]) == 200


def test_logout_all_needs_a_valid_access_token(client, pair):
    assert client.post("/auth/logout-all").status_code == 401
    assert client.post("/auth/logout-all", headers=bearer("x")).status_code == 401
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_logout_all_of_one_user_leaves_another_user_alone(client, pair):
    register(client, email="bob@example.com")
    bob = login(client, email="bob@example.com").json()
    client.post("/auth/logout-all", headers=bearer(pair["access_token"]))
    assert me_status(client, bob["access_token"]) == 200
    assert refresh(client, bob["refresh_token"]).status_code == 200


@pytest.fixture
def live(tmp_path: Path):
    """uvicorn on a SQLite file, or on a PostgreSQL schema under `make test-postgres`."""
    log = tmp_path / "server.log"
    sqlite = nullcontext(f"sqlite:///{tmp_path / 'app.db'}")
    with (
        fresh_schema() if TEST_DATABASE_URL else sqlite as database_url,
        live_server(database_url, log=log) as base_url,
    ):
        yield base_url, database_url
    server_log = log.read_text(errors="replace")
    assert "Traceback" not in server_log and "database is locked" not in server_log, server_log


@pytest.mark.parametrize("round_", range(3))
def test_the_same_refresh_token_presented_concurrently_wins_exactly_once(live, round_):
    """Real uvicorn, real database, 8 requests in flight with one token: one 200. The others
    count as reuse, so the winner's new token is revoked too (indistinguishable from theft)."""
    base_url, database_url = live
    user = {"email": f"race{round_}@example.com", "password": PASSWORD}
    assert send_at_once([("POST", f"{base_url}/auth/register", {"json": user})])[0].is_success
    [logged_in] = send_at_once([("POST", f"{base_url}/auth/login", {"json": user})])
    body = {"json": {"refresh_token": logged_in.json()["refresh_token"]}}

    responses = send_at_once([("POST", f"{base_url}/auth/refresh", body)] * 8)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [401] * 7
    [winner] = [response.json() for response in responses if response.status_code == 200]
    again = {"json": {"refresh_token": winner["refresh_token"]}}
    assert send_at_once([("POST", f"{base_url}/auth/refresh", again)])[0].status_code == 401
    # Two rows (the token and its one successor), both revoked; no second successor.
    rows = query(
        database_url, "SELECT used_at IS NOT NULL, revoked_at IS NOT NULL FROM refresh_tokens"
    )
    assert sorted(rows) == [(0, 1), (1, 1)]


def test_me_costs_one_query_also_with_a_tokens_valid_after_time(client, pair):
    """The logout-all check reads the user row the lookup loads anyway: no extra query.
    Counted where the database receives them: the lookup runs on a DBAPI cursor."""
    client.post("/auth/logout-all", headers=bearer(pair["access_token"]))
    again = login(client).json()

    with statements_sent(client.app.state.engine) as statements:
        assert me_status(client, again["access_token"]) == 200
        assert me_status(client, pair["access_token"]) == 401

    sent = data_statements(statements)
    assert len(sent) == 2, statements  # one SELECT of the user per request
    assert all(statement.lstrip().upper().startswith("SELECT") for statement in sent)
    assert all("password_hash" not in statement for statement in sent)  # never read for this


# An ended session's access token is refused at once, not when it expires (issue 25).


def test_after_logout_the_access_token_of_that_session_is_401(client, pair):
    other = login(client).json()  # another session of the same user
    assert me_status(client, pair["access_token"]) == 200

    client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]})

    me = client.get("/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 401
    assert me.json() == INVALID_ACCESS
    assert me.headers["www-authenticate"] == "Bearer"
    # The routes that change the account ask the same question.
    assert client.post("/auth/logout-all", headers=bearer(pair["access_token"])).status_code == 401
    # The other session is untouched.
    assert me_status(client, other["access_token"]) == 200


def test_after_reuse_detection_the_access_tokens_of_that_session_are_401(client, pair):
    """The thief refreshed first; the user's replay of the used token revokes the family: the
    thief's fresh access token dies at once, and so does the user's older one."""
    thief = refresh(client, pair["refresh_token"]).json()
    assert me_status(client, thief["access_token"]) == 200

    assert refresh(client, pair["refresh_token"]).status_code == 401  # reuse detected

    assert me_status(client, thief["access_token"]) == 401
    assert me_status(client, pair["access_token"]) == 401
    video = client.get("/videos/1", headers=bearer(thief["access_token"]))
    assert video.status_code == 401  # the lookup that also reads the video refuses it too
    again = login(client).json()
    assert me_status(client, again["access_token"]) == 200


def test_after_a_password_change_only_the_changing_session_lives_on(client, pair):
    other = login(client).json()
    body = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    assert (
        client.post("/auth/password", json=body, headers=bearer(pair["access_token"])).status_code
        == 204
    )

    assert refresh(client, other["refresh_token"]).status_code == 401
    assert me_status(client, other["access_token"]) == 401
    renewed = refresh(client, pair["refresh_token"]).json()  # this session refreshes
    assert me_status(client, renewed["access_token"]) == 200


def test_me_costs_one_query_also_for_an_ended_session(client, pair):
    client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]})

    with statements_sent(client.app.state.engine) as statements:
        assert me_status(client, pair["access_token"]) == 401

    sent = data_statements(statements)
    assert len(sent) == 1, statements
    assert "refresh_tokens" in sent[0]
