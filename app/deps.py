"""The dependencies the routes declare: settings and services from app.state, the current
user (checked on every request), owned videos and jobs, page parameters, superusers."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import AfterValidator
from sqlalchemy import Engine
from sqlmodel import Session

from app import crud, db, pages
from app.config import Settings
from app.db import SessionDep
from app.mail import Mailer
from app.models import (
    ProcessingJob,
    ProcessingJobRead,
    User,
    UserAdminRead,
    VideoSource,
    VideoSourceRead,
    WebhookEndpoint,
)
from app.pipeline.queue import JobQueue
from app.reads import Reader, Reads
from app.security import AccessClaims, PasswordHasher, access_token_claims, epoch_seconds
from app.storage import Storage
from app.throttle import AuthLimits

BEARER = {"WWW-Authenticate": "Bearer"}
T = TypeVar("T")


# async: they only read app.state, and FastAPI would run a plain `def` dependency in the
# threadpool, a thread hop per dependency per request (measured in bench/README.md).
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_hasher(request: Request) -> PasswordHasher:
    return request.app.state.hasher


async def get_limits(request: Request) -> AuthLimits:
    return request.app.state.limits


async def get_mailer(request: Request) -> Mailer:
    return request.app.state.mailer


SettingsDep = Annotated[Settings, Depends(get_settings)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
LimitsDep = Annotated[AuthLimits, Depends(get_limits)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]
TokenDep = Annotated[str, Depends(OAuth2PasswordBearer(tokenUrl="auth/token"))]


def inactive_user() -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail="Inactive user")


def bad_credentials() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail="Could not validate credentials", headers=BEARER
    )


def _check(
    claims: AccessClaims,
    is_active: bool,
    tokens_valid_after: datetime | None,
    session_revoked: bool,
) -> None:
    """The checks of every bearer request on the user row read for it (no extra query):
    logout-all ended the tokens issued before it, logout or reuse detection ended the token's
    session, and a deactivated user is refused at once."""
    if claims.issued_at < epoch_seconds(tokens_valid_after) or session_revoked:
        raise bad_credentials()
    if not is_active:
        raise inactive_user()


def _claims(token: str, key: str) -> AccessClaims:
    claims = access_token_claims(token, key=key)
    if claims is None:  # refused before a connection is taken from the pool
        raise bad_credentials()
    return claims


def _read_as_user(
    engine: Engine, token: str, key: str, owned: crud.OwnedKind | None, object_id: int
) -> crud.UserRow:
    claims = _claims(token, key)
    found = crud.get_user_read(engine, claims.user_id, claims.session_id, owned, object_id)
    if found is None:
        raise bad_credentials()
    _check(claims, found.user.is_active, found.tokens_valid_after, found.session_revoked)
    return found


async def read_as_current_user(
    request: Request, token: str, owned: crud.OwnedKind | None = None, object_id: int = 0
) -> crud.UserRow:
    """Authenticate the bearer token: the current user, fresh on every request (a deactivated
    user is refused at once) and in no session. One Core query, no ORM load; with `owned`,
    the same query also reads that video or job if it is the user's (bench/README.md)."""
    state = request.app.state
    return await db.call_database(
        state.engine, _read_as_user, state.engine, token, state.settings.jwt_key, owned, object_id
    )


async def read_as_verified_user(
    request: Request,
    token: str,
    read: Callable[[Reader, crud.UserRow], Awaitable[T]],
    owned: crud.OwnedKind | None = None,
    object_id: int = 0,
) -> T:
    """`VerifiedUser`'s checks, then `await read(reader, found)`, on one app.reads connection
    in one call (bench/README.md, "Phase 3: search"). The token is checked before a connection
    is taken; with `owned`, `found.owned` is that object's row, read in the user's query (None
    if it is not the user's)."""
    settings = request.app.state.settings
    claims = _claims(token, settings.jwt_key)

    async def checked(reader: Reader) -> T:
        found = await crud.read_user(reader, claims.user_id, claims.session_id, owned, object_id)
        if found is None:
            raise bad_credentials()
        _check(claims, found.user.is_active, found.tokens_valid_after, found.session_revoked)
        refuse_unverified(found.user, settings)
        return await read(reader, found)

    reads: Reads = request.app.state.reads
    return await reads.run(checked)


async def get_current_user(request: Request, token: TokenDep) -> UserAdminRead:
    return (await read_as_current_user(request, token)).user


CurrentUser = Annotated[UserAdminRead, Depends(get_current_user)]


def _load_session_user(session: Session, token: str, key: str) -> User:
    claims = access_token_claims(token, key=key)
    if claims is None:
        raise bad_credentials()
    found = crud.get_user_of_session(session, claims.user_id, claims.session_id)
    # End the read transaction here: its connection goes back to the pool now, not when the
    # session closes, so a sync route that waits for a thread never sits on a connection.
    session.commit()
    if found is None:
        raise bad_credentials()
    user, session_revoked = found
    _check(claims, user.is_active, user.tokens_valid_after, session_revoked)
    return user


