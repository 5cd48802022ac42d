"""One SQLModel hierarchy per entity: the table and its API shapes in one place.

Add an entity as `XBase` (shared fields) -> `X(XBase, table=True)`, `XCreate`, `XRead`;
only inherit from data models, never from table models.
"""

import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    ConfigDict,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    column,
    false,
    func,
    literal_column,
    true,
)
from sqlmodel import Field, SQLModel

from app.security import BCRYPT_MAX_BYTES, password_fits_bcrypt

# Stable constraint names, so migrations can refer to them on every database.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

EMAIL_MAX_LENGTH = 254  # RFC 5321 path limit


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always gives back an aware datetime, also from SQLite, which drops zones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def normalize_email(value: str) -> str:
    """The one spelling of an address that is stored and looked up; ValueError if invalid.

    email-validator refuses special-use and local domains and IP literals; no DNS check.
    """
    value = unicodedata.normalize("NFC", value).strip()
    try:
        email = validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None
    return email.normalized.lower()


def _check_password_bytes(password: str) -> str:
    if not password_fits_bcrypt(password):
        raise ValueError(f"must be at most {BCRYPT_MAX_BYTES} bytes in UTF-8, without NUL")
    return password


Email = Annotated[
    str,
    AfterValidator(normalize_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": EMAIL_MAX_LENGTH}),
]
Password = Annotated[
    str, Field(min_length=8, max_length=BCRYPT_MAX_BYTES), AfterValidator(_check_password_bytes)
]


SECRET = {"json_schema_extra": {"format": "password"}}  # masked in the docs pages
EMAIL_DESCRIPTION = "The account's email address, stored normalised (trimmed, lower-cased)."


# For response models: every field is always sent (null when unknown), so every field is
# `required` in the document, defaults or not; else generators type them optional.
ALWAYS_SENT = ConfigDict(json_schema_serialization_defaults_required=True)


def _no_defaults(schema: dict[str, Any]) -> None:
    """An optional request field is simply left out: no `default` in the schema, which some
    generators (openapi-typescript) would otherwise turn into a required property."""
    for field in schema.get("properties", {}).values():
        field.pop("default", None)


class UserBase(SQLModel):
    email: str = Field(max_length=EMAIL_MAX_LENGTH, description=EMAIL_DESCRIPTION)


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=EMAIL_MAX_LENGTH, unique=True, description=EMAIL_DESCRIPTION)
    password_hash: str = Field(max_length=255, description="bcrypt hash; never leaves the server.")
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    is_active: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    credits: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    is_superuser: bool = Field(default=False, sa_column_kwargs={"server_default": false()})

    email_verified: bool = Field(
        default=False,
        sa_column_kwargs={"server_default": false()},
        description="Whether the user proved the address by following an emailed link",
    )
    # Checked in the user lookup every bearer request already makes, so ending every session
    # costs /me no query: access tokens issued (iat) before this second are refused.
    tokens_valid_after: datetime | None = Field(
        default=None,
        sa_type=UTCDateTime,
        description="Access tokens issued before this time are refused (logout-all)",
    )


class UserCreate(UserBase):
    """A new account's email address and password."""

    email: Email = Field(description="A valid email address; any spelling of it logs in later.")
    password: Password = Field(
        description=f"8 characters to {BCRYPT_MAX_BYTES} bytes of UTF-8, without NUL.",
        schema_extra=SECRET,
    )


class UserRead(UserBase):
    """An account as the API shows it (never the password hash)."""

    id: int = Field(description="The account's id.")
    created_at: datetime = Field(description="When the account was created (UTC, ISO 8601).")
    is_active: bool = Field(description="False for a disabled account, which cannot log in.")
    credits: int = Field(description="Credits left to pay for AI work.")
    email_verified: bool = Field(
        description="Whether the user proved the address by following an emailed link."
    )


class UserAdminRead(UserRead):
    """A user as an operator sees them (GET /admin/users)."""

    model_config = ALWAYS_SENT

    is_superuser: bool = Field(description="Whether the user may use the /admin routes")


class UserPage(SQLModel):
    """One page of users, newest first."""

    model_config = ALWAYS_SENT

    data: list[UserAdminRead] = Field(description="The users of this page")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class UserUpdate(SQLModel):
    """What an operator may change about a user."""

    is_active: bool = Field(description="False blocks the user: no login, every token 403")


class UserLogin(SQLModel):
    """Email address and password, as JSON."""

    # Not validated as an address: any string is a login attempt, answered 401 if it fails.
    email: str = Field(max_length=EMAIL_MAX_LENGTH, description="The account's email address.")
    password: str = Field(
        max_length=1024, description="The account's password.", schema_extra=SECRET
    )


