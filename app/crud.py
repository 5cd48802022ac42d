"""Data access: plain functions that take a Session and plain values and return models."""

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import Engine, Select, Table, and_, bindparam, delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app import credits as ledger
from app import db, pages, search
from app.config import Settings
from app.models import (
    AccountToken,
    AccountTokenPurpose,
    AIUsageLog,
    AIUsageLogCreate,
    AIUsageTotal,
    CreditTransaction,
    ProcessingJob,
    RefreshToken,
    SearchHit,
    Summary,
    Token,
    Transcript,
    User,
    UserAdminRead,
    UserCreate,
    VideoSource,
    VideoSourceRead,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
    normalize_email,
    utc_now,
)
from app.pipeline import jobs
from app.reads import Reader
from app.security import (
    PasswordHasher,
    create_access_token,
    epoch_seconds,
    hash_opaque_token,
    new_account_reference,
    new_opaque_token,
    new_session_id,
)
from app.storage import SOURCE, PendingObject, Storage, StorageUnavailable, video_key
from app.webhooks import signing

logger = logging.getLogger("app")


# ---- Users: accounts, the current user, passwords, operators' changes.


OwnedKind = Literal["video", "job"]


def create_user(
    session: Session,
    *,
    user_create: UserCreate,
    hasher: PasswordHasher,
    credits: int,
    is_superuser: bool = False,
) -> User | None:
    """The new user, or None when the email is taken (also by a concurrent request).

    Starting credits are a grant in the ledger, in the same transaction as the user."""
    user = User(
        email=user_create.email,
        password_hash=hasher.hash(user_create.password),
        is_superuser=is_superuser,
    )
    session.add(user)
    # Insert and let the unique index decide: a check-then-insert would race.
    try:
        session.flush()
        if credits > 0:
            ledger.grant(session, user.id, credits, "Credits on registration")
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    if credits > 0:
        session.refresh(user)  # the balance the grant's UPDATE wrote
    return user


# Built once: session.get() builds its SELECT, and that SELECT's cache key, again on every
# call (about a quarter of the lookup's CPU, see bench/README.md). Same row, same identity map.
_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))


def get_user(session: Session, user_id: int) -> User | None:
    if not 0 < user_id <= db.MAX_ID:
        return None
    return session.exec(_USER_BY_ID, params={"user_id": user_id}).first()


# Whether the access token's session (its `sid`: the refresh-token family) was ended: logout,
# reuse detection and logout-all revoke every row of a family at once, so one revoked row says
# it. An EXISTS beside the user's columns, in the one query of the lookup; one probe of the
# (family_id, revoked_at) index. A token without `sid` asks for "", which no family has.
_TOKENS = RefreshToken.__table__  # type: ignore[attr-defined]
_SESSION_REVOKED = (
    select(_TOKENS.c.id)
    .where(_TOKENS.c.family_id == bindparam("session_id"), _TOKENS.c.revoked_at.is_not(None))
    .exists()
    .label("session_revoked")
)
_USER_OF_SESSION = select(User, _SESSION_REVOKED).where(User.id == bindparam("user_id"))


def get_user_of_session(
    session: Session, user_id: int, session_id: str | None
) -> tuple[User, bool] | None:
    """The user, and whether the session of the access token was ended; one query."""
    if not 0 < user_id <= db.MAX_ID:
        return None
    params = {"user_id": user_id, "session_id": session_id or ""}
    row = session.exec(_USER_OF_SESSION, params=params).first()  # type: ignore[call-overload]
    return None if row is None else (row[0], bool(row[1]))


# The current user of a bearer request: a Core SELECT run by db.fetch_row, not an ORM load
# (session transaction, identity map, instance state), which was most of such a request's
# cost while most routes only need to know who is asking (bench/README.md). The columns the
# API shows and the one the token check needs; never the password hash.
_USERS = User.__table__


_USER_READ = tuple(
    _USERS.c[name]
    for name in (
        "id",
        "email",
        "created_at",
        "is_active",
        "credits",
        "email_verified",
        "is_superuser",
        "tokens_valid_after",
    )
)


def _user_read_query(owned: Table | None) -> Select[Any]:
    query = select(*_USER_READ, _SESSION_REVOKED).where(_USERS.c.id == bindparam("user_id"))
    if owned is None:
        return query
    # The user's row, and beside it the object's when it exists and is the user's: one
    # statement, one pool checkout, where two would cost about twice as much.
    mine = and_(owned.c.id == bindparam("object_id"), owned.c.user_id == _USERS.c.id)
    extra = _OWNED_EXTRA.get(owned.name, {}).values()
    return query.add_columns(*owned.c, *extra).select_from(_USERS.outerjoin(owned, mine))


