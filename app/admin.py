"""Operator commands, run against DATABASE_URL on the server's machine:

    python -m app.admin create-superuser EMAIL          # password: ADMIN_PASSWORD or a prompt
    python -m app.admin grant-credits EMAIL AMOUNT --note TEXT

A superuser's token opens the /admin routes (grant credits, list and deactivate users).
"""

import argparse
import getpass
import os
import sys

from pydantic import ValidationError
from sqlmodel import Session

from app import crud, db
from app.config import Settings
from app.models import UserCreate
from app.security import PasswordHasher


def create_superuser(session: Session, settings: Settings, email: str) -> str:
    user = crud.get_user_by_email(session, email)
    if user is not None:
        crud.make_superuser(session, user)
        return f"{user.email} (id {user.id}) is now a superuser; its password is unchanged"
    password = os.environ.get("ADMIN_PASSWORD") or getpass.getpass(f"Password for {email}: ")
    try:
        user_create = UserCreate(email=email, password=password)
    except ValidationError as error:
        first = error.errors()[0]
        raise SystemExit(f"error: {first['loc'][0]}: {first['msg']}") from None
    user = crud.create_user(
        session,
        user_create=user_create,
        hasher=PasswordHasher(settings.bcrypt_rounds),
        credits=settings.default_credits,
        is_superuser=True,
    )
    if user is None:  # registered a moment ago by someone else: promote that account
        return create_superuser(session, settings, email)
    return f"created superuser {user.email} (id {user.id})"


def grant_credits(session: Session, email: str, amount: int, note: str) -> str:
    user = crud.get_user_by_email(session, email)
    if user is None:
        raise SystemExit(f"error: no user with email {email}")
    entry = crud.grant_credits(session, user_id=user.id, amount=amount, note=note)
    if entry is None:
        raise SystemExit(f"error: the balance of {user.email} would go below 0")
    return f"{user.email}: {entry.delta:+d} credits, balance {entry.balance_after}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.admin", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    superuser = commands.add_parser("create-superuser", help="create a superuser, or promote one")
    superuser.add_argument("email")
    grant = commands.add_parser("grant-credits", help="grant (or, negative, take) credits")
    grant.add_argument("email")
    grant.add_argument("amount", type=int)
    grant.add_argument("--note", required=True, help="why, kept in the ledger")
    args = parser.parse_args(argv)

    settings = Settings()
    engine = db.make_engine(settings)
    if settings.migrate_on_startup:
        db.migrate(engine)
    try:
        with Session(engine, expire_on_commit=False) as session:
            if args.command == "create-superuser":
                message = create_superuser(session, settings, args.email)
            else:
                message = grant_credits(session, args.email, args.amount, args.note)
    finally:
        engine.dispose()
    print(message, file=sys.stdout)


if __name__ == "__main__":
    main()
