"""The HTTP routes. Each parses, calls crud, and shapes the answer; rules live elsewhere."""

from collections.abc import AsyncIterator
from typing import Annotated, BinaryIO, Literal

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    Form,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from sqlmodel import Session

from app import (
    account_emails,
    captions,
    crud,
    db,
    deps,
    fetch,
    idempotency,
    openapi,
    pages,
    playback,
    search,
    session_cookie,
    upload,
)
from app.config import Settings
from app.db import SessionDep
from app.deps import (
    BEARER,
    ChosenUser,
    CurrentSuperuser,
    CurrentUser,
    HasherDep,
    LimitsDep,
    MailerDep,
    OwnedJob,
    OwnedJobRead,
    OwnedVideo,
    OwnedVideoRead,
    OwnedWebhook,
    PageCursor,
    PageLimit,
    QueueDep,
    SessionUser,
    SettingsDep,
    StorageDep,
    TokenDep,
    VerifiedUser,
    VideoId,
    inactive_user,
)
from app.events import EventStreamResponse, JobWatcher, job_events
from app.idempotency import IdempotencyKeyHeader
from app.models import (
    AccountDeletion,
    AIUsagePage,
    AIUsageTotal,
    CreditGrant,
    CreditPage,
    CreditTransaction,
    CreditTransactionRead,
    EmailVerificationConfirm,
    HealthStatus,
    JobCreate,
    JobKindRead,
    JobPage,
    LoginForm,
    Message,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    PlaybackUrl,
    ProcessingJob,
    ProcessingJobRead,
    SearchPage,
    Summary,
    SummaryRead,
    Token,
    Transcript,
    TranscriptRead,
    User,
    UserAdminRead,
    UserCreate,
    UserLogin,
    UserPage,
    UserRead,
    UserUpdate,
    VideoLinkCreate,
    VideoPage,
    VideoSource,
    VideoSourceRead,
    WebhookDeliveryPage,
    WebhookDeliveryRead,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
)
from app.openapi_responses import (
    ADMIN,
    BAD_LINK_TOKEN,
    BAD_PASSWORD,
    BAD_TOKEN,
    COOKIE_ERRORS,
    ERROR_DETAIL_SCHEMA,
    JOB_EVENTS,
    JOB_NOT_FOUND,
    JPEG,
    LOGIN_ERRORS,
    NOT_A_VIDEO_ID,
    REPLAYED,
    STORE_DOWN,
    STORE_FULL,
    THUMBNAIL_HEADERS,
    TOO_LARGE,
    TOO_MANY,
    TOO_MANY_INGESTS,
    UPLOAD_BODY,
    USER_NOT_FOUND,
    VIDEO_AUTH,
    VIDEO_NOT_FOUND,
    error,
)
from app.pipeline import kinds
from app.reads import Reader
from app.security import PasswordHasher, access_token_claims
from app.session_cookie import CookieMode, RefreshBody, RefreshCookie
from app.storage import SOURCE, THUMBNAIL, video_key
from app.throttle import account_key, client_address, refuse_if_throttled
from app.webhooks import signing

RETRY_AFTER_SECONDS = 10

# Operation ids are the camelCase of these function names (app/openapi.py): name each route
# function as a verb phrase (get_me -> getMe) and keep it, since clients call it by that name.
#
# `async def` for routes that only await (the database calls go through db.call, inline on
# SQLite, on a thread for a network database); plain `def` for routes that hash a password
# (bcrypt: 0.1-0.3 s of CPU) or chain several blocking calls, which FastAPI runs on its
# thread pool so they never hold the event loop.


# The operation ids of the generated clients (`getMe`); the app serves these routes directly.
router = APIRouter(generate_unique_id_function=openapi.operation_id)


@router.get(
    "/health",
    tags=["health"],
    summary="Report whether the service and its database answer",
    response_model=HealthStatus,
    responses={503: {"model": HealthStatus, "description": "The database does not answer"}},
)
async def get_health(request: Request) -> JSONResponse:
    if await db.database_answers(request.app.state.engine):
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "unavailable"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


@router.post(
    "/auth/register",
    tags=["auth"],
    summary="Create an account",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses={409: error("Email already registered"), **TOO_LARGE, **TOO_MANY},
)
def register(
    user_create: UserCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    limits: LimitsDep,
) -> User:
    address = client_address(request)
    refuse_if_throttled((limits.register_per_address, address))
    limits.register_per_address.hit(address)
    user = crud.create_user(
        session, user_create=user_create, hasher=hasher, credits=settings.default_credits
    )
    if user is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="Email already registered")
    return user


class PasswordGuard:
    """The throttle of this client's password checks (app/throttle.py's AuthLimits), and the
    email to an owner whose account reached its ceiling."""

    def __init__(self, request: Request, limits: LimitsDep, mailer: MailerDep) -> None:
        self.address = client_address(request)
        self.limits, self.mailer = limits, mailer
        self.engine, self.settings = request.app.state.engine, request.app.state.settings

    def refuse_if_throttled(self, account: str) -> None:
        self.limits.refuse_password_check(account, self.address)

    def count_wrong_password(self, account: str) -> None:
        if self.limits.count_wrong_password(account, self.address):
            # Off the request path: the answer is the same whether the account exists or not.
            job = account_emails.send_login_ceiling_notice
            self.mailer.submit(job, self.engine, self.settings, self.mailer, account)


PasswordGuardDep = Annotated[PasswordGuard, Depends()]


