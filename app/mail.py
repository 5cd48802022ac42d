"""Sending email off the request path: the only module that knows smtplib.

`Mailer.submit(job, ...)` runs a job (which may call `Mailer.send`) on a small thread pool of
its own, so a route never waits for the database work of composing a link or for the SMTP
server. Without SMTP_HOST, development writes each email whole to the log ("app" logger), so
a developer can follow its link; production then sends nothing and logs only that it did not.
"""

import logging
import smtplib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

from app.config import Settings

logger = logging.getLogger("app")


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mailer")

    def submit(self, job: Callable[..., Any], *args: Any) -> Future[None]:
        """Run `job(*args)` in the background; its failure is logged, never raised."""
        return self._pool.submit(self._run, job, *args)

    @staticmethod
    def _run(job: Callable[..., Any], *args: Any) -> None:
        try:
            job(*args)
        except Exception:
            logger.exception("Background email job %s failed", getattr(job, "__name__", job))

    def send(self, *, to: str, subject: str, body: str) -> None:
        """Deliver one plain-text email now (call it from a job, not from a route)."""
        settings = self._settings
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        if not settings.smtp_host:
            if settings.environment == "production":
                logger.error("SMTP_HOST is not set: email %r to %s not sent", subject, to)
            else:
                # Readable, not MIME-encoded: quoted-printable would break the link across lines.
                logger.warning(
                    "SMTP_HOST is not set: email not sent, here it is\n"
                    "From: %s\nTo: %s\nSubject: %s\n\n%s",
                    settings.smtp_from,
                    to,
                    subject,
                    body,
                )
            return
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)

    def close(self) -> None:
        """Finish the queued emails, then stop (at app shutdown)."""
        self._pool.shutdown(wait=True)
