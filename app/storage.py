"""Where video files live: named by id under MEDIA_ROOT, never by the client's file name.

One small interface, so an object store can take the place of the local disk:
`writer()` streams a new object (atomic: a temporary file renamed into place on commit, gone on
abort), `local_path()` gives the worker a file to open, `exists()`, `delete_video()`.
"""

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

SOURCE = "source"
THUMBNAIL = "thumbnail.jpg"


def video_key(video_id: int, name: str) -> str:
    return f"videos/{video_id}/{name}"


class PendingObject:
    """An object being written: bytes go to a temporary file while their SHA-256 is computed."""

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

    def writer(self) -> PendingObject:
        return PendingObject(self._incoming)

    def commit(self, pending: PendingObject, key: str) -> None:
        """Move a finished object into place under its key (a rename: all or nothing)."""
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

    def local_path(self, key: str) -> Path:
        return self._path(key)

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