class LoginContext:
    """What both login routes need besides the credentials."""

    def __init__(
        self, session: SessionDep, settings: SettingsDep, hasher: HasherDep, guard: PasswordGuardDep
    ) -> None:
        self.session, self.settings, self.hasher, self.guard = session, settings, hasher, guard


def _issue_token(context: LoginContext, email: str, password: str) -> Token:
    guard, account = context.guard, account_key(email)
    # Before the password is checked: a throttled client is 429 even with the right password,
    # and exactly the same whether the account exists or not.
    guard.refuse_if_throttled(account)
    session = context.session
    user = crud.authenticate(session, email=email, password=password, hasher=context.hasher)
    if user is None:
        guard.count_wrong_password(account)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="Incorrect email or password", headers=BEARER
        )
    # Checked only after the password matched, so a 403 never tells a stranger an account exists.
    if not user.is_active:
        raise inactive_user()
    assert user.id is not None
    settings = context.settings
    refresh_token, session_id = crud.start_session(
        session, user_id=user.id, expire_days=settings.refresh_token_expire_days
    )
    return crud.new_token_pair(settings, user, refresh_token=refresh_token, session_id=session_id)


@router.post(
    "/auth/login",
    tags=["auth"],
    summary="Log in with email and password",
    responses={**LOGIN_ERRORS, **COOKIE_ERRORS},
)
def login(
    credentials: UserLogin,
    context: Annotated[LoginContext, Depends()],
    request: Request,
    response: Response,
    cookie: CookieMode = False,
) -> Token:
    if cookie:
        session_cookie.refuse_cross_origin(request)
    token = _issue_token(context, credentials.email, credentials.password)
    if not cookie:
        return token
    max_age = context.settings.refresh_token_expire_days * 86400
    return session_cookie.into_cookie(token, request, response, max_age=max_age)


@router.post(
    "/auth/token",
    tags=["auth"],
    summary="Log in with the OAuth2 password form (username = email)",
    responses=LOGIN_ERRORS,
)
def login_with_form(
    form: Annotated[LoginForm, Form()],
    context: Annotated[LoginContext, Depends()],
) -> Token:
    return _issue_token(context, form.username, form.password)


@router.post(
    "/auth/refresh",
    tags=["auth"],
    summary="Exchange a refresh token for a new token pair (the old one is used up)",
    dependencies=[Depends(session_cookie.refuse_null_body)],
    responses={
        401: error(
            "Unknown, used, revoked or expired refresh token (reuse ends the session); "
            "with `?cookie=true` the cookie is cleared"
        ),
        **COOKIE_ERRORS,
        **TOO_LARGE,
    },
)
def refresh_session(
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
    body: RefreshBody = None,
    cookie: CookieMode = False,
    refresh_cookie: RefreshCookie = None,
) -> Token:
    if cookie:
        session_cookie.refuse_cross_origin(request)
    token = refresh_cookie if cookie else session_cookie.presented_token(body)
    # A refused refresh in cookie mode also clears the cookie: the app goes to its login page.
    cleared = session_cookie.cleared(request) if cookie else None
    rotated = token and crud.rotate_refresh_token(
        session,
        token=token,
        expire_days=settings.refresh_token_expire_days,
        lost_answer_seconds=settings.refresh_cookie_lost_answer_seconds if cookie else 0,
    )
    if not rotated:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="Invalid refresh token", headers=cleared
        )
    user, refresh_token, session_id = rotated
    if not user.is_active:
        refused = inactive_user()
        refused.headers = cleared
        raise refused
    pair = crud.new_token_pair(settings, user, refresh_token=refresh_token, session_id=session_id)
    if not cookie:
        return pair
    max_age = settings.refresh_token_expire_days * 86400
    return session_cookie.into_cookie(pair, request, response, max_age=max_age)


@router.post(
    "/auth/logout",
    tags=["auth"],
    summary="End the session of this refresh token",
    dependencies=[Depends(session_cookie.refuse_null_body)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**TOO_LARGE, **COOKIE_ERRORS},
)
def logout(
    session: SessionDep,
    request: Request,
    response: Response,
    body: RefreshBody = None,
    cookie: CookieMode = False,
    refresh_cookie: RefreshCookie = None,
) -> None:
    if not cookie:
        crud.end_session(session, token=session_cookie.presented_token(body))
        return
    session_cookie.refuse_cross_origin(request)
    if refresh_cookie:
        crud.end_session(session, token=refresh_cookie)
    session_cookie.clear(request, response)


@router.post(
    "/auth/logout-all",
    tags=["auth"],
    summary="End every session of the current user, access tokens included",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=BAD_TOKEN,
)
def logout_everywhere(user: SessionUser, session: SessionDep) -> None:
    crud.end_all_sessions(session, user)


@router.post(
    "/auth/password",
    tags=["auth"],
    summary="Change the password; every other session ends, this one refreshes",
    description="Every other session's refresh tokens are revoked, and every access token "
    "issued before the change is refused, the one that made this request too: refresh "
    "(`POST /auth/refresh` with this session's refresh token) to continue.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**BAD_PASSWORD, **BAD_TOKEN, **TOO_LARGE, **TOO_MANY},
)
def change_password(
    body: PasswordChange,
    user: SessionUser,
    token: TokenDep,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    guard: PasswordGuardDep,
) -> None:
    _check_password(user, body.current_password, hasher, guard)
    crud.set_password(session, user, password=body.new_password, hasher=hasher)
    claims = access_token_claims(token, key=settings.jwt_key)
    # This session keeps its refresh token (its access token dies with the others: refresh).
    crud.end_all_sessions(session, user, keep_family=claims.session_id if claims else None)


