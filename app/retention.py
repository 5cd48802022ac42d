"""How long spent tokens are kept: the reaper deletes refresh and emailed-link token rows that
were used, revoked or expired more than TOKEN_RETENTION_DAYS ago.

Until then a used refresh token is still recognised when it is presented again (reuse
detection revokes its session), and a revoked one still tells the user lookup that its
session's access tokens are refused (app/crud.py); so the retention is never shorter than an
access token's lifetime.
"""

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_
from sqlmodel import Session, col, select

from app.config import Settings
from app.models import AccountToken, RefreshToken, utc_now

BATCH = 1000  # rows per statement: each run deletes at most this many of each kind


def forget_spent_tokens(session: Session, settings: Settings) -> int:
    """Delete spent tokens past the retention (run by the reaper); the caller commits.
    The number of rows deleted."""
    retention = max(
        timedelta(days=settings.token_retention_days),
        timedelta(minutes=settings.access_token_expire_minutes),
    )
    cutoff = utc_now() - retention
    refresh = (RefreshToken.expires_at, RefreshToken.used_at, RefreshToken.revoked_at)
    links = (AccountToken.expires_at, AccountToken.used_at)
    return _delete_before(session, RefreshToken, refresh, cutoff) + _delete_before(
        session, AccountToken, links, cutoff
    )


def _delete_before(session: Session, table: Any, moments: tuple[Any, ...], cutoff: Any) -> int:
    # Read first: a DELETE that finds nothing would still take SQLite's write lock.
    spent = or_(*(col(moment) < cutoff for moment in moments))
    ids = list(session.exec(select(table.id).where(spent).limit(BATCH)).all())
    if ids:
        session.exec(delete(table).where(col(table.id).in_(ids)))  # type: ignore[call-overload]
    return len(ids)
