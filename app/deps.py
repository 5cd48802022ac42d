"""The dependencies the routes declare: settings and services from app.state, the current
user (checked on every request), owned videos and jobs, page parameters, superusers."""

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import AfterValidator
from sqlmodel import Session

from app import crud, db
from app.config import Settings
from app.db import SessionDep
from app.mail import Mailer
from app.models import ProcessingJob, User, VideoSource
from app.security import PasswordHasher, access_token_claims
from app.storage import Storage
from app.throttle import AuthLimits
from app.worker import Worker

BEARER = {"WWW-Authenticate": "Bearer"}


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


def _current_user(session: Session, token: str, key: str) -> User:
    claims = access_token_claims(token, key=key)
    user = crud.get_user(session, claims.user_id) if claims is not None else None
    # End the read transaction here: its connection goes back to the pool now, not when the
    # session closes, so a sync route that waits for a thread never sits on a connection.
    session.commit()
    # The row read anyway says since when its tokens count (logout-all): no extra query.
    if user is None or claims is None or claims.issued_at < crud.tokens_valid_after(user):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="Could not validate credentials", headers=BEARER
        )
    if not user.is_active:
        raise inactive_user()
    return user


async def get_current_user(session: SessionDep, token: TokenDep, settings: SettingsDep) -> User:
    return await db.call_database(
        session.get_bind(), _current_user, session, token, settings.jwt_key
    )


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_verified_user(user: CurrentUser, settings: SettingsDep) -> User:
    """The current user, refused with 403 while REQUIRE_VERIFIED_EMAIL is set and the address
    is not verified. For the routes that spend resources (videos, jobs)."""
    if settings.require_verified_email and not user.email_verified:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Email not verified")
    return user


VerifiedUser = Annotated[User, Depends(get_verified_user)]


async def get_storage(request: Request) -> Storage:
    return request.app.state.storage


async def get_worker(request: Request) -> Worker:
    return request.app.state.worker


StorageDep = Annotated[Storage, Depends(get_storage)]
WorkerDep = Annotated[Worker, Depends(get_worker)]


VideoId = Annotated[int, Path(description="The video's id")]
JobId = Annotated[int, Path(description="The job's id")]


async def get_owned_video(
    video_id: VideoId, user: VerifiedUser, session: SessionDep
) -> VideoSource:
    video = await db.call_database(
        session.get_bind(), lambda: crud.get_video(session, user_id=user.id, video_id=video_id)
    )
    if video is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Video not found")
    return video


async def get_owned_job(job_id: JobId, user: VerifiedUser, session: SessionDep) -> ProcessingJob:
    job = await db.call_database(
        session.get_bind(), lambda: crud.get_job(session, user_id=user.id, job_id=job_id)
    )
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Job not found")
    return job


OwnedVideo = Annotated[VideoSource, Depends(get_owned_video)]
OwnedJob = Annotated[ProcessingJob, Depends(get_owned_job)]


def _cursor_id(cursor: str | None) -> int | None:
    return None if cursor is None else crud.decode_cursor(cursor)


PageLimit = Annotated[int, Query(ge=1, le=100, description="Items per page")]
PageCursor = Annotated[
    str | None,
    Query(max_length=64, description="`next_cursor` of the previous page"),
    AfterValidator(_cursor_id),
]


async def get_current_superuser(user: CurrentUser) -> User:
    if not user.is_superuser:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Superusers only")
    return user


CurrentSuperuser = Annotated[User, Depends(get_current_superuser)]


UserId = Annotated[int, Path(description="The user's id")]


async def get_user_by_id(user_id: UserId, admin: CurrentSuperuser, session: SessionDep) -> User:
    user = await db.call_database(session.get_bind(), crud.get_user, session, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="User not found")
    return user


ChosenUser = Annotated[User, Depends(get_user_by_id)]