def _check_password(
    user: User, password: str, hasher: PasswordHasher, guard: PasswordGuard
) -> None:
    """Counted as a failed login: a stolen access token does not buy unlimited guesses."""
    guard.refuse_if_throttled(user.email)
    if not hasher.matches(password, user.password_hash):
        guard.count_wrong_password(user.email)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Incorrect password")


RESET_REQUESTED = "If an account has this address, a reset link is on its way"


@router.post(
    "/auth/password-reset/request",
    tags=["auth"],
    summary="Email a password reset link (same answer whether or not the account exists)",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**TOO_LARGE, **TOO_MANY},
)
def request_password_reset(
    body: PasswordResetRequest,
    request: Request,
    settings: SettingsDep,
    limits: LimitsDep,
    mailer: MailerDep,
    after_response: BackgroundTasks,
) -> Message:
    account, address = account_key(body.email), client_address(request)
    refuse_if_throttled((limits.email_per_account, account), (limits.email_per_address, address))
    limits.email_per_account.hit(account)
    limits.email_per_address.hit(address)
    # Even the lookup happens off the request path, and the job is queued only once the answer
    # is sent, so neither the answer nor its timing tells whether the account exists.
    job = account_emails.send_password_reset
    engine = request.app.state.engine
    after_response.add_task(mailer.submit, job, engine, settings, mailer, body.email)
    return Message(message=RESET_REQUESTED)


@router.post(
    "/auth/password-reset/confirm",
    tags=["auth"],
    summary="Set a new password with the emailed token; every session ends",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**BAD_LINK_TOKEN, **TOO_LARGE},
)
def reset_password(
    body: PasswordResetConfirm, session: SessionDep, hasher: HasherDep, limits: LimitsDep
) -> None:
    user = crud.use_account_token(session, token=body.token, purpose="password_reset")
    if user is None or not user.is_active:
        session.rollback()
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Invalid or expired token")
    crud.reset_password(session, user, password=body.new_password, hasher=hasher)
    crud.end_all_sessions(session, user)
    limits.forget_account_failures(user.email)  # the owner gets in at once, whoever guessed


@router.post(
    "/auth/verify-email/request",
    tags=["auth"],
    summary="Email a link that verifies the current user's address",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**BAD_TOKEN, **TOO_MANY},
)
def request_email_verification(
    user: CurrentUser,
    request: Request,
    settings: SettingsDep,
    limits: LimitsDep,
    mailer: MailerDep,
) -> Message:
    address = client_address(request)
    refuse_if_throttled((limits.email_per_account, user.email), (limits.email_per_address, address))
    limits.email_per_account.hit(user.email)
    limits.email_per_address.hit(address)
    if user.email_verified:
        return Message(message="The address is already verified")
    engine = request.app.state.engine
    mailer.submit(account_emails.send_email_verification, engine, settings, mailer, user.id)
    return Message(message="A verification link is on its way")


@router.post(
    "/auth/verify-email/confirm",
    tags=["auth"],
    summary="Verify the address with the emailed token",
    response_model=UserRead,
    responses={**BAD_LINK_TOKEN, **TOO_LARGE},
)
def verify_email(body: EmailVerificationConfirm, session: SessionDep) -> User:
    user = crud.use_account_token(session, token=body.token, purpose="email_verification")
    if user is None:
        session.rollback()
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Invalid or expired token")
    crud.mark_email_verified(session, user)
    return user


@router.get(
    "/me", tags=["users"], summary="The current user", response_model=UserRead, responses=BAD_TOKEN
)
async def get_me(user: CurrentUser) -> UserAdminRead:
    return user


# ---- Phase 2: videos and jobs (../shared/contract-videos.md, docs/phase-2-videos.md)


async def _refuse_past_active_ingests(
    session: Session, user: UserAdminRead, settings: Settings
) -> None:
    """429 once the user has MAX_ACTIVE_INGESTS videos processing (before any work)."""
    active = await db.call(session, crud.count_active_ingests, user.id)
    if active >= settings.max_active_ingests:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"{active} videos are still processing; try again when one is done",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


@router.post(
    "/videos/upload",
    tags=["videos"],
    summary="Upload a video file",
    status_code=status.HTTP_201_CREATED,
    response_model=VideoSourceRead,
    openapi_extra=UPLOAD_BODY,
    responses={
        **VIDEO_AUTH,
        413: error("File larger than MAX_UPLOAD_BYTES"),
        415: error("Not a known video container"),
        422: {
            "description": "No `file` field, or not a multipart body",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
            },
        },
        **TOO_MANY_INGESTS,
        **STORE_DOWN,
        **STORE_FULL,
    },
)
async def upload_video(
    request: Request,
    response: Response,
    user: VerifiedUser,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    queue: QueueDep,
) -> VideoSourceRead:
    await _refuse_past_active_ingests(session, user, settings)
    received = await upload.receive_video(request, storage, max_bytes=settings.max_upload_bytes)
    try:
        video, job = await db.call(
            session,
            crud.create_uploaded_video,
            user_id=user.id,
            filename=received.filename,
            pending=received.pending,
            content_type=received.content_type,
            storage=storage,
        )
    finally:
        await run_in_threadpool(received.pending.abort)  # a no-op once it is in place
    await run_in_threadpool(queue.enqueue, job.id)
    response.headers["Location"] = f"/videos/{video.id}"
    return VideoSourceRead.model_validate(video, update={"ingest_job_id": job.id})