# Read beside an owned row's columns, by name: a video's ingest job (VideoRead.ingest_job_id).
_VIDEOS = VideoSource.__table__  # type: ignore[attr-defined]
_OWNED_EXTRA: dict[str, dict[str, Any]] = {
    "video_sources": {"ingest_job_id": jobs.ingest_job_id(_VIDEOS.c.id)},
}


_OWNED: dict[str, Table] = {
    "video": _VIDEOS,
    "job": ProcessingJob.__table__,  # type: ignore[attr-defined]
}


_USER_READ_QUERIES = {
    None: _user_read_query(None),
    **{kind: _user_read_query(table) for kind, table in _OWNED.items()},
}


_USER_READ_NAMES = tuple(column.name for column in _USER_READ)


_OWNED_NAMES = {
    kind: (*(column.name for column in table.c), *_OWNED_EXTRA.get(table.name, {}))
    for kind, table in _OWNED.items()
}


class UserRow(NamedTuple):
    user: UserAdminRead
    tokens_valid_after: datetime | None
    session_revoked: bool  # the access token's session was ended (logout, reuse detection)
    owned: dict[str, Any] | None  # the asked-for video's or job's columns, if it is the user's


def get_user_read(
    engine: Engine,
    user_id: int,
    session_id: str | None = None,
    owned: OwnedKind | None = None,
    object_id: int = 0,
) -> UserRow | None:
    """The user as the API shows it, since when its tokens count and whether the session
    `session_id` was ended, and with `owned` the row of that video or job if it is the user's;
    None if there is no such user."""
    statement = _user_read(user_id, session_id, owned, object_id)
    if statement is None:
        return None
    row = db.fetch_row(engine, *statement)
    return None if row is None else _user_row(row, owned)


async def read_user(
    reader: Reader,
    user_id: int,
    session_id: str | None = None,
    owned: OwnedKind | None = None,
    object_id: int = 0,
) -> UserRow | None:
    """`get_user_read` on an app.reads connection (the search routes)."""
    statement = _user_read(user_id, session_id, owned, object_id)
    if statement is None:
        return None
    row = await reader.first(*statement)
    return None if row is None else _user_row(row, owned)


def _user_read(
    user_id: int, session_id: str | None, owned: OwnedKind | None, object_id: int
) -> tuple[Select[Any], dict[str, Any]] | None:
    if not 0 < user_id <= db.MAX_ID:
        return None
    if not 0 < object_id <= db.MAX_ID:
        object_id = 0  # no row has it
    parameters = {"user_id": user_id, "object_id": object_id, "session_id": session_id or ""}
    return _USER_READ_QUERIES[owned], parameters


def _user_row(row: tuple[Any, ...], owned: OwnedKind | None) -> UserRow:
    # By position, the user's columns, the session's state, then the object's: the two tables
    # share column names.
    count = len(_USER_READ)
    values = dict(zip(_USER_READ_NAMES, row[:count], strict=True))
    tokens_valid_after = values.pop("tokens_valid_after")
    found = None
    if owned is not None:
        found = dict(zip(_OWNED_NAMES[owned], row[count + 1 :], strict=True))
        if found["id"] is None:  # no such object, or another user's
            found = None
    # Constructed, not validated again: the columns already typed every value.
    user = UserAdminRead.model_construct(**values)
    return UserRow(user, tokens_valid_after, bool(row[count]), found)


def get_user_by_email(session: Session, email: str) -> User | None:
    try:
        email = normalize_email(email)
    except ValueError:
        return None
    return session.exec(select(User).where(User.email == email)).first()


def authenticate(
    session: Session, *, email: str, password: str, hasher: PasswordHasher
) -> User | None:
    """The user whose password this is, whether active or not; None otherwise."""
    user = get_user_by_email(session, email)
    # End the read transaction before bcrypt's quarter second, so no connection idles in it.
    session.commit()
    matches, new_hash = hasher.verify(password, user.password_hash if user else None)
    if user is None or not matches:
        return None
    if new_hash is not None:  # the stored hash used an outdated cost
        user.password_hash = new_hash
        session.add(user)
        session.commit()
    return user


