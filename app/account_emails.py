"""The emailed links: jobs run by the Mailer's threads, never on the request path.

Each job looks the account up, stores a single-use token (only its hash) and sends the link
`{FRONTEND_URL}/reset-password?token=...` or `{FRONTEND_URL}/verify-email?token=...`: the
frontend owns those pages and posts the token back to the API.
"""

from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import Engine
from sqlmodel import Session

from app import crud
from app.config import Settings
from app.mail import Mailer


def link(settings: Settings, page: str, token: str) -> str:
    return f"{settings.frontend_url.rstrip('/')}/{page}?{urlencode({'token': token})}"


def send_password_reset(engine: Engine, settings: Settings, mailer: Mailer, email: str) -> None:
    """Send a reset link if an active account has this address; nothing otherwise.

    Run in the background for every request, so the answer (and its timing) is the same
    whether or not the account exists.
    """
    with Session(engine, expire_on_commit=False) as session:
        user = crud.get_user_by_email(session, email)
        if user is None or not user.is_active or user.id is None:
            return
        minutes = settings.password_reset_expire_minutes
        expires_in = timedelta(minutes=minutes)
        token = crud.create_account_token(
            session, user_id=user.id, purpose="password_reset", expires_in=expires_in
        )
    mailer.send(
        to=user.email,
        subject="Reset your password",
        body=(
            "Someone (hopefully you) asked to reset the password of this account.\n\n"
            f"Choose a new password here within {minutes} minutes:\n\n"
            f"{link(settings, 'reset-password', token)}\n\n"
            "The link works once. If you did not ask for it, ignore this email: "
            "your password stays as it is.\n"
        ),
    )


def send_email_verification(
    engine: Engine, settings: Settings, mailer: Mailer, user_id: int
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        user = crud.get_user(session, user_id)
        if user is None or user.email_verified:
            return
        hours = settings.email_verification_expire_hours
        token = crud.create_account_token(
            session,
            user_id=user_id,
            purpose="email_verification",
            expires_in=timedelta(hours=hours),
        )
    mailer.send(
        to=user.email,
        subject="Confirm your email address",
        body=(
            "Confirm that this address belongs to your account within "
            f"{hours} hours:\n\n{link(settings, 'verify-email', token)}\n\n"
            "If you did not create an account, ignore this email.\n"
        ),
    )


def send_login_ceiling_notice(
    engine: Engine, settings: Settings, mailer: Mailer, email: str
) -> None:
    """Tell the owner that wrong passwords for the account, from anywhere, reached the ceiling:
    sign-in is paused for everyone, and a password reset ends the pause. Nothing when no
    account has the address (the caller cannot tell: it runs off the request path)."""
    with Session(engine, expire_on_commit=False) as session:
        user = crud.get_user_by_email(session, email)
    if user is None or not user.is_active:
        return
    hours = round(settings.login_account_window_seconds / 3600, 1)
    mailer.send(
        to=user.email,
        subject="Sign-in to your account is paused",
        body=(
            f"{settings.login_max_failures_per_account} wrong passwords were tried for this "
            f"account within {hours:g} hours, so signing in with the password is paused for "
            "everyone for a while. If that was not you, someone is guessing your password: "
            "your data is safe as long as the password is not guessed.\n\n"
            "To sign in now, ask for a password reset link on the sign-in page and choose a "
            "new password: a reset ends the pause at once. A long, unique password is the best "
            "defence.\n"
        ),
    )
