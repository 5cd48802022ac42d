"""Password hashing and access tokens: the only module that knows passlib and jose."""

import logging
import re
import time
from functools import lru_cache

from jose import JOSEError, jwk, jwt
from jose.backends.base import Key
from passlib.context import CryptContext

logger = logging.getLogger("app")

ALGORITHM = "HS256"
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


def create_access_token(user_id: int, *, key: str, expire_minutes: int) -> tuple[str, int]:
    """Return the token and its lifetime in seconds."""
    now = int(time.time())
    expires_in = expire_minutes * 60
    claims = {"sub": str(user_id), "iat": now, "exp": now + expires_in}
    return jwt.encode(claims, key, algorithm=ALGORITHM), expires_in


@lru_cache(maxsize=4)
def _verification_key(key: str) -> Key:
    # Built once per secret: given the string, jose tries it as JSON and builds the HMAC key
    # again on every decode, a third of the decode's time (bench/README.md).
    return jwk.construct(key, ALGORITHM)


def user_id_from_token(token: str, *, key: str) -> int | None:
    """The user id of a valid token, or None for any token that is not exactly ours."""
    try:
        claims = jwt.decode(
            token,
            _verification_key(key),
            algorithms=[ALGORITHM],
            options={
                "require_exp": True,
                "require_iat": True,
                "require_sub": True,
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
    subject = claims["sub"]
    if not isinstance(subject, str) or not _DECIMAL_ID.fullmatch(subject):
        return None
    return int(subject)
