"""Password hashing, access tokens and opaque tokens: the only module that knows passlib and
jose."""

import hashlib
import logging
import re
import secrets
import time
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from jose import JOSEError, jwk, jwt
from jose.backends.base import Key
from passlib.context import CryptContext

logger = logging.getLogger("app")

ALGORITHM = "HS256"
# Every access token says what it is and whom it is for (RFC 8725 §3.11, §3.9): a token signed
# with the same key for another purpose never opens the API.
ACCESS_TOKEN_TYPE = "access"
AUDIENCE = "video-ai-api"
BCRYPT_MAX_BYTES = 72
CLOCK_LEEWAY_SECONDS = 5
_DECIMAL_ID = re.compile(r"[1-9][0-9]{0,17}")  # fits 64 bits; crud.get_user bounds it to users.id


def password_fits_bcrypt(password: str) -> bool:
    """bcrypt ignores bytes past 72 and refuses NUL; such passwords are rejected, never cut."""
    return len(password.encode()) <= BCRYPT_MAX_BYTES and "\x00" not in password


class PasswordHasher:
    def __init__(self, rounds: int) -> None:
        # min_rounds: a cheaper stored hash is upgraded at login; a costlier one is kept.
        self._context = CryptContext(
            schemes=["bcrypt"], bcrypt__default_rounds=rounds, bcrypt__min_rounds=rounds
        )
        # Made now, not at the first unknown-email login, which would then take twice as long.
        self._dummy_hash = self._context.hash("dummy password for unknown users")

    def hash(self, password: str) -> str:
        return self._context.hash(password)

    def matches(self, password: str, password_hash: str | None) -> bool:
        """Whether the password is the one hashed (a password check that rehashes nothing)."""
        return self.verify(password, password_hash)[0]

    def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Return (matches, new_hash); new_hash is set when the stored cost is outdated.

        With no stored hash (unknown user) a dummy hash is checked anyway, so the
        answer takes as long as for a wrong password and does not reveal the account.
        """
        if not password_fits_bcrypt(password):
            return False, None
        if password_hash is None:
            self._context.verify(password, self._dummy_hash)
            return False, None
        try:
            return self._context.verify_and_update(password, password_hash)
        except ValueError:  # a stored hash passlib cannot read: no password matches it
            logger.error("A stored password hash is not one passlib can read")
            return False, None


def epoch_seconds(moment: datetime | None) -> int:
    """A `tokens_valid_after` as the earliest iat an access token may have (0: no limit)."""
    return int(moment.timestamp()) if moment is not None else 0


class AccessClaims(NamedTuple):
    user_id: int
    issued_at: int
    session_id: str | None  # the refresh-token family the token was issued with


def create_access_token(
    user_id: int, *, key: str, expire_minutes: int, session_id: str, not_before: int = 0
) -> tuple[str, int]:
    """Return the token and its lifetime in seconds.

    `iat` is at least `not_before`: the user's "tokens valid after" second, so a token issued in
    the same second as a logout-all is not refused with those it ends.
    """
    now = max(int(time.time()), not_before)
    expires_in = expire_minutes * 60
    claims = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + expires_in,
        "typ": ACCESS_TOKEN_TYPE,
        "aud": AUDIENCE,
        "sid": session_id,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM), expires_in


@lru_cache(maxsize=4)
def _verification_key(key: str) -> Key:
    # Built once per secret: given the string, jose tries it as JSON and builds the HMAC key
    # again on every decode, a third of the decode's time (bench/README.md).
    return jwk.construct(key, ALGORITHM)


def access_token_claims(token: str, *, key: str) -> AccessClaims | None:
    """The claims of a valid access token, or None for any token that is not exactly ours."""
    try:
        claims = jwt.decode(
            token,
            _verification_key(key),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={
                "require_exp": True,
                "require_iat": True,
                "require_sub": True,
                "require_aud": True,
                "leeway": CLOCK_LEEWAY_SECONDS,
            },
        )
    # Garbage of any shape is just an invalid token; jose raises TypeError for a signed
    # exp/iat/nbf that is null, an array or an object.
    except (JOSEError, ValueError, TypeError):
        return None
    # jose accepts "123" or 1.5 for exp/iat; RFC 7519 NumericDate here means an integer.
    if any(type(claims[name]) is not int for name in ("exp", "iat")):
        return None
    if claims.get("typ") != ACCESS_TOKEN_TYPE:
        return None
    subject = claims["sub"]
    if not isinstance(subject, str) or not _DECIMAL_ID.fullmatch(subject):
        return None
    session_id = claims.get("sid")
    if "sid" in claims and not isinstance(session_id, str):  # null too: we never issue it
        return None
    return AccessClaims(int(subject), claims["iat"], session_id)


OPAQUE_TOKEN_BYTES = 32


def new_opaque_token() -> tuple[str, str]:
    """A random token for the client (refresh, reset, verification) and the hash to store.

    Only the hash is stored, so a copy of the database opens nothing. SHA-256 suffices (no
    bcrypt): the token has 256 random bits, nothing to guess.
    """
    token = secrets.token_urlsafe(OPAQUE_TOKEN_BYTES)
    return token, hash_opaque_token(token)


def hash_opaque_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_session_id() -> str:
    return secrets.token_hex(16)


def new_account_reference() -> str:
    """The pseudonym of a deleted account in the ledger: random, so nothing leads back to
    the person (not a hash of the address or the id, which could be recomputed)."""
    return "deleted-" + secrets.token_hex(12)
