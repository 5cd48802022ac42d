"""The outbox: a state change that users may hear about writes its deliveries in its own
transaction. The caller commits (or rolls back, and then nothing is ever sent)."""

import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from app.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, utc_now
from app.webhooks.signing import new_message_id


def iso(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def emit(
    session: Session, *, owner: Any, event: WebhookEvent, data: Callable[[], dict[str, Any]]
) -> int:
    """One pending delivery per enabled endpoint of the owner that wants `event`, all with one
    message id and body. `owner` is a user id, or a scalar subquery giving it (the job's or the
    video's user), so a user without webhooks costs one indexed query. `data()` renders the
    resource (VideoRead or JobRead) only when some endpoint wants it. How many were made."""
    endpoints = session.exec(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            col(WebhookEndpoint.user_id) == owner, col(WebhookEndpoint.enabled).is_(True)
        )
    ).all()
    wanting = [endpoint_id for endpoint_id, events in endpoints if event in events]
    if not wanting:
        return 0
    now = utc_now()
    body = json.dumps(
        {"type": event, "timestamp": iso(now), "data": data()},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    message_id = new_message_id()
    session.add_all(
        WebhookDelivery(
            endpoint_id=endpoint_id,
            event=event,
            message_id=message_id,
            payload=body,
            next_attempt_at=now,
            created_at=now,
        )
        for endpoint_id in wanting
    )
    return len(wanting)
