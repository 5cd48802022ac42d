"""Receive an uploaded video: the multipart body streams from the socket to storage.

python-multipart's push parser (the only module that knows it) runs over `request.stream()`,
so the file's bytes go to disk once, in large chunks, hashed on the way; Starlette's UploadFile
would spool them to a temporary file first and be copied again. The size cap counts the bytes
received, whatever `Content-Length` says, and the first bytes must be a known video container
(an empty file is refused as such).
"""

import asyncio
import contextlib
import re
import unicodedata
from dataclasses import dataclass

from fastapi import HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from app.config import readable_size
from app.pipeline import media
from app.storage import PendingObject, Storage

FIELD = "file"
WRITE_CHUNK = 1024 * 1024  # bytes handed to a worker thread at a time
OTHER_PARTS_MAX = 64 * 1024  # form fields besides the file, and the parts' headers
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Received:
    pending: PendingObject
    filename: str | None
    content_type: str


def too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        detail=f"The file is larger than the limit of {readable_size(max_bytes)}",
        headers={"Connection": "close"},
    )


UNSUPPORTED = HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="Unsupported media type")
EMPTY = HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="The file is empty")


def _missing_file(message: str = "Field required") -> RequestValidationError:
    return RequestValidationError([{"type": "missing", "loc": ("body", FIELD), "msg": message}])


def display_name(raw: bytes | None) -> str | None:
    """The client's file name for display: no directories, no control characters, 255 chars."""
    if not raw:
        return None
    name = unicodedata.normalize("NFC", raw.decode("utf-8", errors="replace"))
    name = _CONTROL.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:255] or None


class _FilePart:
    """Collects the parser's callbacks for one request; the file's bytes go to `pending`."""

    def __init__(self, storage: Storage, max_bytes: int) -> None:
        self.storage = storage
        self.max_bytes = max_bytes
        self.pending: PendingObject | None = None
        self.filename: str | None = None
        self.content_type: str | None = None
        self.finished = False  # the parser saw the closing boundary
        # The file's bytes since the last write: views into the received chunks, not copies.
        self._pieces: list[memoryview] = []
        self._buffered = 0
        self._writing: asyncio.Future | None = None  # the write in flight on a worker thread
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._in_file = False
        self.file_seen = False
        self._other_bytes = 0

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._count_other(len(self._header_field) + len(self._header_value))
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._in_file = options.get(b"name") == FIELD.encode() and not self.file_seen
        if self._in_file:
            self.file_seen = True
            self.filename = display_name(options.get(b"filename"))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_file:
            self._count_other(end - start)
            return
        self._pieces.append(memoryview(data)[start:end])
        self._buffered += end - start

    def _part_end(self) -> None:
        self._in_file = False

    def _end(self) -> None:
        self.finished = True

    def _count_other(self, size: int) -> None:
        self._other_bytes += size
        if self._other_bytes > OTHER_PARTS_MAX:
            raise too_large(self.max_bytes)

    async def flush(self, final: bool = False) -> None:
        """Sniff the first bytes, then hand full chunks (all, when final) to the writer.

        One write is in flight on a worker thread while the next chunk is received."""
        if (self.pending.size if self.pending else 0) + self._buffered > self.max_bytes:
            raise too_large(self.max_bytes)
        if self.content_type is None:
            if self._buffered < media.SNIFF_BYTES and not final:
                return
            self.content_type = media.sniff(b"".join(self._pieces)[: media.SNIFF_BYTES])
            if self.content_type is None:
                raise EMPTY if self._buffered == 0 else UNSUPPORTED
            # A worker thread: an object store's writer starts its upload over the network.
            self.pending = await run_in_threadpool(self.storage.writer)
        if self.pending is None or (self._buffered < WRITE_CHUNK and not final):
            return
        await self.wait_for_write()
        pieces, self._pieces, self._buffered = self._pieces, [], 0
        self._writing = asyncio.ensure_future(run_in_threadpool(self.pending.write_all, pieces))
        if final:
            await self.wait_for_write()

    async def wait_for_write(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing

    async def abort(self) -> None:
        """Nothing of this upload is kept (after the write in flight, if any, is done)."""
        with contextlib.suppress(Exception):
            await self.wait_for_write()
        if self.pending is not None:
            await run_in_threadpool(self.pending.abort)


async def receive_video(request: Request, storage: Storage, *, max_bytes: int) -> Received:
    """Stream the `file` field to a pending object; 413, 415 or 422 with nothing kept."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + OTHER_PARTS_MAX:
        raise too_large(max_bytes)  # without reading a byte of it
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise _missing_file("Expected a multipart/form-data body with a file field")
    part = _FilePart(storage, max_bytes)
    parser = MultipartParser(boundary, part.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            await part.flush()
        parser.finalize()
        if not part.file_seen:
            raise _missing_file()
        if not part.finished:
            raise _missing_file("The multipart body ended before its closing boundary")
        await part.flush(final=True)
        assert part.pending is not None and part.content_type is not None
        await run_in_threadpool(part.pending.close)  # an object store's last part goes here
    except ClientDisconnect:
        await part.abort()
        # Nobody reads this answer; it keeps a client that left out of the error log.
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Upload interrupted") from None
    except MultipartParseError:
        await part.abort()
        raise _missing_file("The multipart body is malformed") from None
    except BaseException:  # 413, 415, a client that went away: no file is left behind
        await part.abort()
        raise
    return Received(part.pending, part.filename, part.content_type)
