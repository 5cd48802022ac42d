"""Data access: plain functions that take a Session and plain values and return models."""

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.models import AIUsageLog, AIUsageLogCreate, User, UserCreate, normalize_email
from app.security import PasswordHasher


def create_user(
    session: Session, *, user_create: UserCreate, hasher: PasswordHasher, credits: int
) -> User | None:
    """The new user, or None when the email is taken (also by a concurrent request)."""
    user = User(
        email=user_create.email, password_hash=hasher.hash(user_create.password), credits=credits
    )
    session.add(user)
    # Insert and let the unique index decide: a check-then-insert would race.
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return user


# users.id is an INTEGER: 32 bits on PostgreSQL, which refuses a larger number with an error.
MAX_ID = 2**31 - 1


# Built once: session.get() builds its SELECT, and that SELECT's cache key, again on every
# call (about a quarter of the lookup's CPU, see bench/README.md). Same row, same identity map.
_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))


def get_user(session: Session, user_id: int) -> User | None:
    if not 0 < user_id <= MAX_ID:
        return None
    return session.exec(_USER_BY_ID, params={"user_id": user_id}).first()


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


def record_ai_usage(session: Session, *, user_id: int, usage: AIUsageLogCreate) -> AIUsageLog:
    log = AIUsageLog.model_validate(usage, update={"user_id": user_id})
    session.add(log)
    session.commit()
    return log