def set_password(session: Session, user: User, *, password: str, hasher: PasswordHasher) -> None:
    """Store the new password's hash; every reset link sent before dies with the old password."""
    user.password_hash = hasher.hash(password)
    session.add(user)
    session.exec(
        delete(AccountToken).where(
            col(AccountToken.user_id) == user.id, col(AccountToken.purpose) == "password_reset"
        )
    )
    session.commit()


def reset_password(session: Session, user: User, *, password: str, hasher: PasswordHasher) -> None:
    """A password set through an emailed link: the link also proved the address."""
    user.email_verified = True
    set_password(session, user, password=password, hasher=hasher)


def mark_email_verified(session: Session, user: User) -> None:
    user.email_verified = True
    session.add(user)
    session.commit()


def list_users(
    session: Session, *, email: str | None, limit: int, before_id: int | None
) -> tuple[list[User], str | None]:
    query = select(User)
    if email:  # any part of the address; stored addresses are lower-case
        query = query.where(col(User.email).contains(email.strip().lower(), autoescape=True))
    if before_id is not None:
        query = query.where(User.id < before_id)
    return _page(session, query.order_by(col(User.id).desc()), limit)


def set_user_active(session: Session, user: User, is_active: bool) -> User:
    user.is_active = is_active
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def make_superuser(session: Session, user: User) -> User:
    user.is_superuser = True
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def delete_user(session: Session, user: User, storage: Storage) -> None:
    """As delete_video for each of the user's videos: their files go (a store that is down
    raises StorageUnavailable before anything changed), then the user and, by the foreign keys'
    cascades, their tokens, usage logs, videos and jobs, then the files again. The credit
    ledger stays for the books, pseudonymised in the same transaction (docs/security.md)."""
    video_ids = [
        video_id
        for video_id in session.exec(select(VideoSource.id).where(VideoSource.user_id == user.id))
        if video_id is not None
    ]
    for video_id in video_ids:
        storage.delete_video(video_id)
    _pseudonymise_ledger(session, user)
    session.exec(delete(User).where(col(User.id) == user.id))
    session.commit()
    for video_id in video_ids:
        try:
            storage.delete_video(video_id)
        except StorageUnavailable:
            logger.warning("Objects of deleted video %s may remain", video_id, exc_info=True)


DELETED_ACCOUNT = "[deleted account]"


def _pseudonymise_ledger(session: Session, user: User) -> None:
    """The user's ledger rows lose their link to the person: no user id (the row would have
    gone with the user), a random reference shared by this account's rows only, and the
    address cut out of any note an operator typed it into."""
    reference = new_account_reference()
    email = user.email.lower()
    noted = select(CreditTransaction).where(
        col(CreditTransaction.user_id) == user.id,
        func.lower(col(CreditTransaction.note)).contains(email, autoescape=True),
    )
    for entry in session.exec(noted):
        entry.note = _without(entry.note or "", email)
    session.flush()
    session.exec(
        update(CreditTransaction)
        .where(col(CreditTransaction.user_id) == user.id)
        .values(user_id=None, account_ref=reference)
    )


def _without(note: str, email: str) -> str:
    """The note with every spelling (any case) of the address replaced."""
    lowered, parts, start = note.lower(), [], 0
    while (found := lowered.find(email, start)) >= 0:
        parts += [note[start:found], DELETED_ACCOUNT]
        start = found + len(email)
    return "".join([*parts, note[start:]])[:500]


# ---- Sessions: rotating refresh tokens (RefreshToken in app/models.py) and the token pairs.


def start_session(session: Session, *, user_id: int, expire_days: int) -> tuple[str, str]:
    """A new session (family) for the user: (its first refresh token, the family id)."""
    family_id = new_session_id()
    token = _add_refresh_token(session, user_id=user_id, family_id=family_id, days=expire_days)
    session.commit()
    return token, family_id


def _add_refresh_token(session: Session, *, user_id: int, family_id: str, days: int) -> str:
    token, token_hash = new_opaque_token()
    expires_at = utc_now() + timedelta(days=days)
    session.add(
        RefreshToken(
            user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at
        )
    )
    return token


