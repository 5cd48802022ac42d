"""`Idempotency-Key`: a client that retries a request (after a timeout, a dropped connection)
gets the first answer again instead of a second job and a second charge.

Per user, a key is first claimed (a row in `idempotency_keys` with no answer yet: the database's
unique (user_id, key) lets exactly one request claim it), then the route runs, then its answer is
stored. Another request with the key meanwhile is 409; afterwards, the same request replays the
stored status and body with `Idempotent-Replayed: true` and changes nothing, and a different
request (method, path or body) is 422. Only a success is stored: an error changed nothing, so it
releases the key and a retry runs again. Keys expire after IDEMPOTENCY_KEY_HOURS (24).

A route takes the header as an `IdempotencyKeyHeader` parameter and wraps its work in one call:
`return await idempotency.respond(session, user.id, key, request_hash(...), work, status_code,
hours=...)` (POST /videos/link and POST /videos/{id}/jobs do).
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from app import db
from app.models import IdempotencyKey, utc_now

REPLAYED_HEADER = "Idempotent-Replayed"

HEADER = "Idempotency-Key"
SEVERAL = "Send one Idempotency-Key header, not several"


def one_key(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Any unique string (e.g. a UUID): a retry with the same key and request "
            "replays the first answer for 24 hours instead of running again",
        ),
    ] = None,
) -> str | None:
    """The request's key; 422 for two or more of the header, which FastAPI would otherwise
    answer with the first one alone, keying the request by half of what the client sent."""
    if len(request.headers.getlist(HEADER)) > 1:
        problem = {"type": "value_error", "loc": ("header", HEADER), "msg": SEVERAL}
        raise RequestValidationError([problem])
    return key


IdempotencyKeyHeader = Annotated[str | None, Depends(one_key)]

IN_FLIGHT = "A request with this Idempotency-Key is still in progress"
MISMATCH = "This Idempotency-Key was used for a different request"


def request_hash(method: str, path: str, body: SQLModel | None) -> str:
    """What makes two requests the same one: method, path and the parsed body."""
    text = f"{method} {path}\n{body.model_dump_json() if body is not None else ''}"
    return hashlib.sha256(text.encode()).hexdigest()


def _claim(
    session: Session, user_id: int, key: str, fingerprint: str, hours: float
) -> IdempotencyKey | None:
    """None when this request now holds the key; else the row of the request that does."""
    for _ in range(2):  # a second time after removing an expired row
        row = IdempotencyKey(user_id=user_id, key=key, request_hash=fingerprint)
        session.add(row)
        try:
            session.commit()
            return None
        except IntegrityError:  # the key is taken: let the unique index decide, never a read
            session.rollback()
        held = session.exec(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
            )
        ).first()
        if held is None:  # released meanwhile: try again
            continue
        if held.created_at >= utc_now() - timedelta(hours=hours):
            session.commit()
            return held
        session.exec(  # type: ignore[call-overload]
            delete(IdempotencyKey).where(
                col(IdempotencyKey.id) == held.id,
                col(IdempotencyKey.created_at) == held.created_at,
            )
        )
        session.commit()
    # Still contended after that (expired and released by others meanwhile): answer as for
    # a request in flight, never run the work without holding the key.
    return IdempotencyKey(user_id=user_id, key=key, request_hash=fingerprint)


def _complete(session: Session, user_id: int, key: str, status_code: int, body: str) -> None:
    session.exec(  # type: ignore[call-overload]
        update(IdempotencyKey)
        .where(col(IdempotencyKey.user_id) == user_id, col(IdempotencyKey.key) == key)
        .values(response_status=status_code, response_body=body)
    )
    session.commit()


def _release(session: Session, user_id: int, key: str) -> None:
    session.rollback()
    session.exec(  # type: ignore[call-overload]
        delete(IdempotencyKey).where(
            col(IdempotencyKey.user_id) == user_id,
            col(IdempotencyKey.key) == key,
            col(IdempotencyKey.response_status).is_(None),
        )
    )
    session.commit()


def forget_expired(session: Session, *, hours: float) -> None:
    """Remove expired keys (run by the reaper); the caller commits."""
    cutoff = utc_now() - timedelta(hours=hours)
    # Read first: a DELETE that finds nothing would still take SQLite's write lock.
    expired = select(IdempotencyKey.id).where(col(IdempotencyKey.created_at) < cutoff).limit(1000)
    ids = list(session.exec(expired).all())
    if ids:
        session.exec(  # type: ignore[call-overload]
            delete(IdempotencyKey).where(col(IdempotencyKey.id).in_(ids))
        )


Headers = Callable[[dict[str, Any]], dict[str, str]]


def _json(model: SQLModel, status_code: int, headers: Headers) -> Response:
    content = model.model_dump(mode="json")
    body = json.dumps(content, separators=(",", ":"))
    return Response(
        body, status_code=status_code, media_type="application/json", headers=headers(content)
    )


async def respond(
    session: Session,
    user_id: int,
    key: str | None,
    fingerprint: str,
    work: Callable[[], Awaitable[SQLModel]],
    status_code: int,
    *,
    hours: float,
    headers: Headers = lambda _: {},
) -> Response:
    """Run `work` once per key and answer with its model as JSON; replay it for a retry.

    `headers` derives the answer's headers (e.g. Location) from its JSON body, so that a
    replay, which has only the stored body, sends them too."""
    if key is None:
        return _json(await work(), status_code, headers)
    engine = session.get_bind()
    held = await db.call_database(engine, _claim, session, user_id, key, fingerprint, hours)
    if held is not None:
        if held.request_hash != fingerprint:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=MISMATCH)
        if held.response_status is None or held.response_body is None:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=IN_FLIGHT)
        return Response(
            held.response_body,
            status_code=held.response_status,
            media_type="application/json",
            headers={**headers(json.loads(held.response_body)), REPLAYED_HEADER: "true"},
        )
    try:
        response = _json(await work(), status_code, headers)
    except BaseException:
        await db.call_database(engine, _release, session, user_id, key)
        raise
    body = response.body.decode()
    await db.call_database(engine, _complete, session, user_id, key, status_code, body)
    return response
