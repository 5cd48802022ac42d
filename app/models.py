"""One SQLModel hierarchy per entity: the table and its API shapes in one place.

Add an entity as `XBase` (shared fields) -> `X(XBase, table=True)`, `XCreate`, `XRead`;
only inherit from data models, never from table models.
"""

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, WithJsonSchema
from sqlalchemy import CheckConstraint, DateTime, MetaData, TypeDecorator, true
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


class UserBase(SQLModel):
    email: str = Field(max_length=EMAIL_MAX_LENGTH)


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=EMAIL_MAX_LENGTH, unique=True)
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    is_active: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    credits: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class UserCreate(UserBase):
    email: Email
    password: Password


class UserRead(UserBase):
    id: int
    created_at: datetime
    is_active: bool
    credits: int


class UserLogin(SQLModel):
    # Not validated as an address: any string is a login attempt, answered 401 if it fails.
    email: str = Field(max_length=EMAIL_MAX_LENGTH)
    password: str = Field(max_length=1024)


class Token(SQLModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class AIUsageLogBase(SQLModel):
    provider: str = Field(max_length=50)
    model: str = Field(max_length=100)
    tokens_input: int = Field(ge=0)
    tokens_output: int = Field(ge=0)


class AIUsageLog(AIUsageLogBase, table=True):
    __tablename__ = "ai_usage_logs"
    __table_args__ = (
        CheckConstraint("tokens_input >= 0", name="tokens_input_non_negative"),
        CheckConstraint("tokens_output >= 0", name="tokens_output_non_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class AIUsageLogCreate(AIUsageLogBase):
    pass


class AIUsageLogRead(AIUsageLogBase):
    id: int
    user_id: int
    created_at: datetime


class HealthStatus(SQLModel):
    status: Literal["ok", "unavailable"]


class ErrorDetail(SQLModel):
    detail: str
