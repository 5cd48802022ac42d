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
