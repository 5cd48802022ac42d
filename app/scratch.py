"""Scratch space of the processes that run jobs: the only module that knows `fcntl`.

Each process works in `<SCRATCH_DIR>/<pid>/` (temporary folders of jobs, downloads from the
bucket, audio pieces), beside which it keeps `<pid>.lock` locked (`flock`) for as long as it
lives. A process killed with SIGKILL leaves its folder behind, but never its lock: the kernel
releases that with the process. So a starting worker removes exactly the folders whose lock
it can take, whose owner is gone, whatever pid numbers were reused since, and never the folder
of a process that still runs (or of a forked child of it, which inherits the lock).
"""

import fcntl
import logging
import os
import re
import shutil
import tempfile
import threading
from contextlib import suppress
from pathlib import Path

logger = logging.getLogger("app.worker")

_PROCESS_DIR = re.compile(r"[0-9]+")
_claimed: dict[tuple[Path, int], Path] = {}  # (root, pid) -> this process's folder
_claiming = threading.Lock()


def process_dir(root: Path) -> Path:
    """This process's folder under `root`, created (and its lock taken) at the first call."""
    key = (root, os.getpid())  # a forked child has a pid, and so a folder, of its own
    with _claiming:
        if key not in _claimed:
            _claimed[key] = _claim(root, key[1])
        return _claimed[key]


def temporary_dir(root: Path, prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder in this process's scratch folder, removed when the block ends."""
    return tempfile.TemporaryDirectory(prefix=prefix, dir=process_dir(root))


def _claim(root: Path, pid: int) -> Path:
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    _lock(root / f"{pid}.lock", wait=True)  # kept open and locked until the process ends
    folder = root / str(pid)
    # Left by a dead process that had this pid: its lock was free, so it is gone.
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    return folder


def _lock(path: Path, *, wait: bool) -> int | None:
    """An open descriptor of `path` holding its exclusive lock, or None (not `wait`) when
    another process holds it. Retried when a sweeper removed the file meanwhile."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(descriptor)
            return None
        try:
            if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)  # the file we locked was removed: lock the one there now


def sweep(root: Path) -> list[str]:
    """Remove the folders (and lock files) of processes that are gone; their names."""
    try:
        names = {entry.name for entry in os.scandir(root)}
    except FileNotFoundError:
        return []
    owners = {name.removesuffix(".lock") for name in names}
    mine = {str(pid) for (folder_root, pid) in _claimed if folder_root == root}
    swept = []
    for owner in sorted(owners - mine):
        if not _PROCESS_DIR.fullmatch(owner):
            continue  # not ours
        lock = root / f"{owner}.lock"
        descriptor = _lock(lock, wait=False)
        if descriptor is None:
            continue  # its process (or a child of it) still runs
        try:
            folder = root / owner
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                swept.append(owner)
            with suppress(FileNotFoundError):
                lock.unlink()  # while still locked: a new owner retries on a fresh file
        finally:
            os.close(descriptor)
    if swept:
        logger.info("Swept the scratch folders of %s gone processes in %s", len(swept), root)
    return swept
