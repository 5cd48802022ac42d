"""Files under MEDIA_ROOT named by their key; every write lands whole (a rename) or not at all."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from app.storage.base import (
    HashingWriter,
    PendingObject,
    StorageFull,
    full_disk_as_storage_full,
)


class LocalPending(HashingWriter):
    """A local object being written: bytes go to a temporary file, renamed into place."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        with full_disk_as_storage_full():
            directory.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=directory, prefix="upload-", suffix=".part")
        self.path = Path(name)
        self._file = os.fdopen(handle, "wb")

    def _write(self, data: bytes | memoryview) -> None:
        with full_disk_as_storage_full():
            self._file.write(data)

    def close(self) -> None:
        if not self._file.closed:
            with full_disk_as_storage_full():
                self._file.close()  # writes what is buffered: the disk may be full here too

    def abort(self) -> None:
        """Nothing stays, also when the disk is full (closing then fails to flush)."""
        try:
            self.close()
        except StorageFull:
            pass  # the file is closed all the same; its bytes are not wanted
        finally:
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
        with full_disk_as_storage_full():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(pending.path, target)

    def put_file(self, source: Path, key: str) -> None:
        """Store a file the worker made (a thumbnail), atomically."""
        target = self._path(key)
        temporary = target.with_name(f".{target.name}.part")
        try:
            with full_disk_as_storage_full():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, temporary)
                os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)  # no half-copied file left behind
            raise

    @contextmanager
    def fetch(self, key: str) -> Iterator[Path]:
        """The stored file itself: nothing to download on one machine."""
        yield self._path(key)

    def open(self, key: str) -> tuple[BinaryIO, int]:
        file = self._path(key).open("rb")  # FileNotFoundError when it is not there
        return file, os.fstat(file.fileno()).st_size

    def etag(self, key: str) -> str:
        """A strong validator of the file as it is (its modification time and size, as nginx's): a
        file written again is another file (a rename into place), so another tag."""
        stat = self._path(key).stat()  # FileNotFoundError when it is not there
        return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def presign(self, key: str, *, expires_seconds: int, content_type: str) -> None:
        """No URL outside the API: local files are served by it (local_path)."""
        return None

    def local_path(self, key: str) -> Path:
        """Where the object's file is (it may not exist), for the API to serve with Range."""
        return self._path(key)

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
