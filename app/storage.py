"""Where video files live: named by id (`videos/{id}/...`), never by the client's file name.

Two backends with one interface, picked by STORAGE_BACKEND: `LocalStorage` (files under
MEDIA_ROOT, the default) and `S3Storage` (app/s3.py: an S3-compatible bucket, for API and worker
processes on several machines).

- `writer()` streams a new object; `commit(pending, key)` puts it in place (all or nothing),
  `pending.abort()` leaves nothing behind.
- `put_file(path, key)` stores a file a worker made (a thumbnail).
- `fetch(key)` is a context manager giving a local file to open with FFmpeg: the stored file
  itself on disk, a copy in a scratch directory (removed afterwards) from a bucket.
- `open(key)` reads an object for a response; `exists`, `delete`, `delete_video`.

A store that cannot be reached raises `StorageUnavailable` (the API answers 503).
"""

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from app.config import Settings

SOURCE = "source"
THUMBNAIL = "thumbnail.jpg"


class StorageUnavailable(Exception):
    """The object store did not answer (or answered with a server error): try again later."""


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


class Storage(Protocol):
    def writer(self) -> PendingObject: ...
    def commit(self, pending: PendingObject, key: str) -> None: ...
    def put_file(self, source: Path, key: str) -> None: ...
    def fetch(self, key: str) -> AbstractContextManager[Path]: ...
    def open(self, key: str) -> tuple[BinaryIO, int]: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def delete_video(self, video_id: int) -> None: ...


def make_storage(settings: "Settings") -> Storage:
    """The backend the settings name (boto3 is imported only when S3 is used)."""
    if settings.storage_backend == "s3":
        from app.s3 import S3Storage

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.media_root)


class LocalPending:
    """A local object being written: bytes go to a temporary file, renamed into place."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=directory, prefix="upload-", suffix=".part")
        self.path = Path(name)
        self._file = os.fdopen(handle, "wb")
        self._sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        """Hash and write one chunk (hashlib and the write release the GIL on large chunks)."""
        self._sha256.update(data)
        self._file.write(data)
        self.size += len(data)

    def write_all(self, pieces: list[memoryview]) -> None:
        for piece in pieces:
            self.write(piece)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def abort(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._incoming = self.root / "incoming"

    def writer(self) -> LocalPending:
        return LocalPending(self._incoming)

    def commit(self, pending: PendingObject, key: str) -> None:
        """Move a finished object into place under its key (a rename: all or nothing)."""
        assert isinstance(pending, LocalPending)
        pending.close()
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(pending.path, target)

    def put_file(self, source: Path, key: str) -> None:
        """Store a file the worker made (a thumbnail), atomically."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.part")
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)

    @contextmanager
    def fetch(self, key: str) -> Iterator[Path]:
        """The stored file itself: nothing to download on one machine."""
        yield self._path(key)

    def open(self, key: str) -> tuple[BinaryIO, int]:
        file = self._path(key).open("rb")  # FileNotFoundError when it is not there
        return file, os.fstat(file.fileno()).st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_video(self, video_id: int) -> None:
        """Every object of a video: its source file, its thumbnail, whatever a job wrote."""
        shutil.rmtree(self.root / "videos" / str(video_id), ignore_errors=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):  # keys are ours, but never trust a path
            raise ValueError(f"storage key outside the media root: {key!r}")
        return path
