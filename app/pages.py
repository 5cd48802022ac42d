"""Page cursors: opaque to clients, they hold the id a page continues after."""

import base64

from app import db


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor continues after; ValueError for anything encode_cursor did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError("invalid cursor") from None
    prefix, _, number = text.partition(":")
    if prefix != "id" or not number.isdigit() or not 0 < int(number) <= db.MAX_ID + 1:
        raise ValueError("invalid cursor")
    return int(number)


MAX_OFFSET = 10_000  # ranked pages (search) go this deep


def encode_offset(offset: int) -> str:
    """The cursor of a ranked page: how many hits came before it."""
    return base64.urlsafe_b64encode(f"at:{offset}".encode()).decode().rstrip("=")


def decode_offset(cursor: str) -> int:
    """The offset a ranked page's cursor holds; ValueError for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError("invalid cursor") from None
    prefix, _, number = text.partition(":")
    if prefix != "at" or not number.isdigit() or not 0 < int(number) <= MAX_OFFSET:
        raise ValueError("invalid cursor")
    return int(number)
