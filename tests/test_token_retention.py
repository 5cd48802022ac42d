"""Token retention (issue 25): the reaper deletes refresh and emailed-link token rows used,
revoked or expired more than TOKEN_RETENTION_DAYS ago; within that time a used refresh token
is still recognised as reused."""

from datetime import timedelta

from sqlmodel import Session, col, select

from app.models import AccountToken, RefreshToken, utc_now
from app.security import new_opaque_token
from tests.support.utils import login, register

DAY = timedelta(days=1)


def refresh(client, token: str):
    return client.post("/auth/refresh", json={"refresh_token": token})


def add_refresh_token(session: Session, user_id: int, name: str, **moments) -> None:
    """A row whose family is `name`, with the times given (days ago when negative)."""
    now = utc_now()
    values = {
        "created_at": now - 60 * DAY,
        "expires_at": now + DAY,
        **{key: now + value for key, value in moments.items()},
    }
    session.add(
        RefreshToken(user_id=user_id, family_id=name, token_hash=new_opaque_token()[1], **values)
    )


def add_link_token(session: Session, user_id: int, purpose: str, **moments) -> None:
    now = utc_now()
    values = {"expires_at": now + DAY, **{key: now + value for key, value in moments.items()}}
    session.add(
        AccountToken(user_id=user_id, purpose=purpose, token_hash=new_opaque_token()[1], **values)
    )


def families(session: Session) -> list[str]:
    session.expire_all()
    return sorted(session.exec(select(RefreshToken.family_id)).all())


def purposes(session: Session) -> list[str]:
    return sorted(session.exec(select(AccountToken.purpose)).all())


def test_the_reaper_deletes_spent_tokens_past_the_retention_and_keeps_the_rest(
    make_client,
):
    client = make_client(token_retention_days=30)
    register(client)
    with Session(client.app.state.engine) as session:
        user_id = 1
        add_refresh_token(session, user_id, "used-31-days-ago", used_at=-31 * DAY)
        add_refresh_token(session, user_id, "used-29-days-ago", used_at=-29 * DAY)
        add_refresh_token(session, user_id, "expired-31-days-ago", expires_at=-31 * DAY)
        add_refresh_token(session, user_id, "expired-yesterday", expires_at=-DAY)
        add_refresh_token(session, user_id, "revoked-31-days-ago", revoked_at=-31 * DAY)
        add_refresh_token(session, user_id, "revoked-today", revoked_at=-timedelta(hours=1))
        add_refresh_token(session, user_id, "live")
        add_link_token(session, user_id, "a-used-31-days-ago", used_at=-31 * DAY)
        add_link_token(session, user_id, "b-expired-31-days-ago", expires_at=-31 * DAY)
        add_link_token(session, user_id, "c-expired-yesterday", expires_at=-DAY)
        add_link_token(session, user_id, "d-unused")
        session.commit()

        client.app.state.worker.reap()

        assert families(session) == [
            "expired-yesterday",
            "live",
            "revoked-today",
            "used-29-days-ago",
        ]
        assert purposes(session) == ["c-expired-yesterday", "d-unused"]


def test_the_retention_is_a_setting(make_client):
    client = make_client(token_retention_days=2)
    register(client)
    with Session(client.app.state.engine) as session:
        add_refresh_token(session, 1, "used-3-days-ago", used_at=-3 * DAY)
        add_refresh_token(session, 1, "used-yesterday", used_at=-DAY)
        add_link_token(session, 1, "expired-3-days-ago", expires_at=-3 * DAY)
        session.commit()

        client.app.state.worker.reap()

        assert families(session) == ["used-yesterday"]
        assert purposes(session) == []


def test_within_the_retention_a_used_refresh_token_is_still_detected_as_reused(make_client):
    client = make_client(token_retention_days=30)
    register(client)
    first = login(client).json()
    successor = refresh(client, first["refresh_token"]).json()
    with Session(client.app.state.engine) as session:
        used = session.exec(select(RefreshToken).where(col(RefreshToken.used_at).is_not(None)))
        row = used.one()
        row.used_at = utc_now() - 29 * DAY  # a month-old copy, still within the retention
        row.expires_at = utc_now() - 28 * DAY
        session.add(row)
        session.commit()

        client.app.state.worker.reap()

        assert len(families(session)) == 2  # kept

    assert refresh(client, first["refresh_token"]).status_code == 401  # the replay...
    assert refresh(client, successor["refresh_token"]).status_code == 401  # ...ends the session
