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

    def hit(self, key: str) -> bool:
        """Count one hit; False when the key was already at the limit (or the storage failed)."""
        return self._limiter.hit(self._item, self._scope, key)

    def clear(self, key: str) -> None:
        self._limiter.clear(self._item, self._scope, key)


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

    def hit(self, item: RateLimitItemPerSecond, scope: str, key: str) -> bool:
        try:
            return self._limiter.hit(item, scope, key)
        except Exception:
            logger.exception("Rate-limit storage failed: hit not counted")
            return False

    def clear(self, item: RateLimitItemPerSecond, scope: str, key: str) -> None:
        try:
            self._limiter.clear(item, scope, key)
        except Exception:
            logger.exception("Rate-limit storage failed: count not cleared")


class AuthLimits:
    """The limits of the auth routes, from the settings.

    A wrong password (login, password change, account deletion) counts three times: for the
    (account, client address) pair, the strict limit, so a stranger's guesses lock out the
    stranger and not the owner elsewhere; for the client address across accounts (credential
    stuffing); and for the account from everywhere, a ceiling far above what an owner ever
    reaches and over a longer window, which stops a guesser spread over many addresses. The
    account is the address as typed (normalised), known or not, so every answer is the same
    for accounts that do not exist.
    """

    def __init__(self, throttle: Throttle, settings: Settings) -> None:
        login = settings.login_window_seconds
        self.login_per_account_address = throttle.limit(
            "login-account-address", settings.login_max_failures, login
        )
        self.login_per_address = throttle.limit(
            "login-address", settings.login_max_failures_per_address, login
        )
        ceiling = settings.login_account_window_seconds
        self.login_per_account = throttle.limit(
            "login-account", settings.login_max_failures_per_account, ceiling
        )
        # One email to the owner per ceiling window, however many guesses follow.
        self.login_ceiling_notice = throttle.limit("login-account-notice", 1, ceiling)
        # Every reset or verification email asked for, per account and per client address.
        email = settings.email_requests_window_seconds
        self.email_per_account = throttle.limit("email-account", settings.email_requests_max, email)
        self.email_per_address = throttle.limit(
            "email-address", settings.email_requests_max_per_address, email
        )
        # Every registration attempt (each costs a bcrypt hash), per client address.
        self.register_per_address = throttle.limit(
            "register-address", settings.register_max_per_address, settings.register_window_seconds
        )

    def _password_checks(self, account: str, address: str) -> list[tuple[Limit, str]]:
        # An IP address holds no "|", so the pair's key is unambiguous.
        return [
            (self.login_per_account_address, f"{address}|{account}"),
            (self.login_per_address, address),
            (self.login_per_account, account),
        ]

    def refuse_password_check(self, account: str, address: str) -> None:
        """429 before the password is checked (before bcrypt runs) once any limit is reached,
        also for the right password."""
        refuse_if_throttled(*self._password_checks(account, address))

    def count_wrong_password(self, account: str, address: str) -> bool:
        """Count a wrong password. True the first time in its window that the account reached
        its ceiling: the owner should hear of it (once)."""
        for limit, key in self._password_checks(account, address):
            limit.hit(key)
        if self.login_per_account.retry_after(account) is None:
            return False
        return self.login_ceiling_notice.hit(account)

    def forget_account_failures(self, account: str) -> None:
        """The owner proved control of the address (a password reset): the ceiling ends, and
        a new one would be told again."""
        self.login_per_account.clear(account)
        self.login_ceiling_notice.clear(account)


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
