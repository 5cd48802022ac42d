"""Counting failures and requests per key in a time window: the only module that knows `limits`.

Storage "memory://" counts per process (each uvicorn worker on its own); "redis://..." shares
the counts between every worker and instance. The moving window is exact: a key that reached
its limit is let through again once its oldest counted hit is older than the window.
"""

import logging
import math
import time

from fastapi import HTTPException, Request, status
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.config import Settings
from app.models import normalize_email

logger = logging.getLogger("app")


class Limit:
    """At most `amount` hits per key in `window_seconds`, for one kind of key (`scope`)."""

    def __init__(self, limiter: "Throttle", scope: str, amount: int, window_seconds: int) -> None:
        self._limiter = limiter
        self._scope = scope
        self._item = RateLimitItemPerSecond(amount, window_seconds)

    def retry_after(self, key: str) -> int | None:
        """Seconds until the key may try again when it has reached the limit, else None."""
        return self._limiter.retry_after(self._item, self._scope, key)

    def hit(self, key: str) -> None:
        self._limiter.hit(self._item, self._scope, key)


class Throttle:
    def __init__(self, storage_uri: str) -> None:
        self._storage = storage_from_string(storage_uri)
        self._limiter = MovingWindowRateLimiter(self._storage)

    def limit(self, scope: str, amount: int, window_seconds: int) -> Limit:
        return Limit(self, scope, amount, window_seconds)

    # Fails open: while the storage (Redis) does not answer, requests are not throttled and the
    # error is logged, so an outage of the counter does not lock every user out.
    def retry_after(self, item: RateLimitItemPerSecond, scope: str, key: str) -> int | None:
        try:
            if self._limiter.test(item, scope, key):
                return None
            reset_time, _ = self._limiter.get_window_stats(item, scope, key)
        except Exception:
            logger.exception("Rate-limit storage failed: request not throttled")
            return None
        return max(1, math.ceil(reset_time - time.time()))

    def hit(self, item: RateLimitItemPerSecond, scope: str, key: str) -> None:
        try:
            self._limiter.hit(item, scope, key)
        except Exception:
            logger.exception("Rate-limit storage failed: hit not counted")


class AuthLimits:
    """The limits of the auth routes, from the settings."""

    def __init__(self, throttle: Throttle, settings: Settings) -> None:
        login = settings.login_window_seconds
        email = settings.email_requests_window_seconds
        # Failed password checks (login, password change, account deletion), per account and
        # per client address; the account key is the address as typed, known or not.
        self.login_per_account = throttle.limit("login-account", settings.login_max_failures, login)
        self.login_per_address = throttle.limit(
            "login-address", settings.login_max_failures_per_address, login
        )
        # Every reset or verification email asked for, per account and per client address.
        self.email_per_account = throttle.limit("email-account", settings.email_requests_max, email)
        self.email_per_address = throttle.limit(
            "email-address", settings.email_requests_max_per_address, email
        )


def client_address(request: Request) -> str:
    """The peer's address as uvicorn gives it. Behind a proxy, uvicorn's --proxy-headers and
    --forwarded-allow-ips make it the client's (X-Forwarded-For) only for a trusted proxy."""
    return request.client.host if request.client else "unknown"


def account_key(email: str) -> str:
    """The throttling key of an account as typed: every spelling of one address counts once."""
    try:
        return normalize_email(email)
    except ValueError:
        return email.strip().lower()


def refuse_if_throttled(*checks: tuple[Limit, str]) -> None:
    """429 with the longest Retry-After of the limits the keys have reached, if any."""
    waits = [wait for limit, key in checks if (wait := limit.retry_after(key)) is not None]
    if waits:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="Too many attempts, try again later",
            headers={"Retry-After": str(max(waits))},
        )