def rotate_refresh_token(
    session: Session, *, token: str, expire_days: int, lost_answer_seconds: float = 0
) -> tuple[User, str, str] | None:
    """Use up a refresh token: (its user, the successor token, the family id), or None.

    A token that was already used is the sign of a copy (the thief's or the user's): its whole
    family is revoked, so the newer token dies too. Two requests racing with one token: the
    conditional UPDATE lets exactly one through; the other counts as a reuse.

    `lost_answer_seconds` (the browser's cookie only): a token used that recently whose
    successor was never used is the same browser again, whose reload cut off the answer that
    set the new cookie. It gets another successor (the lost one is used up) instead of ending
    the session. Past that time, or once the successor was used, it is a reuse as above.
    """
    row = _find_token(session, RefreshToken, token)
    if row is None:
        session.commit()
        return None
    token_id, user_id, family_id = row.id, row.user_id, row.family_id
    if not _use_up(session, RefreshToken, row.id, col(RefreshToken.revoked_at).is_(None)):
        session.rollback()  # ends the transaction: the check below sees the winner's commit
        used_at = _used_at(session, token_id)
        if used_at is None:
            session.commit()
            return None
        replaced = lost_answer_seconds and _replace_lost_successor(
            session, token_id, family_id, lost_answer_seconds
        )
        if not replaced:
            _revoke_families(session, col(RefreshToken.family_id) == family_id)
            session.commit()
            return None
    user = get_user(session, user_id)
    successor = _add_refresh_token(session, user_id=user_id, family_id=family_id, days=expire_days)
    session.commit()
    return (user, successor, family_id) if user is not None else None


def _used_at(session: Session, token_id: int | None) -> datetime | None:
    return session.exec(select(RefreshToken.used_at).where(RefreshToken.id == token_id)).first()


def _replace_lost_successor(
    session: Session, token_id: int | None, family_id: str, seconds: float
) -> bool:
    """For a token used within `seconds` in a live session whose successor (the one token
    after it) is still unused: use the successor up (its answer never arrived) and say True."""
    now = utc_now()
    fresh = session.exec(
        select(RefreshToken.id).where(
            RefreshToken.id == token_id,
            col(RefreshToken.used_at) >= now - timedelta(seconds=seconds),
            col(RefreshToken.revoked_at).is_(None),
            col(RefreshToken.expires_at) > now,
        )
    ).first()
    later_used = session.exec(
        select(RefreshToken.id).where(
            col(RefreshToken.family_id) == family_id,
            col(RefreshToken.id) > token_id,
            col(RefreshToken.used_at).is_not(None),
        )
    ).first()
    if fresh is None or later_used is not None:  # too late, or the successor was used
        return False
    lost = session.exec(
        update(RefreshToken)  # type: ignore[call-overload]
        .where(
            col(RefreshToken.family_id) == family_id,
            col(RefreshToken.id) > token_id,
            col(RefreshToken.used_at).is_(None),
            col(RefreshToken.revoked_at).is_(None),
        )
        .values(used_at=now, expires_at=now)  # expired too: presented later, it is a reuse
    )
    return lost.rowcount == 1


def _revoke_families(session: Session, *conditions) -> None:
    session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.revoked_at).is_(None), *conditions)
        .values(revoked_at=utc_now())
    )


def end_session(session: Session, *, token: str) -> None:
    """Revoke the family of this refresh token (logout); nothing for an unknown token."""
    family_id = session.exec(
        select(RefreshToken.family_id).where(RefreshToken.token_hash == hash_opaque_token(token))
    ).first()
    if family_id is not None:
        _revoke_families(session, col(RefreshToken.family_id) == family_id)
    session.commit()


def end_all_sessions(session: Session, user: User, *, keep_family: str | None = None) -> None:
    """Revoke the user's refresh tokens (all, or all but one session's) and refuse every
    access token issued until now."""
    conditions = [col(RefreshToken.user_id) == user.id]
    if keep_family is not None:
        conditions.append(col(RefreshToken.family_id) != keep_family)
    _revoke_families(session, *conditions)
    # Rounded up to a whole second: tokens carry whole-second iat, and any issued before now,
    # also earlier in this second, must fall before it (new ones are issued at >= it).
    now = datetime.now(UTC)
    user.tokens_valid_after = datetime.fromtimestamp(math.ceil(now.timestamp()), UTC)
    session.add(user)
    session.commit()


def new_token_pair(settings: Settings, user: User, *, refresh_token: str, session_id: str) -> Token:
    """The answer of a login or refresh: a new access token beside the session's refresh token."""
    assert user.id is not None
    access_token, expires_in = create_access_token(
        user.id,
        key=settings.jwt_key,
        expire_minutes=settings.access_token_expire_minutes,
        session_id=session_id,
        not_before=epoch_seconds(user.tokens_valid_after),
    )
    return Token(access_token=access_token, expires_in=expires_in, refresh_token=refresh_token)