@router.post(
    "/videos/link",
    tags=["videos"],
    summary="Add a video by link: the worker downloads it",
    status_code=status.HTTP_201_CREATED,
    response_model=VideoSourceRead,
    responses={
        201: {"description": "The video, processing", "headers": REPLAYED},
        **VIDEO_AUTH,
        409: error("A request with this Idempotency-Key is still in progress"),
        **TOO_LARGE,
        **TOO_MANY_INGESTS,
    },
)
async def create_video_from_link(
    link: VideoLinkCreate,
    request: Request,
    user: VerifiedUser,
    session: SessionDep,
    settings: SettingsDep,
    queue: QueueDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    try:
        url = fetch.validate_link_url(link.url, allow_private=settings.link_allow_private)
    except ValueError as error:
        problem = {"type": "value_error", "loc": ("body", "url"), "msg": str(error)}
        raise RequestValidationError([problem]) from None

    async def add_video() -> VideoSourceRead:
        await _refuse_past_active_ingests(session, user, settings)
        video, job = await db.call(
            session, crud.create_linked_video, user_id=user.id, source_url=url
        )
        await run_in_threadpool(queue.enqueue, job.id)
        return VideoSourceRead.model_validate(video, update={"ingest_job_id": job.id})

    return await idempotency.respond(
        session,
        user.id,
        idempotency_key,
        idempotency.request_hash("POST", request.url.path, link),
        add_video,
        status.HTTP_201_CREATED,
        hours=settings.idempotency_key_hours,
        headers=lambda video: {"Location": f"/videos/{video['id']}"},
    )


@router.get(
    "/videos",
    tags=["videos"],
    summary="List your videos, newest first",
    response_model=VideoPage,
    responses=VIDEO_AUTH,
)
async def list_videos(
    user: VerifiedUser, session: SessionDep, limit: PageLimit = 20, cursor: PageCursor = None
) -> VideoPage:
    videos, next_cursor = await db.call(
        session, crud.list_videos, user_id=user.id, limit=limit, before_id=cursor
    )
    return VideoPage(data=videos, next_cursor=next_cursor)


@router.get(
    "/videos/{video_id:int}",
    tags=["videos"],
    summary="One of your videos",
    response_model=VideoSourceRead,
    responses={**VIDEO_AUTH, **VIDEO_NOT_FOUND, **NOT_A_VIDEO_ID},
)
async def get_video(video: OwnedVideoRead) -> VideoSourceRead:
    return video


@router.delete(
    "/videos/{video_id:int}",
    tags=["videos"],
    summary="Delete a video, its files and its jobs",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**VIDEO_AUTH, **VIDEO_NOT_FOUND, **STORE_DOWN, **NOT_A_VIDEO_ID},
)
async def delete_video(
    video: OwnedVideo, session: SessionDep, storage: StorageDep, request: Request
) -> None:
    video_id = video.id
    await run_in_threadpool(crud.delete_video, session, video, storage)
    request.app.state.job_watcher.notify(video_id=video_id)  # its jobs' streams end now


@router.get(
    "/videos/{video_id:int}/thumbnail",
    tags=["videos"],
    summary="The video's JPEG thumbnail",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"image/jpeg": {"schema": JPEG}},
            "description": "The thumbnail",
            "headers": THUMBNAIL_HEADERS,
        },
        304: {
            "description": "Not Modified: the If-None-Match tag is the current one",
            "headers": THUMBNAIL_HEADERS,
        },
        **VIDEO_AUTH,
        404: error("No such video, or no thumbnail yet"),
        **STORE_DOWN,
    },
)
async def get_video_thumbnail(
    video: OwnedVideo,
    storage: StorageDep,
    if_none_match: Annotated[
        str | None,
        Header(
            alias="If-None-Match",
            description="The ETag of the copy the client has: 304 without a body if current",
        ),
    ] = None,
) -> Response:
    # Streamed through the API from either backend, not a redirect to a presigned URL: the
    # same authorization and URL whatever the store, and a bucket only the servers reach.
    not_found = HTTPException(status.HTTP_404_NOT_FOUND, detail="Thumbnail not found")
    if not video.has_thumbnail:
        raise not_found
    key = video_key(video.id, THUMBNAIL)
    try:
        etag = await run_in_threadpool(storage.etag, key)
        # Private: it is the user's; no-cache: asked again each time (SQLite may give a
        # deleted video's id to another), which the ETag answers with a 304 and no body.
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if _matches(if_none_match, etag):
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
        stream, size = await run_in_threadpool(storage.open, key)
    except FileNotFoundError:
        raise not_found from None
    headers["Content-Length"] = str(size)
    return StreamingResponse(_chunks(stream), media_type="image/jpeg", headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2): `*`, or any listed tag, `W/` or not."""
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags


async def _chunks(stream: BinaryIO, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A stored object's bytes, read on a worker thread a chunk at a time, then closed."""
    try:
        while chunk := await run_in_threadpool(stream.read, size):
            yield chunk
    finally:
        stream.close()


@router.post(
    "/videos/{video_id:int}/playback",
    tags=["videos"],
    summary="A short-lived signed URL that plays the video's file (a <video> element's src)",
    response_model=PlaybackUrl,
    responses={**VIDEO_AUTH, **VIDEO_NOT_FOUND, 409: error("Video is not ready")},
)
async def create_playback_url(video: OwnedVideo, settings: SettingsDep) -> PlaybackUrl:
    if video.status != "ready":
        raise HTTPException(status.HTTP_409_CONFLICT, detail="Video is not ready")
    assert video.id is not None
    url, expires_at = playback.sign(
        settings.jwt_key, video.id, video.user_id, ttl_seconds=settings.playback_url_ttl_seconds
    )
    return PlaybackUrl(url=url, expires_at=expires_at)


