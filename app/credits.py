"""The credit ledger: `users.credits` is the balance, `credit_transactions` says why it is that.

Every change of a balance is one conditional UPDATE of `users` and one ledger row, in the
caller's transaction (callers commit), so the two never disagree:

    grant   + an operator's (or sign-up's) credits; a negative grant never takes it below 0
    charge  - a paid job, at creation: UPDATE ... WHERE credits >= cost, no read-then-write
    refund  + a job that failed or was canceled, once (unique per job and kind)

The conditional UPDATE is the whole concurrency story: the database applies it to the row's
current value (PostgreSQL locks the row and re-checks the condition; SQLite writes one at a
time), so no two requests can both spend the last credit, on any number of processes.
"""

import math
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from app.models import CreditKind, CreditTransaction, ProcessingJob, User

# users.credits is an INTEGER: 32 bits on PostgreSQL.
MAX_BALANCE = 2**31 - 1


def price(duration_seconds: float, per_minute: int) -> int:
    """Every started minute of the video, at least one, times the kind's price per minute."""
    minutes = max(1, math.ceil(round(duration_seconds, 3) / 60))
    return minutes * per_minute


def _record(
    session: Session,
    user_id: int,
    delta: int,
    kind: CreditKind,
    *conditions: Any,
    job_id: int | None = None,
    note: str | None = None,
) -> CreditTransaction | None:
    """Change the balance by delta where the conditions hold, with its ledger row; None (and
    nothing changed) when they do not."""
    statement = (
        update(User)
        .where(col(User.id) == user_id, *conditions)
        .values(credits=User.credits + delta)
        .returning(User.credits)
    )
    balance = session.exec(statement).scalar_one_or_none()  # type: ignore[call-overload]
    if balance is None:
        return None
    entry = CreditTransaction(
        user_id=user_id,
        delta=delta,
        balance_after=balance,
        kind=kind,
        job_id=job_id,
        note=note[:500] if note else None,
    )
    session.add(entry)
    session.flush()  # the unique (job_id, kind) decides here: a second charge or refund fails
    return entry


def grant(session: Session, user_id: int, amount: int, note: str) -> CreditTransaction | None:
    """Add (or, negative, take away) credits; None when the balance would leave 0..MAX."""
    if amount >= 0:
        bound = col(User.credits) <= MAX_BALANCE - amount
    else:
        bound = col(User.credits) >= -amount
    return _record(session, user_id, amount, "grant", bound, note=note)


def charge(session: Session, job: ProcessingJob, note: str) -> bool:
    """Debit the job's `credits_charged` from its user; False when the balance is short."""
    cost = job.credits_charged
    if cost == 0:
        return True
    enough = col(User.credits) >= cost
    return (
        _record(session, job.user_id, -cost, "charge", enough, job_id=job.id, note=note) is not None
    )


def refund(session: Session, job: ProcessingJob, note: str) -> None:
    """Give back what the job was charged. Called by the transitions that end a job without
    success (app/pipeline/jobs.py), which happen once; the unique (job_id, kind) makes sure
    of it."""
    if job.credits_charged > 0:
        _record(session, job.user_id, job.credits_charged, "refund", job_id=job.id, note=note)
