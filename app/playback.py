"""Playback URLs: a short-lived URL of one video's original file that needs no Authorization
header (a `<video>` element cannot send one), signed instead (docs/web-app.md#playback).

`/playback/{video_id}?owner=...&expires=...&sig=...`: `sig` is an HMAC-SHA256, under a key
derived from SECRET_KEY for this purpose only, of the video id, its owner's id (SQLite may give
a deleted video's id to the next one) and the expiry. It is checked before the database is read,
so an altered URL tells nothing about which videos exist. The local store's file is served with
HTTP Range (Starlette's FileResponse: 206, 416, HEAD, read a chunk at a time); S3 answers with a
307 to a presigned URL of the object, valid no longer than the signed URL, which serves ranges
itself.

The query string is the secret, and uvicorn's access log prints it: `hide_from_access_log()`
installs a filter that replaces it on the access loggers of uvicorn and gunicorn.
"""

import base64
import hashlib
import hmac
import logging
import os
import re
import time
from datetime import UTC, datetime

from fastapi.concurrency import run_in_threadpool
from starlette.responses import FileResponse, RedirectResponse, Response

from app.storage import Storage

PATH = "/playback/{video_id}"
_PURPOSE = b"video-ai/playback-url/v1"
# On every answer of a playback URL: only this browser keeps it, and nothing sends the page's
# address onwards.
HEADERS = {
    "Cache-Control": "private",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


_NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits only: one spelling per number


class Refused(Exception):
    """The URL is expired, altered or signed for another video: 403 with this message."""


def _key(secret_key: str) -> bytes:
    """A key for playback URLs alone: a signature made here is worth nothing elsewhere."""
    return hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()


def _signature(secret_key: str, video_id: int, owner_id: int, expires: int) -> str:
    message = f"{video_id}:{owner_id}:{expires}".encode()
    digest = hmac.new(_key(secret_key), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(
    secret_key: str, video_id: int, owner_id: int, *, ttl_seconds: int, now: float | None = None
) -> tuple[str, datetime]:
    """The signed URL (a path on this server) and when it expires."""
    expires = int(now if now is not None else time.time()) + ttl_seconds
    signature = _signature(secret_key, video_id, owner_id, expires)
    url = PATH.format(video_id=video_id) + f"?owner={owner_id}&expires={expires}&sig={signature}"
    return url, datetime.fromtimestamp(expires, UTC)


def check(
    secret_key: str, video_id: int, owner: str, expires: str, sig: str, now: float | None = None
) -> tuple[int, int]:
    """(the owner's id, seconds left) of a valid URL; Refused otherwise. Checked in constant
    time, before the expiry, so an altered URL is "invalid" whatever its expiry says."""
    if not (_NUMBER.fullmatch(owner) and _NUMBER.fullmatch(expires)):
        raise Refused("Invalid playback URL")
    expected = _signature(secret_key, video_id, int(owner), int(expires))
    if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
        raise Refused("Invalid playback URL")
    left = int(expires) - int(now if now is not None else time.time())
    if left <= 0:
        raise Refused("Playback URL expired")
    return int(owner), left


async def respond(storage: Storage, key: str, *, content_type: str, seconds_left: int) -> Response:
    """The stored file: a redirect to a presigned URL, or the local file with Range support.
    FileNotFoundError when it is not there."""
    url = await run_in_threadpool(
        storage.presign, key, expires_seconds=seconds_left, content_type=content_type
    )
    if url is not None:
        return RedirectResponse(url, status_code=307, headers=HEADERS)
    path = storage.local_path(key)
    if path is None:  # a store that can neither presign nor give a path
        raise FileNotFoundError(key)
    stat = await run_in_threadpool(os.stat, path)  # FileNotFoundError when it is gone
    return FileResponse(path, stat_result=stat, media_type=content_type, headers=HEADERS)


# The request line as the access loggers print it: a playback path, then its query string.
_SECRET_QUERY = re.compile(r"(/playback/[^\s?]*)\?[^\s\"]*")


class RedactPlaybackQuery(logging.Filter):
    """Replaces the query string of playback URLs in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1?[redacted]", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_QUERY.sub(r"\1?[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access")


def hide_from_access_log() -> None:
    """Install the filter on the servers' access loggers (once per process)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactPlaybackQuery) for f in logger.filters):
            logger.addFilter(RedactPlaybackQuery())