# Not in the document: its URLs come whole from POST /videos/{id}/playback (app/playback.py).
@router.api_route("/playback/{video_id:int}", methods=["GET", "HEAD"], include_in_schema=False)
async def play_video(
    video_id: int,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    owner: str = "",
    expires: str = "",
    sig: str = "",
) -> Response:
    try:
        owner_id, seconds_left = playback.check(settings.jwt_key, video_id, owner, expires, sig)
    except playback.Refused as refused:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(refused)) from None
    video = await db.call(session, crud.get_video, user_id=owner_id, video_id=video_id)
    gone = HTTPException(status.HTTP_404_NOT_FOUND, detail="Video not found")
    if video is None or video.status != "ready":
        raise gone
    key = video_key(video_id, SOURCE)
    content_type = video.content_type or "application/octet-stream"
    try:
        return await playback.respond(
            storage, key, content_type=content_type, seconds_left=seconds_left
        )
    except FileNotFoundError:
        raise gone from None


@router.get(
    "/videos/{video_id:int}/jobs",
    tags=["jobs"],
    summary="The jobs of a video, newest first",
    response_model=JobPage,
    responses={**VIDEO_AUTH, **VIDEO_NOT_FOUND},
)
async def list_video_jobs(
    video: OwnedVideo, session: SessionDep, limit: PageLimit = 20, cursor: PageCursor = None
) -> JobPage:
    found, next_cursor = await db.call(
        session, crud.list_jobs, video=video, limit=limit, before_id=cursor
    )
    return JobPage(data=found, next_cursor=next_cursor)


@router.get(
    "/jobs/{job_id:int}",
    tags=["jobs"],
    summary="One of your jobs",
    response_model=ProcessingJobRead,
    responses={**VIDEO_AUTH, **JOB_NOT_FOUND},
)
async def get_job(job: OwnedJobRead) -> ProcessingJobRead:
    return job


@router.post(
    "/jobs/{job_id:int}/cancel",
    tags=["jobs"],
    summary="Cancel a queued or running job",
    response_model=ProcessingJobRead,
    responses={**VIDEO_AUTH, **JOB_NOT_FOUND, 409: error("Job already finished")},
)
async def cancel_job(job: OwnedJob, session: SessionDep, request: Request) -> ProcessingJob:
    if not await db.call(session, crud.cancel_job, job):
        raise HTTPException(status.HTTP_409_CONFLICT, detail="Job already finished")
    request.app.state.job_watcher.notify(job.id)  # its streams hear it now, not at the tick
    return job


@router.get(
    "/jobs/{job_id:int}/events",
    tags=["jobs"],
    summary="Follow a job: server-sent events until it finishes",
    response_class=EventStreamResponse,
    # As JSON, not as the stream's media type: these answers come before any stream.
    responses={
        **JOB_EVENTS,
        **{
            code: {**answer, "content": {"application/json": {"schema": ERROR_DETAIL_SCHEMA}}}
            for code, answer in {**VIDEO_AUTH, **JOB_NOT_FOUND}.items()
        },
    },
)
async def stream_job_events(
    job: OwnedJob,
    request: Request,
    last_event_id: Annotated[int | None, Header(ge=0, description="Resume after this id")] = None,
) -> EventStreamResponse:
    """The job now (unless `Last-Event-ID` has seen it), then each change, read from the
    database so it works whichever process runs the job; ends after a final status."""
    # The process's watcher reads the database for every stream at once (app/events.py).
    watcher: JobWatcher = request.app.state.job_watcher
    return EventStreamResponse(job_events(watcher, job, after=last_event_id or 0))


# ---- Credits: paid jobs, their results, the history (docs/phase-2-videos.md#credits)


@router.post(
    "/videos/{video_id:int}/jobs",
    tags=["jobs"],
    summary="Start a paid job on a ready video (charged now, refunded if it fails)",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ProcessingJobRead,
    responses={
        202: {"description": "The job, queued", "headers": REPLAYED},
        **BAD_TOKEN,
        402: error("Insufficient credits"),
        **VIDEO_NOT_FOUND,
        409: error(
            "Video not ready, without audio (transcribe), not transcribed (summarize), or a "
            "request with this Idempotency-Key still in progress"
        ),
        **TOO_LARGE,
        503: error("The kind's AI provider is not configured (the detail names the setting)"),
    },
)
async def create_video_job(
    job_create: JobCreate,
    video: OwnedVideo,
    user: CurrentUser,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    queue: QueueDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    transcribed = await db.call(session, crud.has_transcript, video_id=video.id)
    try:
        kind, options = kinds.order(
            job_create.kind,
            job_create.options,
            has_audio=video.has_audio,
            transcribed=transcribed,
            settings=settings,
        )
    except kinds.InvalidOptions as invalid:
        raise RequestValidationError(invalid.errors) from None
    except kinds.Refused as refused:
        raise HTTPException(refused.status_code, detail=refused.detail) from None

    async def start_job() -> ProcessingJobRead:
        try:
            job = await db.call(
                session,
                crud.create_paid_job,
                video=video,
                kind=kind.name,
                price_per_minute=kind.price_per_minute(settings),
                options=options,
            )
        except crud.VideoNotReady:
            raise HTTPException(status.HTTP_409_CONFLICT, detail="Video is not ready") from None
        if job is None:
            raise HTTPException(status.HTTP_402_PAYMENT_REQUIRED, detail="Insufficient credits")
        await run_in_threadpool(queue.enqueue, job.id)
        return ProcessingJobRead.model_validate(job)

    fingerprint = idempotency.request_hash("POST", request.url.path, job_create)
    return await idempotency.respond(
        session,
        user.id,
        idempotency_key,
        fingerprint,
        start_job,
        status.HTTP_202_ACCEPTED,
        hours=settings.idempotency_key_hours,
    )


@router.get(
    "/jobs/{job_id:int}/result",
    tags=["jobs"],
    summary="Download what a job produced (FLAC audio, a Transcript or a Summary)",
    response_class=FileResponse,
    responses={
        200: {
            "content": {
                "audio/flac": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/TranscriptRead"},
                            {"$ref": "#/components/schemas/SummaryRead"},
                        ]
                    }
                },
            },
            "description": "The job's result: extract_audio's 16 kHz mono FLAC, transcribe's "
            "Transcript or summarize's Summary as JSON",
        },
        **BAD_TOKEN,
        404: error("No such job, or it has not succeeded (yet)"),
        **STORE_DOWN,
    },
)
async def get_job_result(job: OwnedJob, storage: StorageDep) -> StreamingResponse:
    # Streamed through the API from either backend, like the thumbnail.
    not_found = HTTPException(status.HTTP_404_NOT_FOUND, detail="Result not found")
    if job.status != "succeeded" or not job.result_key:
        raise not_found
    try:
        stream, size = await run_in_threadpool(storage.open, job.result_key)
    except FileNotFoundError:
        raise not_found from None
    name = job.result_key.rsplit("/", 1)[-1]
    headers = {
        "Content-Length": str(size),
        "Content-Disposition": f'attachment; filename="job-{job.id}-{name}"',
    }
    media_type = job.result_type or "application/octet-stream"
    return StreamingResponse(_chunks(stream), media_type=media_type, headers=headers)