# ---- Single-use tokens: the emailed password reset and email verification links.


def create_account_token(
    session: Session, *, user_id: int, purpose: AccountTokenPurpose, expires_in: timedelta
) -> str:
    token, token_hash = new_opaque_token()
    session.add(
        AccountToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=token_hash,
            expires_at=utc_now() + expires_in,
        )
    )
    session.commit()
    return token


def use_account_token(session: Session, *, token: str, purpose: AccountTokenPurpose) -> User | None:
    """The user of a valid token of this purpose, which is used up now; None otherwise.

    The conditional UPDATE makes it single-use even when two requests race with it.
    """
    row = _find_token(session, AccountToken, token, AccountToken.purpose == purpose)
    if row is None:
        session.commit()
        return None
    if not _use_up(session, AccountToken, row.id):
        session.rollback()
        return None
    return get_user(session, row.user_id)  # the caller commits with its change


SingleUse = type[RefreshToken] | type[AccountToken]


def _find_token(session: Session, table: SingleUse, token: str, *conditions: Any) -> Any:
    """The row of an opaque token (looked up by its hash), or None."""
    query = select(table).where(table.token_hash == hash_opaque_token(token), *conditions)
    return session.exec(query).first()


def _use_up(session: Session, table: SingleUse, row_id: int | None, *conditions: Any) -> bool:
    """Mark a single-use token used if it still may be (unused, unexpired, and `conditions`):
    one conditional UPDATE, so of two requests racing with one token exactly one wins."""
    now = utc_now()
    used = session.exec(
        update(table)
        .where(
            col(table.id) == row_id,
            col(table.used_at).is_(None),
            col(table.expires_at) > now,
            *conditions,
        )
        .values(used_at=now)
    )
    return used.rowcount == 1  # type: ignore[attr-defined]


# ---- Videos. Every query is scoped to its user: another user's id is answered exactly like one
# that does not exist.


def count_active_ingests(session: Session, user_id: int) -> int:
    query = select(func.count()).where(
        VideoSource.user_id == user_id, VideoSource.status == "processing"
    )
    return session.exec(query).one()


def create_uploaded_video(
    session: Session,
    *,
    user_id: int,
    filename: str | None,
    pending: PendingObject,
    content_type: str,
    storage: Storage,
) -> tuple[VideoSource, ProcessingJob]:
    """The video row, its ingest job, and the file moved under the video's id, all or nothing."""
    video = VideoSource(
        user_id=user_id,
        origin="upload",
        filename=filename,
        size_bytes=pending.size,
        sha256=pending.sha256,
        content_type=content_type,
    )
    return _create_with_ingest(
        session,
        video,
        store=lambda: storage.commit(pending, source_key(video)),
        unstore=lambda: storage.delete_video(video.id),
    )


def create_linked_video(
    session: Session, *, user_id: int, source_url: str
) -> tuple[VideoSource, ProcessingJob]:
    video = VideoSource(user_id=user_id, origin="link", source_url=source_url)
    return _create_with_ingest(session, video, store=lambda: None, unstore=lambda: None)


def _create_with_ingest(
    session: Session,
    video: VideoSource,
    *,
    store: Callable[[], None],
    unstore: Callable[[], None],
) -> tuple[VideoSource, ProcessingJob]:
    """Insert the video and its ingest job; the file goes into place before the commit and
    is removed again if the commit fails: never a row without its file, nor a file without
    its row."""
    session.add(video)
    session.flush()  # the id names the file
    job = ProcessingJob(video_id=video.id, user_id=video.user_id, kind=jobs.INGEST)
    session.add(job)
    session.flush()
    try:
        store()
        session.commit()
    except BaseException:
        session.rollback()
        unstore()
        raise
    return video, job


def source_key(video: VideoSource) -> str:
    return video_key(video.id, SOURCE)


def get_video(session: Session, *, user_id: int, video_id: int) -> VideoSource | None:
    if not 0 < video_id <= db.MAX_ID:
        return None
    video = session.get(VideoSource, video_id)
    return video if video is not None and video.user_id == user_id else None


