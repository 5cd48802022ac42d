"""The storage interface, the key helpers and what both backends share."""

import errno
import hashlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

SOURCE = "source"
THUMBNAIL = "thumbnail.jpg"


class StorageUnavailable(Exception):
    """The object store did not answer (or answered with a server error): try again later."""


class StorageFull(Exception):
    """No room for a write: a full disk or a disk quota (ENOSPC, EDQUOT), a bucket's quota or
    an object store that is full. An operational condition, not a bug: the API answers 507, a
    job fails `storage_full` (refunded)."""


FULL_MESSAGE = "The server's storage is full; try again later"
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_full(error: BaseException) -> bool:
    """StorageFull, or an OSError of a full disk or quota from any write (a scratch file's)."""
    return isinstance(error, StorageFull) or (
        isinstance(error, OSError) and error.errno in _FULL_ERRNOS
    )


@contextmanager
def full_disk_as_storage_full() -> Iterator[None]:
    """Around a local write: ENOSPC or EDQUOT become StorageFull; other errors pass."""
    try:
        yield
    except OSError as error:
        if error.errno in _FULL_ERRNOS:
            raise StorageFull(f"{error.strerror} ({error.filename or 'media root'})") from error
        raise


def video_key(video_id: int, name: str) -> str:
    return f"videos/{video_id}/{name}"


def video_prefix(video_id: int) -> str:
    return f"videos/{video_id}/"


def job_key(video_id: int, job_id: int, name: str) -> str:
    """A file a job produced: under its video, so deleting the video removes it too."""
    return video_key(video_id, f"jobs/{job_id}/{name}")


class PendingObject(Protocol):
    """An object being written: chunks hashed (SHA-256) and counted on the way."""

    size: int

    def write(self, data: bytes | memoryview) -> None: ...
    def write_all(self, pieces: list[memoryview]) -> None: ...
    @property
    def sha256(self) -> str: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class HashingWriter:
    """The part of a PendingObject both backends share: every chunk hashed and counted, then
    handed to `_write` (a file, or an S3 part buffer)."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self.size = 0

    def _write(self, data: bytes | memoryview) -> None:
        raise NotImplementedError

    def write(self, data: bytes | memoryview) -> None:
        """Hash and write one chunk (hashlib and a file write release the GIL on large ones)."""
        self._sha256.update(data)
        self._write(data)
        self.size += len(data)

    def write_all(self, pieces: list[memoryview]) -> None:
        for piece in pieces:
            self.write(piece)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


class Storage(Protocol):
    def writer(self) -> PendingObject: ...
    def commit(self, pending: PendingObject, key: str) -> None: ...
    def put_file(self, source: Path, key: str) -> None: ...
    def fetch(self, key: str) -> AbstractContextManager[Path]: ...
    def open(self, key: str) -> tuple[BinaryIO, int]: ...
    def etag(self, key: str) -> str: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def delete_video(self, video_id: int) -> None: ...
    def presign(self, key: str, *, expires_seconds: int, content_type: str) -> str | None: ...
    def local_path(self, key: str) -> Path | None: ...