@router.get(
    "/me/credits",
    tags=["credits"],
    summary="Your credit transactions (grants, charges, refunds), newest first",
    response_model=CreditPage,
    responses=BAD_TOKEN,
)
async def list_credit_transactions(
    user: CurrentUser, session: SessionDep, limit: PageLimit = 20, cursor: PageCursor = None
) -> CreditPage:
    found, next_cursor = await db.call(
        session, crud.list_credit_transactions, user_id=user.id, limit=limit, before_id=cursor
    )
    return CreditPage(data=found, next_cursor=next_cursor)


# ---- AI: what can be bought, transcripts and captions, usage (../shared/contract-ai.md)


@router.get(
    "/job-kinds",
    tags=["jobs"],
    summary="The kinds of job you can buy, their price and whether they can be bought now",
    response_model=list[JobKindRead],
    responses=BAD_TOKEN,
)
async def list_job_kinds(user: CurrentUser, settings: SettingsDep) -> list[JobKindRead]:
    return [kinds.describe(kind, settings) for kind in kinds.for_sale().values()]


NO_TRANSCRIPT = {404: error("No such video (or not yours), or no transcript yet")}


async def _transcript_of(video: VideoSource, session: Session) -> Transcript:
    transcript = await db.call(session, crud.latest_transcript, video_id=video.id)
    if transcript is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Transcript not found")
    return transcript


@router.get(
    "/videos/{video_id:int}/transcript",
    tags=["videos"],
    summary="The video's transcript (its newest succeeded transcribe job's)",
    response_model=TranscriptRead,
    responses={**VIDEO_AUTH, **NO_TRANSCRIPT},
)
async def get_video_transcript(video: OwnedVideo, session: SessionDep) -> Transcript:
    return await _transcript_of(video, session)


@router.get(
    "/videos/{video_id:int}/summary",
    tags=["videos"],
    summary="The video's summary, chapters and keywords (its newest summarize job's)",
    response_model=SummaryRead,
    responses={**VIDEO_AUTH, 404: error("No such video (or not yours), or no summary yet")},
)
async def get_video_summary(video: OwnedVideo, session: SessionDep) -> Summary:
    summary = await db.call(session, crud.latest_summary, video_id=video.id)
    if summary is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Summary not found")
    return summary


CaptionFormat = Literal["vtt", "srt"]


@router.get(
    "/videos/{video_id:int}/captions",
    tags=["videos"],
    summary="Captions cut from the transcript: WebVTT or SRT",
    response_class=PlainTextResponse,
    responses={
        200: {
            "content": {
                media.split(";")[0]: {"schema": {"type": "string"}}
                for media in captions.FORMATS.values()
            },
            "description": "At most 42 characters a line, 2 lines and about 7 s a cue",
        },
        # As JSON, not as the captions' media type: these answers come instead of captions.
        **{
            code: {**answer, "content": {"application/json": {"schema": ERROR_DETAIL_SCHEMA}}}
            for code, answer in {**VIDEO_AUTH, **NO_TRANSCRIPT}.items()
        },
    },
)
async def get_video_captions(
    video: OwnedVideo,
    session: SessionDep,
    format: Annotated[CaptionFormat, Query(description="`vtt` (WebVTT) or `srt`")] = "vtt",
) -> Response:
    transcript = await _transcript_of(video, session)
    text = captions.render(transcript.segments, format, until=transcript.duration_seconds)
    name = f"video-{video.id}.{format}"
    return Response(
        text,
        media_type=captions.FORMATS[format],
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


SearchQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=500,
        description='Words (all must match), "quoted phrases", prefix* (2+ letters)',
    ),
]
BAD_QUERY = {
    422: {
        "description": "No words to search for, too many, or a bad limit or cursor",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
        },
    }
}


