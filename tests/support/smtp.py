"""A real SMTP server for the tests (aiosmtpd) on 127.0.0.1 on a free port.

It runs in a thread of the test process and keeps every message it receives, so a test can
wait for an email and follow the link in it, as a user would.
"""

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import unquote

from aiosmtpd.controller import Controller

from tests.support.live import free_port


class Inbox:
    """What the SMTP server received; `delay` makes it answer DATA that many seconds late."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.delay = 0.0
        self.port = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        if self.delay:
            time.sleep(self.delay)  # blocks the server's loop: a slow server, deliberately
        message = message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 30) -> EmailMessage:
        """The `count`-th email to `address`, once it has arrived (a loaded CI machine once
        took over 10 s to run the mailer's thread)."""
        deadline = time.monotonic() + timeout
        while len(received := self.to(address)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no email #{count} to {address} within {timeout} s")
            time.sleep(0.02)
        return received[count - 1]


@contextmanager
def smtp_server() -> Iterator[Inbox]:
    inbox = Inbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def link_token(message: EmailMessage, page: str) -> str:
    """The token of the `{FRONTEND_URL}/{page}?token=...` link in a plain-text email."""
    body = message.get_content()
    found = re.search(rf"https?://\S+/{page}\?token=([^\s&]+)", body)
    assert found, f"no /{page} link in:\n{body}"
    return unquote(found.group(1))