def list_videos(
    session: Session, *, user_id: int, limit: int, before_id: int | None
) -> tuple[list[VideoSourceRead], str | None]:
    """A page of the user's videos, each with its ingest job's id (read in the same query)."""
    ingest = jobs.ingest_job_id(VideoSource.id)
    query = select(VideoSource, ingest).where(VideoSource.user_id == user_id)
    if before_id is not None:
        query = query.where(VideoSource.id < before_id)
    rows = list(session.exec(query.order_by(col(VideoSource.id).desc()).limit(limit + 1)).all())
    videos = [
        VideoSourceRead.model_validate(video, update={"ingest_job_id": ingest_id})
        for video, ingest_id in rows[:limit]
    ]
    return videos, (pages.encode_cursor(videos[-1].id) if len(rows) > limit else None)


def delete_video(session: Session, video: VideoSource, storage: Storage) -> None:
    """The files go, then the row (its jobs with it: a running one stops at its next
    checkpoint), then the files again: a thumbnail a worker stored meanwhile. Unfinished jobs
    are canceled (paid ones refunded) in the transaction that deletes the row. A store that is
    down raises StorageUnavailable before anything changed; a worker that finishes after this
    finds no row and removes what it wrote."""
    video_id = video.id
    storage.delete_video(video_id)
    unfinished = select(ProcessingJob).where(
        ProcessingJob.video_id == video_id, col(ProcessingJob.status).in_(jobs.UNFINISHED)
    )
    for job in session.exec(unfinished).all():
        jobs.cancel(session, job)
    session.delete(video)
    session.commit()
    try:
        storage.delete_video(video_id)
    except StorageUnavailable:
        logger.warning("Objects of deleted video %s may remain", video_id, exc_info=True)


# ---- Jobs.


class VideoNotReady(Exception):
    """Paid jobs run on ready videos only (with a known duration, which sets their price)."""


def create_paid_job(
    session: Session,
    *,
    video: VideoSource,
    kind: str,
    price_per_minute: int,
    options: dict[str, Any] | None = None,
) -> ProcessingJob | None:
    """A queued job of this kind, its price charged in the same transaction; None (and
    nothing stored) when the user's balance is short."""
    if video.status != "ready" or not video.duration_seconds:
        raise VideoNotReady
    cost = ledger.price(video.duration_seconds, price_per_minute)
    job = ProcessingJob(
        video_id=video.id, user_id=video.user_id, kind=kind, credits_charged=cost, options=options
    )
    session.add(job)
    try:
        session.flush()  # the id goes into the ledger row
    except IntegrityError:  # the video was deleted a moment ago
        session.rollback()
        raise VideoNotReady from None
    minutes = cost // price_per_minute if price_per_minute else 0
    note = f"{kind} of video {video.id} ({minutes} min)"
    if not ledger.charge(session, job, note):
        session.rollback()
        return None
    session.commit()
    return job


def get_job(session: Session, *, user_id: int, job_id: int) -> ProcessingJob | None:
    if not 0 < job_id <= db.MAX_ID:
        return None
    job = session.get(ProcessingJob, job_id)
    return job if job is not None and job.user_id == user_id else None


def read_job(session: Session, job_id: int) -> ProcessingJob | None:
    """A job as it is now, whoever's it is (for a stream that already checked the owner)."""
    return session.get(ProcessingJob, job_id)


def list_jobs(
    session: Session, *, video: VideoSource, limit: int, before_id: int | None
) -> tuple[list[ProcessingJob], str | None]:
    query = select(ProcessingJob).where(ProcessingJob.video_id == video.id)
    if before_id is not None:
        query = query.where(ProcessingJob.id < before_id)
    return _page(session, query.order_by(col(ProcessingJob.id).desc()), limit)


def cancel_job(session: Session, job: ProcessingJob) -> bool:
    """Cancel a queued or running job; False when it had already finished.

    One conditional UPDATE, so a worker finishing at the same moment and this cancel cannot
    both win: the worker's finish is conditional on the job still being its running job.
    """
    canceled = jobs.cancel(session, job)
    session.commit()
    session.refresh(job)
    return canceled


# ---- Credits: the ledger's history and operators' grants.


def list_credit_transactions(
    session: Session, *, user_id: int, limit: int, before_id: int | None
) -> tuple[list[CreditTransaction], str | None]:
    query = select(CreditTransaction).where(CreditTransaction.user_id == user_id)
    if before_id is not None:
        query = query.where(CreditTransaction.id < before_id)
    return _page(session, query.order_by(col(CreditTransaction.id).desc()), limit)