class LoginForm(SQLModel):
    """The OAuth2 password grant as a form (RFC 6749 4.3): what Swagger UI's Authorize sends.
    Other OAuth2 fields (`scope`, `client_id`, `client_secret`) are accepted and ignored."""

    model_config = {"json_schema_extra": _no_defaults}

    grant_type: Annotated[
        Literal["password"] | None, WithJsonSchema({"type": "string", "const": "password"})
    ] = Field(default=None, description="`password` when sent; may be left out.")
    username: str = Field(
        max_length=EMAIL_MAX_LENGTH, description="The account's email address (OAuth2's name)."
    )
    password: str = Field(
        max_length=1024, description="The account's password.", schema_extra=SECRET
    )


class Token(SQLModel):
    """A bearer token for the `Authorization: Bearer <access_token>` header."""

    model_config = ALWAYS_SENT

    access_token: str = Field(description="The JWT to send as `Authorization: Bearer <token>`.")
    token_type: Literal["bearer"] = Field(default="bearer", description="Always `bearer`.")
    expires_in: int = Field(description="Seconds until the token expires.")
    refresh_token: str | None = Field(
        description="Opaque, single-use: POST it to /auth/refresh for a new pair, or to "
        "/auth/logout to end the session. Null only with `?cookie=true`, where it is set as "
        "an HttpOnly cookie instead (the web app)."
    )


class RefreshToken(SQLModel, table=True):
    """One refresh token of a session. A session (family) is a chain of rotated tokens: each
    use marks the token used and adds its successor; a used one presented again revokes the
    whole family (reuse detection, OAuth 2.0 Security BCP §4.14)."""

    __tablename__ = "refresh_tokens"
    # A family's rows, and whether it was ended: every bearer request asks (app/crud.py,
    # _SESSION_REVOKED) with one probe of this index.
    __table_args__ = (Index("ix_refresh_tokens_family_id_revoked_at", "family_id", "revoked_at"),)

    id: int | None = Field(default=None, primary_key=True, description="Row id")
    user_id: int = Field(
        foreign_key="users.id", index=True, ondelete="CASCADE", description="The session's user"
    )
    family_id: str = Field(max_length=32, description="The session: every rotation of one login")
    token_hash: str = Field(
        max_length=64, unique=True, description="SHA-256 (hex) of the token; the token is not kept"
    )
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=UTCDateTime, description="When it was issued"
    )
    expires_at: datetime = Field(sa_type=UTCDateTime, description="Refused from this time on")
    used_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="When it was exchanged for its successor"
    )
    revoked_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="When its session was ended"
    )


# A string when sent (null is refused: RefreshRequest._not_null).
OptionalRefreshToken = Annotated[str | None, WithJsonSchema({"type": "string", "maxLength": 256})]


class RefreshRequest(SQLModel):
    """A refresh token to exchange (`/auth/refresh`) or whose session to end (`/auth/logout`)."""

    model_config = {"json_schema_extra": _no_defaults}

    # Optional only for `?cookie=true`, where the cookie carries it; without it the route
    # requires it (app/session_cookie.py) with FastAPI's own 422s.
    refresh_token: OptionalRefreshToken = Field(
        default=None,
        max_length=256,
        description="A refresh token from a Token. Required, except with `?cookie=true` "
        "(the cookie carries it).",
    )

    @field_validator("refresh_token", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        """Left out is fine (cookie mode); null is refused as the non-string it is, in the
        words pydantic used when the field was a required string."""
        if value is None:
            raise PydanticCustomError("string_type", "Input should be a valid string")
        return value


AccountTokenPurpose = Literal["password_reset", "email_verification"]


class AccountToken(SQLModel, table=True):
    """A single-use token sent by email in a link: password reset or email verification."""

    __tablename__ = "account_tokens"

    id: int | None = Field(default=None, primary_key=True, description="Row id")
    user_id: int = Field(
        foreign_key="users.id", index=True, ondelete="CASCADE", description="Whose account"
    )
    purpose: str = Field(max_length=32, description="password_reset or email_verification")
    token_hash: str = Field(
        max_length=64, unique=True, description="SHA-256 (hex) of the token; the token is not kept"
    )
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=UTCDateTime, description="When it was issued"
    )
    expires_at: datetime = Field(sa_type=UTCDateTime, description="Refused from this time on")
    used_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="Set when used: a token works once"
    )


class PasswordChange(SQLModel):
    """The password in use and the one to use from now on."""

    current_password: str = Field(max_length=1024, description="The password in use now")
    new_password: Password = Field(description="8 characters to 72 UTF-8 bytes, no NUL")