async def _search(
    reader: Reader,
    *,
    user_id: int,
    q: str,
    video_id: int | None,
    limit: int,
    cursor: str | None,
) -> SearchPage:
    try:
        offset = pages.decode_offset(cursor) if cursor else 0
    except ValueError:
        problem = {"type": "value_error", "loc": ("query", "cursor"), "msg": "Invalid cursor"}
        raise RequestValidationError([problem]) from None
    try:
        hits, next_cursor = await crud.search_page(
            reader,
            user_id=user_id,
            query=q,
            video_id=video_id,
            limit=limit,
            offset=offset,
        )
    except search.InvalidQuery as invalid:
        problem = {"type": "value_error", "loc": ("query", "q"), "msg": str(invalid)}
        raise RequestValidationError([problem]) from None
    return SearchPage(data=hits, next_cursor=next_cursor)


SearchCursor = Annotated[
    str | None, Query(max_length=64, description="`next_cursor` of the previous page")
]


# The search routes read through app.reads: the bearer check and the search on one connection,
# on PostgreSQL without a worker-thread hop (bench/README.md, "Phase 3: search").
@router.get(
    "/search",
    tags=["search"],
    summary="Find where words were said in your videos' transcripts, best matches first",
    response_model=SearchPage,
    responses={**VIDEO_AUTH, **BAD_QUERY},
)
async def search_transcripts(
    request: Request,
    token: TokenDep,
    q: SearchQuery,
    limit: PageLimit = 20,
    cursor: SearchCursor = None,
) -> SearchPage:
    async def find(reader: Reader, found: crud.UserRow) -> SearchPage:
        return await _search(
            reader, user_id=found.user.id, q=q, video_id=None, limit=limit, cursor=cursor
        )

    return await deps.read_as_verified_user(request, token, find)


@router.get(
    "/videos/{video_id:int}/transcript/search",
    tags=["search"],
    summary="Find where words were said in one video's transcript",
    response_model=SearchPage,
    responses={**VIDEO_AUTH, **NO_TRANSCRIPT, **BAD_QUERY},
)
async def search_video_transcript(
    video_id: VideoId,
    request: Request,
    token: TokenDep,
    q: SearchQuery,
    limit: PageLimit = 20,
    cursor: SearchCursor = None,
) -> SearchPage:
    async def find(reader: Reader, found: crud.UserRow) -> SearchPage:
        if found.owned is None:
            raise deps.not_found("video")
        if not await crud.read_has_transcript(reader, video_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Transcript not found")
        return await _search(
            reader, user_id=found.user.id, q=q, video_id=video_id, limit=limit, cursor=cursor
        )

    return await deps.read_as_verified_user(request, token, find, "video", video_id)


@router.get(
    "/me/ai-usage",
    tags=["credits"],
    summary="Your AI provider calls (one per call that did work), newest first",
    response_model=AIUsagePage,
    responses=BAD_TOKEN,
)
async def list_ai_usage(
    user: CurrentUser, session: SessionDep, limit: PageLimit = 20, cursor: PageCursor = None
) -> AIUsagePage:
    found, next_cursor = await db.call(
        session, crud.list_ai_usage, user_id=user.id, limit=limit, before_id=cursor
    )
    return AIUsagePage(data=found, next_cursor=next_cursor)


# ---- Webhooks: events pushed to the user's own server (../shared/contract-ai.md#webhooks).

WEBHOOK_NOT_FOUND = {404: error("No such webhook endpoint (or not yours)")}


def _checked_endpoint_url(url: str, settings: Settings) -> str:
    """A 422 like pydantic's unless the URL and every address its name resolves to are allowed."""
    try:
        return fetch.validate_endpoint_url(url, allow_private=settings.webhook_allow_private)
    except ValueError as error:
        problem = {"type": "value_error", "loc": ("body", "url"), "msg": str(error)}
        raise RequestValidationError([problem]) from None


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookEndpointWithSecret:
    return WebhookEndpointWithSecret.model_validate(endpoint, update={"secret": secret})


@router.post(
    "/webhooks",
    tags=["webhooks"],
    summary="Register an endpoint for events; its signing secret is shown only in this answer",
    status_code=status.HTTP_201_CREATED,
    responses={**BAD_TOKEN, **TOO_LARGE},
)
def create_webhook(
    body: WebhookEndpointCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> WebhookEndpointWithSecret:
    body.url = _checked_endpoint_url(body.url, settings)
    sealer = signing.Sealer(settings.jwt_key)
    endpoint, secret = crud.create_webhook(session, user_id=user.id, data=body, sealer=sealer)
    return _with_secret(endpoint, secret)


@router.get(
    "/webhooks",
    tags=["webhooks"],
    summary="Your webhook endpoints (without their secrets)",
    responses=BAD_TOKEN,
)
def list_webhooks(user: CurrentUser, session: SessionDep) -> list[WebhookEndpointRead]:
    return [
        WebhookEndpointRead.model_validate(endpoint)
        for endpoint in crud.list_webhooks(session, user_id=user.id)
    ]


@router.patch(
    "/webhooks/{webhook_id:int}",
    tags=["webhooks"],
    summary="Change an endpoint: its URL, events, description, or enabled",
    responses={**BAD_TOKEN, **WEBHOOK_NOT_FOUND, **TOO_LARGE},
)
def update_webhook(
    changes: WebhookEndpointUpdate,
    endpoint: OwnedWebhook,
    session: SessionDep,
    settings: SettingsDep,
) -> WebhookEndpointRead:
    if changes.url is not None:
        changes.url = _checked_endpoint_url(changes.url, settings)
    return WebhookEndpointRead.model_validate(crud.update_webhook(session, endpoint, changes))


@router.delete(
    "/webhooks/{webhook_id:int}",
    tags=["webhooks"],
    summary="Delete an endpoint and its deliveries",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**BAD_TOKEN, **WEBHOOK_NOT_FOUND},
)
def delete_webhook(endpoint: OwnedWebhook, session: SessionDep) -> None:
    crud.delete_webhook(session, endpoint)


@router.post(
    "/webhooks/{webhook_id:int}/rotate-secret",
    tags=["webhooks"],
    summary="A new signing secret; the old one also signs for WEBHOOK_SECRET_GRACE_HOURS",
    responses={**BAD_TOKEN, **WEBHOOK_NOT_FOUND},
)
def rotate_webhook_secret(
    endpoint: OwnedWebhook, session: SessionDep, settings: SettingsDep
) -> WebhookEndpointWithSecret:
    secret = crud.rotate_webhook_secret(
        session,
        endpoint,
        sealer=signing.Sealer(settings.jwt_key),
        grace_hours=settings.webhook_secret_grace_hours,
    )
    return _with_secret(endpoint, secret)


@router.get(
    "/webhooks/{webhook_id:int}/deliveries",
    tags=["webhooks"],
    summary="The endpoint's deliveries and how they went, newest first",
    responses={**BAD_TOKEN, **WEBHOOK_NOT_FOUND},
)
def list_webhook_deliveries(
    endpoint: OwnedWebhook, session: SessionDep, limit: PageLimit = 20, cursor: PageCursor = None
) -> WebhookDeliveryPage:
    found, next_cursor = crud.list_webhook_deliveries(
        session, endpoint_id=endpoint.id, limit=limit, before_id=cursor
    )
    return WebhookDeliveryPage(data=found, next_cursor=next_cursor)


@router.post(
    "/webhooks/{webhook_id:int}/deliveries/{delivery_id:int}/redeliver",
    tags=["webhooks"],
    summary="Send a delivery's message again (same body and webhook-id), as a new delivery",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**BAD_TOKEN, 404: error("No such endpoint or delivery (or not yours)")},
)
def redeliver_webhook(
    endpoint: OwnedWebhook,
    delivery_id: Annotated[int, Path(description="The delivery's id")],
    session: SessionDep,
) -> WebhookDeliveryRead:
    again = crud.redeliver(session, endpoint_id=endpoint.id, delivery_id=delivery_id)
    if again is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Delivery not found")
    return WebhookDeliveryRead.model_validate(again)


