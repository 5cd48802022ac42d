"""The documented answers of the routes (app/api.py) for the OpenAPI document: error bodies,
response headers, and the request body the upload route reads itself."""

from typing import Any

from app.body_limit import MAX_BODY_BYTES
from app.idempotency import REPLAYED_HEADER
from app.models import ErrorDetail


def error(description: str) -> dict[str, Any]:
    return {"model": ErrorDetail, "description": description}


BAD_CREDENTIALS = {401: error("Wrong email or password"), 403: error("Inactive user")}
BAD_TOKEN = {401: error("Missing, invalid or expired token"), 403: error("Inactive user")}
TOO_LARGE = {413: error(f"Request body larger than {MAX_BODY_BYTES // 1024} KiB")}
STORE_DOWN = {503: error("The object store is unavailable; try again later (see Retry-After)")}
STORE_FULL = {507: error("The server's storage is full (disk, quota or bucket); nothing was kept")}
TOO_MANY = {
    429: {
        **error("Too many attempts: wait for Retry-After seconds"),
        "headers": {
            "Retry-After": {
                "description": "Seconds until the next attempt is counted again",
                "schema": {"type": "integer"},
            }
        },
    }
}
BAD_PASSWORD = {400: error("Incorrect password")}
BAD_LINK_TOKEN = {400: error("Invalid, used or expired token")}
UNVERIFIED = {403: error("Inactive user, or email not verified (with REQUIRE_VERIFIED_EMAIL)")}
LOGIN_ERRORS = {**BAD_CREDENTIALS, **TOO_LARGE, **TOO_MANY}
# `?cookie=true` (app/session_cookie.py): a browser's request from another origin.
COOKIE_ERRORS = {403: error("Inactive user, or a cookie-mode request from another origin")}
ERROR_DETAIL_SCHEMA = {"$ref": "#/components/schemas/ErrorDetail"}
JPEG = {"type": "string", "format": "binary", "description": "The JPEG image's bytes"}
VIDEO_AUTH = {**BAD_TOKEN, **UNVERIFIED}
VIDEO_NOT_FOUND = {404: error("No such video (or not yours)")}
# /videos/upload and /videos/link are POST routes beside /videos/{id}: another method there is 405.
NOT_A_VIDEO_ID = {405: error("`upload` or `link` in place of an id: those take POST only")}
JOB_NOT_FOUND = {404: error("No such job (or not yours)")}
# GET /jobs/{id}/events: OpenAPI 3.1 has no `itemSchema` (3.2's way to type each event), so the
# stream's schema is the type of each event's `data` (what @hey-api/openapi-ts and others read).
JOB_EVENTS = {
    200: {
        "description": "Server-sent events until the job finishes: each `event: job` has the "
        "job's version as its `id` and the job (a ProcessingJobRead, as JSON) as its `data`; "
        "`: keep-alive` comments keep a quiet stream open. Send `Last-Event-ID` to resume.",
        "content": {
            "text/event-stream": {"schema": {"$ref": "#/components/schemas/ProcessingJobRead"}}
        },
    }
}


# Sent with a stored answer replayed for a retry with the same Idempotency-Key.
THUMBNAIL_HEADERS = {
    "ETag": {
        "description": "The thumbnail's validator, for If-None-Match",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "`private, no-cache`: kept by the browser only, revalidated each time",
        "schema": {"type": "string"},
    },
}
REPLAYED = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored answer of an earlier request with the "
        "same Idempotency-Key",
        "schema": {"type": "string"},
    }
}


# The upload route reads the multipart body itself (app/upload.py); this documents it.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "title": "VideoUpload",
                    "description": "The video file as the `file` field of a multipart form",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The video (MP4/MOV, Matroska/WebM, AVI, MPEG-TS, FLV)",
                        }
                    },
                }
            }
        },
    }
}
TOO_MANY_INGESTS = {429: error("Too many videos processing at once (see Retry-After)")}
ADMIN = {401: BAD_TOKEN[401], 403: error("Not a superuser, or an inactive user")}
USER_NOT_FOUND = {404: error("No such user")}
