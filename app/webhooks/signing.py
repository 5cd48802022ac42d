"""Webhook secrets and signatures: the only module that knows `standardwebhooks` and
`cryptography`.

A secret is `whsec_` + base64 of 32 random bytes (the Standard Webhooks form). It is shown to
its owner once and stored sealed (Fernet: AES-128-CBC and HMAC-SHA256, with a key derived from
SECRET_KEY by HKDF), so a copy of the database alone cannot sign a message. Changing SECRET_KEY
makes the stored secrets unreadable: their endpoints then need a rotation.
"""

import base64
import secrets
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


class SecretUnreadable(Exception):
    """A sealed secret that this SECRET_KEY cannot open."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    """The `webhook-id` of one message: the same on every attempt, unique across messages."""
    return "msg_" + secrets.token_urlsafe(18)


class Sealer:
    """Seals secrets for the database and opens them again, with a key from SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"video-ai webhook secrets"
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("the secret was sealed with another SECRET_KEY") from None


def signature(secrets_: list[str], message_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` header: `v1,<base64>` for each secret, space-separated (the
    spec's way to sign with an old and a new secret while receivers switch over)."""
    return " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in secrets_)