# ---- Operators: superusers only (`python -m app.admin create-superuser EMAIL`)


@router.post(
    "/admin/users/{user_id:int}/credits",
    tags=["admin"],
    summary="Grant credits to a user (negative: take them away), with a note for the ledger",
    status_code=status.HTTP_201_CREATED,
    response_model=CreditTransactionRead,
    responses={
        **ADMIN,
        **USER_NOT_FOUND,
        409: error("The balance would go below 0"),
        **TOO_LARGE,
    },
)
async def grant_credits(
    grant: CreditGrant, user: ChosenUser, session: SessionDep
) -> CreditTransaction:
    entry = await db.call(
        session, crud.grant_credits, user_id=user.id, amount=grant.amount, note=grant.note
    )
    if entry is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="The balance would go below 0 or past its maximum"
        )
    return entry


@router.get(
    "/admin/users",
    tags=["admin"],
    summary="List users, newest first, optionally those whose email contains a text",
    response_model=UserPage,
    responses=ADMIN,
)
async def list_users(
    admin: CurrentSuperuser,
    session: SessionDep,
    email: Annotated[
        str | None, Query(max_length=254, description="Part of the email address")
    ] = None,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> UserPage:
    found, next_cursor = await db.call(
        session, crud.list_users, email=email, limit=limit, before_id=cursor
    )
    return UserPage(data=found, next_cursor=next_cursor)


@router.patch(
    "/admin/users/{user_id:int}",
    tags=["admin"],
    summary="Activate or deactivate a user",
    response_model=UserAdminRead,
    responses={
        **ADMIN,
        **USER_NOT_FOUND,
        409: error("A superuser cannot deactivate themselves"),
        **TOO_LARGE,
    },
)
async def update_user(
    update: UserUpdate, user: ChosenUser, admin: CurrentSuperuser, session: SessionDep
) -> User:
    if user.id == admin.id and not update.is_active:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="You cannot deactivate yourself")
    return await db.call(session, crud.set_user_active, user, update.is_active)


@router.get(
    "/admin/ai-usage",
    tags=["admin"],
    summary="AI provider usage per day, provider and model, beside the credits it earned",
    response_model=list[AIUsageTotal],
    responses=ADMIN,
)
async def get_ai_usage_totals(
    admin: CurrentSuperuser,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=366, description="How many days back, from now")] = 30,
) -> list[AIUsageTotal]:
    return await db.call(session, crud.ai_usage_totals, days=days)


@router.delete(
    "/me",
    tags=["users"],
    summary="Delete the current user's account and everything it owns",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**BAD_PASSWORD, **BAD_TOKEN, **TOO_LARGE, **TOO_MANY, **STORE_DOWN},
)
def delete_account(
    body: AccountDeletion,
    user: SessionUser,
    session: SessionDep,
    hasher: HasherDep,
    guard: PasswordGuardDep,
    storage: StorageDep,
    request: Request,
) -> None:
    _check_password(user, body.password, hasher, guard)
    user_id = user.id
    crud.delete_user(session, user, storage)
    request.app.state.job_watcher.notify(user_id=user_id)  # its jobs' streams end now