class PasswordResetRequest(SQLModel):
    """The address to send a reset link to, if an account has it."""

    # Not validated as an address: any string gets the same 202, so nothing is revealed.
    email: str = Field(max_length=EMAIL_MAX_LENGTH, description="The account's email address")


class PasswordResetConfirm(SQLModel):
    """The emailed reset token and the new password."""

    token: str = Field(max_length=256, description="The token from the emailed link")
    new_password: Password = Field(description="8 characters to 72 UTF-8 bytes, no NUL")


class EmailVerificationConfirm(SQLModel):
    """The emailed verification token."""

    token: str = Field(max_length=256, description="The token from the emailed link")


class AccountDeletion(SQLModel):
    """The password, asked again before the account is deleted."""

    password: str = Field(max_length=1024, description="The account's password, as a last check")


class Message(SQLModel):
    """An answer for a person to read (202 of the email requests)."""

    message: str = Field(description="What happened, for a person to read")


class AIUsageLogBase(SQLModel):
    provider: str = Field(max_length=50, description="The AI provider: `local` or `openai`")
    model: str = Field(max_length=100, description="The provider's model, e.g. `whisper-1`")
    tokens_input: int = Field(ge=0, description="Tokens sent to the model (0 if not reported)")
    tokens_output: int = Field(ge=0, description="Tokens the model produced (0 if not reported)")
    job_id: int | None = Field(
        default=None,
        foreign_key="processing_jobs.id",
        ondelete="SET NULL",
        description="The job the call worked for; null once the job is deleted",
    )
    audio_seconds: float | None = Field(
        default=None,
        description="Seconds of audio sent, measured by the backend (null for text calls)",
    )