def grant_credits(
    session: Session, *, user_id: int, amount: int, note: str
) -> CreditTransaction | None:
    """The ledger row of the grant; None when it would take the balance below 0 (or past the
    largest balance), and nothing changes."""
    entry = ledger.grant(session, user_id, amount, note)
    if entry is None:
        session.rollback()
        return None
    session.commit()
    return entry


# ---- Transcripts.


def has_transcript(session: Session, *, video_id: int) -> bool:
    """Whether the video has a transcript: one indexed id, not the segments' JSON."""
    params = {"video_id": video_id}
    return session.exec(_HAS_TRANSCRIPT, params=params).first() is not None  # type: ignore[call-overload]


async def read_has_transcript(reader: Reader, video_id: int) -> bool:
    """`has_transcript` on an app.reads connection."""
    return await reader.first(_HAS_TRANSCRIPT, {"video_id": video_id}) is not None


_HAS_TRANSCRIPT = select(Transcript.id).where(Transcript.video_id == bindparam("video_id")).limit(1)


def latest_transcript(session: Session, *, video_id: int) -> Transcript | None:
    """The transcript of the video's newest succeeded `transcribe` job."""
    query = (
        select(Transcript)
        .where(Transcript.video_id == video_id)
        .order_by(col(Transcript.job_id).desc())
        .limit(1)
    )
    return session.exec(query).first()


def latest_summary(session: Session, *, video_id: int) -> Summary | None:
    """The summary of the video's newest succeeded `summarize` job."""
    query = (
        select(Summary)
        .where(Summary.video_id == video_id)
        .order_by(col(Summary.job_id).desc())
        .limit(1)
    )
    return session.exec(query).first()


async def search_page(
    reader: Reader,
    *,
    user_id: int,
    query: str,
    video_id: int | None = None,
    limit: int,
    offset: int,
) -> tuple[list[SearchHit], str | None]:
    """A page of hits from the user's newest transcripts (one video's, if given), best first;
    search.InvalidQuery for a query with nothing to search for."""
    terms = search.parse(query)
    hits = await search.find(
        reader,
        terms,
        user_id=user_id,
        video_id=video_id,
        limit=limit + 1,
        offset=offset,
    )
    more = len(hits) > limit and offset + limit < pages.MAX_OFFSET
    return hits[:limit], (pages.encode_offset(offset + limit) if more else None)


# ---- AI usage: one row per provider call that did work (written by the job kinds).


def record_ai_usage(session: Session, *, user_id: int, usage: AIUsageLogCreate) -> AIUsageLog:
    log = AIUsageLog.model_validate(usage, update={"user_id": user_id})
    session.add(log)
    session.commit()
    return log


def list_ai_usage(
    session: Session, *, user_id: int, limit: int, before_id: int | None
) -> tuple[list[AIUsageLog], str | None]:
    query = select(AIUsageLog).where(AIUsageLog.user_id == user_id)
    if before_id is not None:
        query = query.where(AIUsageLog.id < before_id)
    return _page(session, query.order_by(col(AIUsageLog.id).desc()), limit)


