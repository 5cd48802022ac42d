"""Sending the outbox: every worker process runs a `Deliverer` beside its jobs.

A thread looks for due deliveries (`pending`, `next_attempt_at` passed) every
WEBHOOK_POLL_SECONDS, or at once when poked (a job of this process changed); it claims each one
with a conditional UPDATE that moves `next_attempt_at` past the attempt's timeout, so among
several workers one sends it, and one that dies mid-attempt leaves it to be sent again later. The
attempts run on a pool of WEBHOOK_CONCURRENCY threads of their own, at most one per endpoint per
process: a slow or dead receiver holds one thread for at most WEBHOOK_TIMEOUT_SECONDS, never a
job, a request or another receiver.

An answer 2xx is success. Anything else is retried after the next delay of
WEBHOOK_RETRY_SCHEDULE, then `failed`. 410 Gone disables the endpoint at once; an endpoint that
has failed for WEBHOOK_DISABLE_AFTER_HOURS with no success is disabled too, and its owner gets
an email. Finished deliveries are deleted after WEBHOOK_DELIVERY_RETENTION_DAYS.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from app import fetch
from app.config import Settings
from app.mail import Mailer
from app.models import User, WebhookDelivery, WebhookEndpoint, utc_now
from app.webhooks.signing import Sealer, SecretUnreadable, signature

logger = logging.getLogger("app.webhooks")

USER_AGENT = "video-ai-webhooks/1"
BATCH = 100  # due deliveries looked at per poll
GONE = "The receiver answered 410 Gone"
FORGET_EVERY_SECONDS = 3600  # how often a worker deletes deliveries past their retention


@dataclass
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Deliverer:
    def __init__(
        self, engine: Engine, settings: Settings, resolver: fetch.Resolver | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.sealer = Sealer(settings.jwt_key)
        self._resolver = resolver  # tests: a DNS of their own
        self._mailer: Mailer | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy: set[int] = set()  # endpoints with an attempt in flight in this process
        self._lock = threading.Lock()

    # ---- running ---------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._mailer = Mailer(self.settings)
        self._pool = ThreadPoolExecutor(
            self.settings.webhook_concurrency, thread_name_prefix="webhook"
        )
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Attempts in flight finish (each within its timeout); nothing new starts."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._mailer is not None:
            self._mailer.close()  # an email about a disabled endpoint still goes out
            self._mailer = None

    def poke(self) -> None:
        """Look for due deliveries now (a change this process just committed)."""
        self._wake.set()

    def _run(self) -> None:
        forgotten_at = 0.0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.send_due()
                if time.monotonic() - forgotten_at > FORGET_EVERY_SECONDS:
                    forgotten_at = time.monotonic()
                    self.forget_old()
            except Exception:
                logger.exception("Looking for due webhook deliveries failed; trying again")
            self._wake.wait(self.settings.webhook_poll_seconds)

    def forget_old(self) -> int:
        """Delete finished deliveries past WEBHOOK_DELIVERY_RETENTION_DAYS; how many."""
        days = self.settings.webhook_delivery_retention_days
        with Session(self.engine) as session:
            gone = session.exec(
                delete(WebhookDelivery).where(  # type: ignore[call-overload]
                    col(WebhookDelivery.status) != "pending",
                    col(WebhookDelivery.created_at) < utc_now() - timedelta(days=days),
                )
            ).rowcount
            session.commit()
        return gone

    def send_due(self) -> int:
        """Claim due deliveries (one per idle endpoint) and start their attempts."""
        pool = self._pool
        if pool is None:
            return 0
        now = utc_now()
        with self._lock:
            busy = list(self._busy)
        with Session(self.engine) as session:
            # Not the endpoints with an attempt in flight: a backlog of one cannot hide the rest.
            due = session.exec(
                select(WebhookDelivery.id, WebhookDelivery.endpoint_id)
                .where(
                    col(WebhookDelivery.status) == "pending",
                    col(WebhookDelivery.next_attempt_at) <= now,
                    col(WebhookDelivery.endpoint_id).not_in(busy),
                )
                .order_by(col(WebhookDelivery.next_attempt_at))
                .limit(BATCH)
            ).all()
            started = 0
            for delivery_id, endpoint_id in due:
                with self._lock:
                    if len(self._busy) >= self.settings.webhook_concurrency:
                        break  # every thread has an attempt: none waits past its claim
                    if endpoint_id in self._busy:
                        continue
                    if not self._claim(session, delivery_id, now):
                        continue
                    self._busy.add(endpoint_id)
                pool.submit(self._attempt_and_release, delivery_id, endpoint_id)
                started += 1
        return started

    def _claim(self, session: Session, delivery_id: int, now: object) -> bool:
        """Take the delivery for this attempt: only one worker's UPDATE matches."""
        lease = utc_now() + timedelta(seconds=self.settings.webhook_timeout_seconds + 30)
        claimed = session.exec(
            update(WebhookDelivery)  # type: ignore[call-overload]
            .where(
                col(WebhookDelivery.id) == delivery_id,
                col(WebhookDelivery.status) == "pending",
                col(WebhookDelivery.next_attempt_at) <= now,
            )
            .values(next_attempt_at=lease)
        ).rowcount
        session.commit()
        return claimed == 1

    def _attempt_and_release(self, delivery_id: int, endpoint_id: int) -> None:
        try:
            self.attempt(delivery_id)
        except Exception:
            logger.exception("Webhook delivery %s failed unexpectedly", delivery_id)
        finally:
            with self._lock:
                self._busy.discard(endpoint_id)
            self._wake.set()  # the endpoint may have more waiting

    # ---- one attempt -----------------------------------------------------------------------

    def attempt(self, delivery_id: int) -> None:
        """Send one claimed delivery and record how it went."""
        with Session(self.engine, expire_on_commit=False) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
        if delivery is None or endpoint is None:
            return  # deleted meanwhile
        if not endpoint.enabled:
            outcome = Outcome(None, "The endpoint is disabled")
            self._record(delivery, endpoint, outcome, final=True)
            return
        outcome = self._send(delivery, endpoint)
        self._record(delivery, endpoint, outcome)

    def _secrets(self, endpoint: WebhookEndpoint) -> list[str]:
        secrets = [self.sealer.open(endpoint.secret_sealed)]
        grace = endpoint.previous_secret_expires_at
        if endpoint.previous_secret_sealed and grace is not None and grace > utc_now():
            secrets.append(self.sealer.open(endpoint.previous_secret_sealed))
        return secrets

    def _send(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> Outcome:
        try:
            secrets = self._secrets(endpoint)
        except SecretUnreadable:
            return Outcome(None, "The signing secret cannot be read (SECRET_KEY changed): rotate")
        sent_at = utc_now()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature(secrets, delivery.message_id, sent_at, delivery.payload),
        }
        try:
            answer = fetch.post(
                endpoint.url,
                delivery.payload.encode(),
                headers,
                timeout=self.settings.webhook_timeout_seconds,
                allow_private=self.settings.webhook_allow_private,
                resolver=self._resolver,
            )
        except fetch.FetchError as error:
            return Outcome(None, error.message)
        if 200 <= answer.status_code < 300:
            return Outcome(answer.status_code, None)
        said = " ".join(answer.text.split())[:200]
        error = f"The receiver answered HTTP {answer.status_code}" + (f": {said}" if said else "")
        return Outcome(answer.status_code, error)

    def _record(
        self,
        delivery: WebhookDelivery,
        endpoint: WebhookEndpoint,
        outcome: Outcome,
        final: bool = False,
    ) -> None:
        now = utc_now()
        attempts = delivery.attempts + (0 if final else 1)
        schedule = self.settings.webhook_retry_schedule
        gone = outcome.status_code == 410
        if outcome.succeeded:
            status, next_at = "succeeded", None
        elif final or gone or attempts >= len(schedule):
            status, next_at = "failed", None
        else:
            status, next_at = "pending", now + timedelta(seconds=schedule[attempts])
        disable: str | None = GONE if gone else None
        with Session(self.engine) as session:
            session.exec(
                update(WebhookDelivery)  # type: ignore[call-overload]
                .where(col(WebhookDelivery.id) == delivery.id)
                .values(
                    status=status,
                    attempts=attempts,
                    last_status_code=outcome.status_code,
                    last_error=outcome.error[:500] if outcome.error else None,
                    next_attempt_at=next_at,
                )
            )
            if outcome.succeeded:
                self._set_endpoint(session, endpoint.id, failing_since=None)
            elif not final:
                since = endpoint.failing_since or now
                if since == now:
                    self._set_endpoint(session, endpoint.id, failing_since=now, only_if_ok=True)
                days = timedelta(hours=self.settings.webhook_disable_after_hours)
                if disable is None and now - since >= days:
                    disable = f"No delivery succeeded for {days.total_seconds() / 3600:g} hours"
            disabled = disable is not None and self._disable(session, endpoint.id, disable)
            session.commit()
        if disabled and disable is not None:
            logger.warning("Webhook endpoint %s disabled: %s", endpoint.id, disable)
            self._tell_owner(endpoint, disable)

    @staticmethod
    def _set_endpoint(
        session: Session, endpoint_id: int | None, only_if_ok: bool = False, **values: object
    ) -> None:
        statement = update(WebhookEndpoint).where(col(WebhookEndpoint.id) == endpoint_id)
        if only_if_ok:
            statement = statement.where(col(WebhookEndpoint.failing_since).is_(None))
        session.exec(statement.values(**values))  # type: ignore[call-overload]

    @staticmethod
    def _disable(session: Session, endpoint_id: int | None, reason: str) -> bool:
        """Disable the endpoint and fail what waits for it; False if it was already off."""
        disabled = session.exec(
            update(WebhookEndpoint)  # type: ignore[call-overload]
            .where(col(WebhookEndpoint.id) == endpoint_id, col(WebhookEndpoint.enabled).is_(True))
            .values(enabled=False, disabled_reason=reason, updated_at=utc_now())
        ).rowcount
        session.exec(
            update(WebhookDelivery)  # type: ignore[call-overload]
            .where(
                col(WebhookDelivery.endpoint_id) == endpoint_id,
                col(WebhookDelivery.status) == "pending",
            )
            .values(status="failed", next_attempt_at=None, last_error=f"Not sent: {reason}")
        )
        return disabled == 1

    def _tell_owner(self, endpoint: WebhookEndpoint, reason: str) -> None:
        with Session(self.engine) as session:
            email = session.exec(select(User.email).where(User.id == endpoint.user_id)).first()
        mailer = self._mailer
        if email is None or mailer is None:
            return
        body = (
            f"Your webhook endpoint {endpoint.url} (id {endpoint.id}) was disabled: {reason}.\n\n"
            "Events are no longer sent to it. When the receiver works again, enable it with "
            f'PATCH /webhooks/{endpoint.id} {{"enabled": true}}; failed deliveries can be sent '
            f"again with POST /webhooks/{endpoint.id}/deliveries/{{id}}/redeliver.\n"
        )
        subject = "Your webhook endpoint was disabled"
        mailer.submit(lambda: mailer.send(to=email, subject=subject, body=body))