class AIUsageLog(AIUsageLogBase, table=True):
    """One provider call that did work (a chunked transcription writes one per chunk)."""

    __tablename__ = "ai_usage_logs"
    __table_args__ = (
        CheckConstraint("tokens_input >= 0", name="tokens_input_non_negative"),
        CheckConstraint("tokens_output >= 0", name="tokens_output_non_negative"),
        Index("ix_ai_usage_logs_user_id_id", "user_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)


class AIUsageLogCreate(AIUsageLogBase):
    pass


class AIUsageLogRead(AIUsageLogBase):
    """One AI provider call: who for, which provider and model, how much."""

    model_config = ALWAYS_SENT

    id: int = Field(description="The entry's id.")
    user_id: int = Field(description="The account the call was made for.")
    created_at: datetime = Field(description="When the call was recorded (UTC, ISO 8601).")


class AIUsagePage(SQLModel):
    """One page of AI usage, newest first."""

    data: list[AIUsageLogRead] = Field(description="The calls of this page")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class AIUsageTotal(SQLModel):
    """Provider usage of one provider and model on one day (UTC), beside what it earned."""

    day: str = Field(description="The day, `YYYY-MM-DD` (UTC)")
    provider: str = Field(description="The AI provider")
    model: str = Field(description="The provider's model")
    calls: int = Field(description="Provider calls that did work")
    jobs: int = Field(description="Jobs those calls worked for")
    tokens_input: int = Field(description="Tokens sent")
    tokens_output: int = Field(description="Tokens produced")
    audio_seconds: float = Field(description="Seconds of audio sent")
    credits_charged: int = Field(
        description="Credits those jobs were charged (kept: they succeeded)"
    )


# Phase 2: videos and the work done on them (docs/phase-2-videos.md).

VideoOrigin = Literal["upload", "link"]
VideoStatus = Literal["processing", "ready", "failed"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
JOB_FINISHED: tuple[JobStatus, ...] = ("succeeded", "failed", "canceled")


class MediaErrorInfo(SQLModel):
    """Why a video or a job failed: a code a program can switch on, a message for people."""

    code: str = Field(description="Stable error code, e.g. `unsupported_media`, `canceled`")
    message: str = Field(description="What went wrong, for people")

    @classmethod
    def of(cls, code: str | None, message: str | None) -> "MediaErrorInfo | None":
        """The `error` of a row that stores it as error_code and error_message."""
        return None if code is None else cls(code=code, message=message or "")


class VideoSourceBase(SQLModel):
    origin: VideoOrigin = Field(
        sa_type=String(10), description="`upload` (sent as a file) or `link` (fetched from a URL)"
    )
    filename: str | None = Field(
        default=None, max_length=255, description="The client's file name, for display only"
    )
    source_url: str | None = Field(
        default=None, max_length=2048, description="The link the video was fetched from"
    )
    status: VideoStatus = Field(
        default="processing", sa_type=String(12), description="`processing`, `ready` or `failed`"
    )
    size_bytes: int | None = Field(
        default=None, sa_type=BigInteger, description="Size of the stored file in bytes"
    )
    sha256: str | None = Field(
        default=None, max_length=64, description="SHA-256 of the stored bytes, lower-case hex"
    )
    content_type: str | None = Field(
        default=None, max_length=50, description="Detected container type, e.g. `video/mp4`"
    )
    duration_seconds: float | None = Field(default=None, description="Duration, null if unknown")
    width: int | None = Field(default=None, description="Frame width in pixels")
    height: int | None = Field(default=None, description="Frame height in pixels")
    fps: float | None = Field(default=None, description="Average frames per second")
    video_codec: str | None = Field(
        default=None, max_length=50, description="Codec of the video stream, e.g. `h264`"
    )
    audio_codec: str | None = Field(
        default=None, max_length=50, description="Codec of the first audio stream, e.g. `aac`"
    )
    has_audio: bool | None = Field(default=None, description="Whether there is an audio stream")


class VideoSource(VideoSourceBase, table=True):
    __tablename__ = "video_sources"
    # The list query: one user's videos, newest (highest id) first.
    __table_args__ = (Index("ix_video_sources_user_id_id", "user_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    error_code: str | None = Field(default=None, max_length=50)
    error_message: str | None = Field(default=None, max_length=500)
    has_thumbnail: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)

    @property
    def error(self) -> MediaErrorInfo | None:
        return MediaErrorInfo.of(self.error_code, self.error_message)

    @property
    def thumbnail_url(self) -> str | None:
        return thumbnail_path(self.id, self.has_thumbnail)


def thumbnail_path(video_id: int | None, has_thumbnail: bool) -> str | None:
    return f"/videos/{video_id}/thumbnail" if has_thumbnail else None


class VideoSourceRead(VideoSourceBase):
    """A video: where it came from, where it is in its lifecycle, and what the probe found."""

    model_config = ALWAYS_SENT

    id: int = Field(description="The video's id")
    error: MediaErrorInfo | None = Field(description="Why the video failed; null otherwise")
    thumbnail_url: str | None = Field(description="Path of the JPEG thumbnail once there is one")
    ingest_job_id: int | None = Field(
        default=None,
        description="The video's ingest job, to follow (GET /jobs/{id}/events) until the video "
        "is ready or failed; null for a video without one",
    )
    created_at: datetime = Field(description="When the video was created (UTC)")
    updated_at: datetime = Field(description="When the video last changed (UTC)")

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> "VideoSourceRead":
        """From a `video_sources` row read with Core: what the table class's properties say.

        Constructed, not validated again: the columns already typed every value."""
        error = MediaErrorInfo.of(row["error_code"], row["error_message"])
        url = thumbnail_path(row["id"], row["has_thumbnail"])
        return cls.model_construct(**row, error=error, thumbnail_url=url)


class PlaybackUrl(SQLModel):
    """A URL that plays the video's original file: no Authorization header needed (use it as a
    `<video>` element's `src`), good for this video alone until `expires_at`."""

    model_config = ALWAYS_SENT

    url: str = Field(
        description="A path on this server, signed; HTTP Range supported (S3 storage: a 307 "
        "to the store)"
    )
    expires_at: datetime = Field(description="When the URL stops working (UTC)")


class VideoLinkCreate(SQLModel):
    """A video to fetch from a link."""

    url: str = Field(
        min_length=1,
        max_length=2048,
        description="http(s) URL of the video file; must resolve to public addresses only",
    )


class VideoPage(SQLModel):
    """One page of videos, newest first."""

    data: list[VideoSourceRead] = Field(description="The videos of this page")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class ProcessingJobBase(SQLModel):
    kind: str = Field(max_length=30, description="What the job does: `ingest` in Phase 2")
    status: JobStatus = Field(
        default="queued",
        sa_type=String(12),
        description="`queued`, `running`, `succeeded`, `failed` or `canceled`",
    )
    stage: str | None = Field(
        default=None,
        max_length=20,
        description="Current step: `downloading`, `probing` or `thumbnail` for ingest",
    )
    progress: float = Field(default=0.0, description="0.0 to 1.0; never goes back")
    attempts: int = Field(default=0, description="How many times a worker has started the job")
    credits_charged: int = Field(
        default=0,
        sa_column_kwargs={"server_default": "0"},
        description="Credits charged when the job was created (0 for ingest); refunded if it "
        "fails or is canceled",
    )
    options: dict[str, Any] | None = Field(
        default=None,
        sa_type=JSON,
        description="The options the job was bought with (transcribe: `language`); null if none",
    )


class ProcessingJob(ProcessingJobBase, table=True):
    __tablename__ = "processing_jobs"
    __table_args__ = (
        Index("ix_processing_jobs_video_id_id", "video_id", "id"),
        # The reaper's scan: unfinished jobs by status.
        Index("ix_processing_jobs_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    video_id: int = Field(foreign_key="video_sources.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    error_code: str | None = Field(default=None, max_length=50)
    error_message: str | None = Field(default=None, max_length=500)
    # The lease: who runs the job and until when, unless it heartbeats.
    lease_token: str | None = Field(default=None, max_length=32)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped on every change of status, stage or progress: the event stream's ids.
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # The file a job produced (extract_audio's FLAC), served by GET /jobs/{id}/result.
    result_key: str | None = Field(default=None, max_length=255)
    result_type: str | None = Field(default=None, max_length=50)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    enqueued_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def error(self) -> MediaErrorInfo | None:
        return MediaErrorInfo.of(self.error_code, self.error_message)

    @property
    def result_url(self) -> str | None:
        return result_path(self.id, self.result_key)


def result_path(job_id: int | None, result_key: str | None) -> str | None:
    return f"/jobs/{job_id}/result" if result_key else None


class ProcessingJobRead(ProcessingJobBase):
    """A unit of work on a video, run by a worker."""

    model_config = ALWAYS_SENT

    id: int = Field(description="The job's id")
    video_id: int = Field(description="The video the job works on")
    error: MediaErrorInfo | None = Field(description="Why the job failed; null otherwise")
    result_url: str | None = Field(
        description="Path of the file the job produced, once it succeeded (extract_audio)"
    )
    created_at: datetime = Field(description="When the job was created (UTC)")
    started_at: datetime | None = Field(description="When a worker first started it (UTC)")
    finished_at: datetime | None = Field(description="When it reached a final status (UTC)")

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> "ProcessingJobRead":
        """From a `processing_jobs` row read with Core: what the table class's properties say.

        Constructed, not validated again: the columns already typed every value."""
        error = MediaErrorInfo.of(row["error_code"], row["error_message"])
        url = result_path(row["id"], row["result_key"])
        return cls.model_construct(**row, error=error, result_url=url)


class JobPage(SQLModel):
    """One page of jobs, newest first."""

    data: list[ProcessingJobRead] = Field(description="The jobs of this page")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class JobCreate(SQLModel):
    """A paid job to run on a ready video."""

    model_config = ConfigDict(json_schema_extra=_no_defaults)

    kind: str = Field(
        max_length=30,
        description="A kind for sale (GET /job-kinds): `extract_audio` (the audio as 16 kHz "
        "mono FLAC), `transcribe` (speech to text, captions)",
        schema_extra={"examples": ["transcribe"]},
    )
    options: dict[str, Any] | None = Field(
        default=None,
        description="The kind's options: `transcribe` takes `language` (ISO 639-1, or null to "
        "detect it); other kinds take none. Unknown options are 422",
        schema_extra={"examples": [{"language": "en"}]},
    )


# An ISO 639-1 code: two lower-case letters.
LanguageCode = Annotated[str, StringConstraints(pattern="^[a-z]{2}$")]


class TranscribeOptions(SQLModel):
    """The options of a `transcribe` job."""

    model_config = ConfigDict(extra="forbid")

    language: LanguageCode | None = Field(
        default=None,
        description="The spoken language as an ISO 639-1 code; null to detect it",
    )


class NoOptions(SQLModel):
    """A kind that takes no options."""

    model_config = ConfigDict(extra="forbid")


class JobKindRead(SQLModel):
    """A kind of job a user can buy, its price, and whether it can be bought now."""

    model_config = ALWAYS_SENT

    kind: str = Field(description="The value of `kind` in POST /videos/{id}/jobs")
    description: str = Field(description="What the job makes")
    price_per_minute: int = Field(description="Credits per started minute of video")
    available: bool = Field(description="false: its provider is not configured (503 if bought)")
    provider: str | None = Field(description="Who does the work: `local`, `openai`, or null")
    model: str | None = Field(description="The provider's model, or null")
    languages: list[str] | None = Field(
        default=None,
        description="transcribe: the ISO 639-1 codes the model takes; null: any (or n/a)",
    )


# ---- Transcripts: speech to text of a video (docs/phase-3-ai.md).


class TranscriptWord(SQLModel):
    """One word, when it was spoken."""

    start: float = Field(description="Seconds from the start of the video")
    end: float = Field(description="Seconds from the start of the video")
    word: str = Field(description="The word as the model wrote it (with its leading space)")
    probability: float | None = Field(description="The model's confidence 0..1, if it gives one")


class TranscriptSegment(SQLModel):
    """A stretch of speech (about a sentence) and its words."""

    start: float = Field(description="Seconds from the start of the video")
    end: float = Field(description="Seconds from the start of the video")
    text: str = Field(description="What was said")
    words: list[TranscriptWord] | None = Field(
        description="Word timings; null where the provider gives none"
    )


class TranscriptBase(SQLModel):
    language: str = Field(max_length=8, description="The spoken language, ISO 639-1")
    duration_seconds: float = Field(description="Length of the audio transcribed, in seconds")
    text: str = Field(sa_type=Text, description="The whole transcript as plain text")
    provider: str = Field(max_length=50, description="Who transcribed it: `local` or `openai`")
    model: str = Field(max_length=100, description="The model, e.g. `tiny.en` or `whisper-1`")


class Transcript(TranscriptBase, table=True):
    __tablename__ = "transcripts"
    __table_args__ = (Index("ix_transcripts_video_id_job_id", "video_id", "job_id"),)

    id: int | None = Field(default=None, primary_key=True)
    video_id: int = Field(foreign_key="video_sources.id", ondelete="CASCADE")
    job_id: int = Field(foreign_key="processing_jobs.id", ondelete="CASCADE", unique=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    # The segments with their words, as TranscriptSegment dicts.
    segments: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class TranscriptRead(TranscriptBase):
    """What was said in a video, when: segments with word timings, rising, within the video."""

    model_config = ALWAYS_SENT

    video_id: int = Field(description="The video transcribed")
    job_id: int = Field(description="The transcribe job that made it")
    segments: list[TranscriptSegment] = Field(description="What was said, in order")
    created_at: datetime = Field(description="When the transcript was made (UTC)")


# ---- Summaries: what a video is about, from its transcript (docs/phase-3-ai.md).


class SummarizeOptions(SQLModel):
    """The options of a `summarize` job."""

    model_config = ConfigDict(extra="forbid")

    language: LanguageCode | None = Field(
        default=None,
        description="The summary's language as an ISO 639-1 code; null: the transcript's",
    )


class SummaryChapter(SQLModel):
    """Where a part of the video starts, and what it is about."""

    start: float = Field(description="Seconds from the start of the video (a segment's start)")
    title: str = Field(description="A short title")


class SummaryBase(SQLModel):
    language: str = Field(max_length=8, description="The summary's language, ISO 639-1")
    summary: str = Field(sa_type=Text, description="A few sentences on what the video says")
    provider: str = Field(max_length=50, description="Who wrote it: `openai` (any compatible)")
    model: str = Field(max_length=100, description="The model, e.g. `gpt-4o-mini`")


class Summary(SummaryBase, table=True):
    __tablename__ = "summaries"
    __table_args__ = (Index("ix_summaries_video_id_job_id", "video_id", "job_id"),)

    id: int | None = Field(default=None, primary_key=True)
    video_id: int = Field(foreign_key="video_sources.id", ondelete="CASCADE")
    job_id: int = Field(foreign_key="processing_jobs.id", ondelete="CASCADE", unique=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    # SummaryChapter dicts, and the keywords.
    chapters: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    keywords: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class SummaryRead(SummaryBase):
    """What a video is about: a summary, chapters to jump to, keywords."""

    model_config = ALWAYS_SENT

    video_id: int = Field(description="The video summarised")
    job_id: int = Field(description="The summarize job that made it")
    chapters: list[SummaryChapter] = Field(
        description="The video's parts: the first at 0.0, rising, each within the video"
    )
    keywords: list[str] = Field(description="What it is about, in a few words")
    created_at: datetime = Field(description="When the summary was made (UTC)")


# ---- Search: the newest transcript of each video, one row per segment (docs/phase-3-ai.md).


class SegmentBase(SQLModel):
    start: float = Field(description="Seconds from the start of the video")
    end: float = Field(description="Seconds from the start of the video")
    text: str = Field(sa_type=Text, description="What was said (the transcript's segment)")


class SearchSegment(SegmentBase, table=True):
    """A segment of the newest transcript of a video, as the full-text index sees it: SQLite's
    FTS5 table `transcript_segments_fts` follows this table by triggers; on PostgreSQL a GIN
    index on `to_tsvector('simple', search_text)` (both made by migration 0006)."""

    __tablename__ = "transcript_segments"
    __table_args__ = (
        Index("ix_transcript_segments_video_id_position", "video_id", "position"),
        Index(
            "ix_transcript_segments_search_text_gin",
            func.to_tsvector(literal_column("'simple'"), column("search_text")),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
    )

    id: int | None = Field(default=None, primary_key=True)
    transcript_id: int = Field(foreign_key="transcripts.id", ondelete="CASCADE", index=True)
    video_id: int = Field(foreign_key="video_sources.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    job_id: int
    position: int  # the segment's place in its transcript
    # The text as the index sees it: accents dropped, case folded (app/search.py).
    search_text: str = Field(sa_type=Text)


class SearchHit(SegmentBase):
    """Where the words were said: a segment of one of your videos' newest transcripts."""

    model_config = ALWAYS_SENT

    video_id: int = Field(description="The video")
    job_id: int = Field(description="The transcribe job whose transcript it is")
    filename: str | None = Field(description="The video's file name, for display")
    highlights: list[list[int]] = Field(
        description="`[from, to)` character ranges of `text` that matched the query"
    )


class SearchPage(SQLModel):
    """One page of search hits, best first."""

    data: list[SearchHit] = Field(description="The hits of this page")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


# ---- Credits: an append-only ledger; users.credits is its running balance (docs/phase-2).

CreditKind = Literal["grant", "charge", "refund"]


class CreditTransactionBase(SQLModel):
    delta: int = Field(description="Change of the balance: + for a grant or refund, - for a charge")
    balance_after: int = Field(description="The balance right after this transaction")
    kind: CreditKind = Field(
        sa_type=String(10), description="`grant` (operator or sign-up), `charge` or `refund`"
    )
    job_id: int | None = Field(
        default=None,
        foreign_key="processing_jobs.id",
        ondelete="SET NULL",
        description="The job charged or refunded; null for grants and once the job is deleted",
    )
    note: str | None = Field(default=None, max_length=500, description="Why, for people")


class CreditTransaction(CreditTransactionBase, table=True):
    __tablename__ = "credit_transactions"
    __table_args__ = (
        # A job is charged once and refunded once, whoever races to do it.
        UniqueConstraint("job_id", "kind", name="uq_credit_transactions_job_id_kind"),
        # Every change of users.credits writes its result here: a balance below 0 could
        # never commit (a CHECK on users itself would make SQLite rebuild the table).
        CheckConstraint("balance_after >= 0", name="balance_after_non_negative"),
        # The history: one user's transactions, newest (highest id) first.
        Index("ix_credit_transactions_user_id_id", "user_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Null once the account is deleted: the row stays for the books, pseudonymised
    # (docs/security.md#deleted-accounts), and `account_ref` groups that account's rows.
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    account_ref: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class CreditTransactionRead(CreditTransactionBase):
    """One change of a user's credit balance."""

    model_config = ALWAYS_SENT

    id: int = Field(description="The transaction's id; higher is newer")
    created_at: datetime = Field(description="When it happened (UTC)")


class CreditPage(SQLModel):
    """One page of credit transactions, newest first."""

    model_config = ALWAYS_SENT

    data: list[CreditTransactionRead] = Field(description="The transactions of this page")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class CreditGrant(SQLModel):
    """Credits an operator adds (or, negative, takes away)."""

    amount: int = Field(
        ge=-1_000_000_000,
        le=1_000_000_000,
        description="Credits to add; negative to take away (never below a balance of 0)",
    )
    note: str = Field(min_length=1, max_length=500, description="Why, kept in the ledger")


class IdempotencyKey(SQLModel, table=True):
    """A request made with an `Idempotency-Key`: in flight, or its first answer to replay."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_id_key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", description="Whose key")
    key: str = Field(max_length=255, description="The client's Idempotency-Key header")
    request_hash: str = Field(
        max_length=64,
        description="SHA-256 of method, path and body: the same key, another request is refused",
    )
    response_status: int | None = Field(
        default=None, description="The first answer's status; null while it is in flight"
    )
    response_body: str | None = Field(
        default=None, sa_type=Text, description="The first answer's JSON body, replayed"
    )
    created_at: datetime = Field(
        default_factory=utc_now,
        sa_type=UTCDateTime,
        index=True,
        description="Expiry counts from here",
    )


WebhookEvent = Literal["video.ready", "video.failed", "job.succeeded", "job.failed", "job.canceled"]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = (
    "video.ready",
    "video.failed",
    "job.succeeded",
    "job.failed",
    "job.canceled",
)
DeliveryStatus = Literal["pending", "succeeded", "failed"]


def _distinct(events: list[WebhookEvent]) -> list[WebhookEvent]:
    return list(dict.fromkeys(events))


WebhookEvents = Annotated[list[WebhookEvent], AfterValidator(_distinct)]


class WebhookEndpointBase(SQLModel):
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="http(s) URL that receives the events; must resolve to public addresses",
        schema_extra={"examples": ["https://example.com/hooks/video-ai"]},
    )
    events: WebhookEvents = Field(
        sa_type=JSON,
        min_length=1,
        max_length=len(WEBHOOK_EVENTS),
        description="The events to send: `video.ready`, `video.failed`, `job.succeeded`, "
        "`job.failed`, `job.canceled`",
    )
    description: str | None = Field(
        default=None, max_length=500, description="A note for people, e.g. what receives it"
    )


class WebhookEndpoint(WebhookEndpointBase, table=True):
    """Where one user's events go, and the secret that signs them (sealed: app/webhooks)."""

    __tablename__ = "webhook_endpoints"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    enabled: bool = Field(default=True)
    # Why it was disabled by the service (410, failing for days); null when the owner chose.
    disabled_reason: str | None = Field(default=None, max_length=200)
    secret_sealed: str = Field(sa_type=Text)
    # After a rotation the previous secret signs too, until previous_secret_expires_at.
    previous_secret_sealed: str | None = Field(default=None, sa_type=Text)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The first failure since the last success: failing for days disables the endpoint.
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class WebhookEndpointCreate(WebhookEndpointBase):
    """An endpoint to send events to."""

    model_config = ConfigDict(extra="forbid")


class WebhookEndpointUpdate(SQLModel):
    """Any of the endpoint's fields; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None, min_length=1, max_length=2048, description="A new URL, checked as at creation"
    )
    events: WebhookEvents | None = Field(
        default=None, min_length=1, max_length=5, description="The events to send from now on"
    )
    description: str | None = Field(default=None, max_length=500, description="A new note")
    enabled: bool | None = Field(
        default=None, description="false stops deliveries; true resumes them (new events only)"
    )

    @field_validator("url", "events", "enabled")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class WebhookEndpointRead(WebhookEndpointBase):
    """An endpoint, without its secret."""

    model_config = ALWAYS_SENT

    id: int = Field(description="The endpoint's id")
    enabled: bool = Field(description="Whether events are sent to it")
    disabled_reason: str | None = Field(
        description="Why the service disabled it (the receiver answered 410, or failed for "
        "days); null when enabled or disabled by its owner"
    )
    created_at: datetime = Field(description="When it was created (UTC)")


class WebhookEndpointWithSecret(WebhookEndpointRead):
    """An endpoint with its signing secret: shown only when created and when rotated."""

    secret: str = Field(
        description="`whsec_` + base64 of 32 random bytes: verify each delivery's "
        "`webhook-signature` with it (Standard Webhooks). Shown only now",
        schema_extra=SECRET,
    )


class WebhookDeliveryBase(SQLModel):
    event: WebhookEvent = Field(sa_type=String(20), description="The event sent")
    message_id: str = Field(
        max_length=40,
        index=True,
        description="The `webhook-id` header: the same on every attempt of one message, so a "
        "receiver can ignore a repeat",
    )
    status: DeliveryStatus = Field(
        default="pending",
        sa_type=String(10),
        description="`pending` (an attempt is due or waiting), `succeeded` or `failed`",
    )
    attempts: int = Field(default=0, description="Attempts made so far")
    last_status_code: int | None = Field(
        default=None, description="The HTTP status of the last answer; null if none came"
    )
    last_error: str | None = Field(
        default=None, max_length=500, description="Why the last attempt failed; null if it did not"
    )
    next_attempt_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="When the next attempt is due (UTC)"
    )
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class WebhookDelivery(WebhookDeliveryBase, table=True):
    """One message to one endpoint (the outbox): written in the transaction of the change it
    tells, sent by a worker, retried on WEBHOOK_RETRY_SCHEDULE."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        # The workers' scan: pending deliveries by when they are due.
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoints.id", ondelete="CASCADE")
    payload: str = Field(sa_type=Text)  # the body, fixed when the event happened


class WebhookDeliveryRead(WebhookDeliveryBase):
    """One message to one endpoint, and how its delivery went."""

    model_config = ALWAYS_SENT

    id: int = Field(description="The delivery's id")
    endpoint_id: int = Field(description="The endpoint it goes to")
    created_at: datetime = Field(description="When the event happened (UTC)")


class WebhookDeliveryPage(SQLModel):
    """One page of deliveries, newest first."""

    data: list[WebhookDeliveryRead] = Field(description="The deliveries of this page")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class HealthStatus(SQLModel):
    """Whether the service and its database answer."""

    status: Literal["ok", "unavailable"] = Field(
        description="`ok` when the database answers, else `unavailable` (with status 503)."
    )


class ErrorDetail(SQLModel):
    """An error other than a validation error."""

    detail: str = Field(description="What went wrong, for a person to read.")