def _utc_day(session: Session, column: Any) -> Any:
    """A timestamp column's UTC day as `YYYY-MM-DD`, on either engine."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite keeps UTC text: 'YYYY-MM-DD HH:MM:SS...'


def ai_usage_totals(session: Session, *, days: int) -> list[AIUsageTotal]:
    """Provider usage per day, provider and model over the last `days` days, newest first,
    beside the credits its jobs were charged: the margin at a glance."""
    since = utc_now() - timedelta(days=days)
    day = _utc_day(session, AIUsageLog.created_at).label("day")
    keys = (day, AIUsageLog.provider, AIUsageLog.model)
    recent = col(AIUsageLog.created_at) >= since
    usage = session.exec(
        select(  # type: ignore[call-overload]
            *keys,
            func.count(),
            func.count(func.distinct(AIUsageLog.job_id)),
            func.sum(AIUsageLog.tokens_input),
            func.sum(AIUsageLog.tokens_output),
            func.coalesce(func.sum(AIUsageLog.audio_seconds), 0.0),
        )
        .where(recent)
        .group_by(*keys)
    ).all()
    # Each job's charge once, however many calls it made (a chunked transcription).
    jobs_used = (
        (select(*keys, AIUsageLog.job_id).where(recent, col(AIUsageLog.job_id).is_not(None)))
        .distinct()
        .subquery()
    )
    charged = dict(
        ((row[0], row[1], row[2]), row[3])
        for row in session.exec(
            select(  # type: ignore[call-overload]
                jobs_used.c.day,
                jobs_used.c.provider,
                jobs_used.c.model,
                func.sum(ProcessingJob.credits_charged),
            )
            .join(ProcessingJob, col(ProcessingJob.id) == jobs_used.c.job_id)
            .group_by(jobs_used.c.day, jobs_used.c.provider, jobs_used.c.model)
        ).all()
    )
    totals = [
        AIUsageTotal(
            day=day_,
            provider=provider,
            model=model,
            calls=calls,
            jobs=jobs_,
            tokens_input=tokens_in or 0,
            tokens_output=tokens_out or 0,
            audio_seconds=round(float(seconds), 3),
            credits_charged=int(charged.get((day_, provider, model)) or 0),
        )
        for day_, provider, model, calls, jobs_, tokens_in, tokens_out, seconds in usage
    ]
    return sorted(totals, key=lambda total: (total.day, total.provider, total.model), reverse=True)


# ---- Webhooks: a user's endpoints and their deliveries (sent by app/webhooks/delivery.py).


def create_webhook(
    session: Session, *, user_id: int, data: WebhookEndpointCreate, sealer: signing.Sealer
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (stored sealed; the caller shows it once)."""
    secret = signing.new_secret()
    endpoint = WebhookEndpoint.model_validate(
        data, update={"user_id": user_id, "secret_sealed": sealer.seal(secret)}
    )
    session.add(endpoint)
    session.commit()
    session.refresh(endpoint)
    return endpoint, secret


def list_webhooks(session: Session, *, user_id: int) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id)
    return list(session.exec(query.order_by(col(WebhookEndpoint.id))).all())


def get_webhook(session: Session, *, user_id: int, endpoint_id: int) -> WebhookEndpoint | None:
    """The user's endpoint; None for another user's (answered like a missing one)."""
    if not 0 < endpoint_id <= db.MAX_ID:
        return None
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    return endpoint if endpoint is not None and endpoint.user_id == user_id else None


def update_webhook(
    session: Session, endpoint: WebhookEndpoint, changes: WebhookEndpointUpdate
) -> WebhookEndpoint:
    values = changes.model_dump(exclude_unset=True)
    if "enabled" in values:
        # Enabled again: its failures start over. Disabled by its owner: no service reason.
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    endpoint.sqlmodel_update(values)
    endpoint.updated_at = utc_now()
    session.add(endpoint)
    session.commit()
    session.refresh(endpoint)
    return endpoint


def delete_webhook(session: Session, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its deliveries (ON DELETE CASCADE), pending ones included."""
    session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint.id))
    session.delete(endpoint)
    session.commit()


def rotate_webhook_secret(
    session: Session, endpoint: WebhookEndpoint, *, sealer: signing.Sealer, grace_hours: float
) -> str:
    """A new secret; the current one keeps signing beside it for `grace_hours`."""
    secret = signing.new_secret()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_secret_expires_at = utc_now() + timedelta(hours=grace_hours)
    endpoint.secret_sealed = sealer.seal(secret)
    endpoint.updated_at = utc_now()
    session.add(endpoint)
    session.commit()
    session.refresh(endpoint)
    return secret


def list_webhook_deliveries(
    session: Session, *, endpoint_id: int, limit: int, before_id: int | None
) -> tuple[list[WebhookDelivery], str | None]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if before_id is not None:
        query = query.where(col(WebhookDelivery.id) < before_id)
    return _page(session, query.order_by(col(WebhookDelivery.id).desc()), limit)


def redeliver(session: Session, *, endpoint_id: int, delivery_id: int) -> WebhookDelivery | None:
    """A new delivery of the same message (same body, same `webhook-id`), due now; None if
    the endpoint has no such delivery."""
    original = session.get(WebhookDelivery, delivery_id) if 0 < delivery_id <= db.MAX_ID else None
    if original is None or original.endpoint_id != endpoint_id:
        return None
    again = WebhookDelivery(
        endpoint_id=endpoint_id,
        event=original.event,
        message_id=original.message_id,
        payload=original.payload,
        next_attempt_at=utc_now(),
    )
    session.add(again)
    session.commit()
    session.refresh(again)
    return again


# ---- Pages.


def _page(session: Session, query: Any, limit: int) -> tuple[list[Any], str | None]:
    rows = list(session.exec(query.limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (pages.encode_cursor(rows[-1].id) if more else None)
