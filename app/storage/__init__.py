"""Where video files live: named by id (`videos/{id}/...`), never by the client's file name.

Holds `base` (the interface every backend implements, the key helpers, `StorageUnavailable`,
the hashing writer both backends share), `local` (files under MEDIA_ROOT, the default), `s3`
(an S3-compatible bucket, for API and worker processes on several machines: the only module
that knows boto3) and `factory` (`make_storage`: the backend STORAGE_BACKEND names).

May import: `app.config`, `app.scratch` (where downloads go) and third-party libraries;
nothing else of `app`. `base` imports no backend; the backends import `base`; `factory` sits
above both.

- `writer()` streams a new object; `commit(pending, key)` puts it in place (all or nothing),
  `pending.abort()` leaves nothing behind.
- `put_file(path, key)` stores a file a worker made (a thumbnail).
- `fetch(key)` is a context manager giving a local file to open with FFmpeg: the stored file
  itself on disk, a copy in a scratch directory (removed afterwards) from a bucket.
- `open(key)` reads an object for a response, `etag(key)` its validator (If-None-Match);
  `exists`, `delete`, `delete_video`.
- `presign(key, ...)` a URL that serves the object without the API (S3), or None (local);
  `local_path(key)` the object's file for the API to serve with HTTP Range (local), or None.

A store that cannot be reached raises `StorageUnavailable` (the API answers 503); one with no
room for a write (a full disk, a quota, a full bucket) raises `StorageFull` (507, or a job
failed `storage_full`; `is_full` also knows a full disk's OSError from any other write).
"""

from app.storage.base import (
    FULL_MESSAGE,
    SOURCE,
    THUMBNAIL,
    PendingObject,
    Storage,
    StorageFull,
    StorageUnavailable,
    is_full,
    job_key,
    video_key,
    video_prefix,
)
from app.storage.factory import make_storage

__all__ = [
    "FULL_MESSAGE",
    "SOURCE",
    "THUMBNAIL",
    "PendingObject",
    "Storage",
    "StorageFull",
    "StorageUnavailable",
    "is_full",
    "job_key",
    "make_storage",
    "video_key",
    "video_prefix",
]