async def get_session_user(session: SessionDep, token: TokenDep, settings: SettingsDep) -> User:
    """The current user loaded into this request's session, for the routes that change the
    account (password, logout-all, deletion): their changes are tracked and committed."""
    return await db.call_database(
        session.get_bind(), _load_session_user, session, token, settings.jwt_key
    )


SessionUser = Annotated[User, Depends(get_session_user)]


def refuse_unverified(user: UserAdminRead, settings: Settings) -> None:
    """403 while REQUIRE_VERIFIED_EMAIL is set and the address is not verified: for the
    routes that spend resources (videos, jobs)."""
    if settings.require_verified_email and not user.email_verified:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Email not verified")


async def get_verified_user(user: CurrentUser, settings: SettingsDep) -> UserAdminRead:
    refuse_unverified(user, settings)
    return user


VerifiedUser = Annotated[UserAdminRead, Depends(get_verified_user)]


async def get_storage(request: Request) -> Storage:
    return request.app.state.storage


async def get_queue(request: Request) -> JobQueue:
    return request.app.state.queue


StorageDep = Annotated[Storage, Depends(get_storage)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]


VideoId = Annotated[int, Path(description="The video's id")]
JobId = Annotated[int, Path(description="The job's id")]


NOT_FOUND = {"video": "Video not found", "job": "Job not found"}


def not_found(kind: crud.OwnedKind) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND[kind])


async def get_owned_video(
    video_id: VideoId, user: VerifiedUser, session: SessionDep
) -> VideoSource:
    video = await db.call_database(
        session.get_bind(), lambda: crud.get_video(session, user_id=user.id, video_id=video_id)
    )
    if video is None:
        raise not_found("video")
    return video


async def get_owned_job(job_id: JobId, user: VerifiedUser, session: SessionDep) -> ProcessingJob:
    job = await db.call_database(
        session.get_bind(), lambda: crud.get_job(session, user_id=user.id, job_id=job_id)
    )
    if job is None:
        raise not_found("job")
    return job


OwnedVideo = Annotated[VideoSource, Depends(get_owned_video)]
OwnedJob = Annotated[ProcessingJob, Depends(get_owned_job)]
WebhookId = Annotated[int, Path(description="The webhook endpoint's id")]


async def get_owned_webhook(
    webhook_id: WebhookId, user: CurrentUser, session: SessionDep
) -> WebhookEndpoint:
    endpoint = await db.call(session, crud.get_webhook, user_id=user.id, endpoint_id=webhook_id)
    if endpoint is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Webhook endpoint not found")
    return endpoint


OwnedWebhook = Annotated[WebhookEndpoint, Depends(get_owned_webhook)]


# For the routes that only show a video or a job (GET, polling): the user and the object in
# one query and one dependency (each level of dependencies costs FastAPI's resolution too).
async def _owned_row(
    request: Request, token: str, kind: crud.OwnedKind, object_id: int
) -> dict[str, Any]:
    found = await read_as_current_user(request, token, kind, object_id)
    refuse_unverified(found.user, request.app.state.settings)
    if found.owned is None:
        raise not_found(kind)
    return found.owned


async def get_owned_video_read(
    video_id: VideoId, request: Request, token: TokenDep
) -> VideoSourceRead:
    return VideoSourceRead.of_row(await _owned_row(request, token, "video", video_id))


async def get_owned_job_read(job_id: JobId, request: Request, token: TokenDep) -> ProcessingJobRead:
    return ProcessingJobRead.of_row(await _owned_row(request, token, "job", job_id))


OwnedVideoRead = Annotated[VideoSourceRead, Depends(get_owned_video_read)]
OwnedJobRead = Annotated[ProcessingJobRead, Depends(get_owned_job_read)]


def _cursor_id(cursor: str | None) -> int | None:
    return None if cursor is None else pages.decode_cursor(cursor)


PageLimit = Annotated[int, Query(ge=1, le=100, description="Items per page")]
PageCursor = Annotated[
    str | None,
    Query(max_length=64, description="`next_cursor` of the previous page"),
    AfterValidator(_cursor_id),
]


async def get_current_superuser(user: CurrentUser) -> UserAdminRead:
    if not user.is_superuser:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Superusers only")
    return user


CurrentSuperuser = Annotated[UserAdminRead, Depends(get_current_superuser)]


UserId = Annotated[int, Path(description="The user's id")]


async def get_user_by_id(user_id: UserId, admin: CurrentSuperuser, session: SessionDep) -> User:
    user = await db.call_database(session.get_bind(), crud.get_user, session, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="User not found")
    return user


ChosenUser = Annotated[User, Depends(get_user_by_id)]
