"""Video files in an S3-compatible bucket (AWS S3, MinIO, ...): the only module that knows boto3.

Same interface as `LocalStorage` (app/storage/local.py). An upload streams into a multipart upload
under `incoming/<random>` in parts of PART_SIZE (never whole in memory); its commit copies it
server-side to `videos/{id}/source` (the key is known only once the row has its id) and deletes
the incoming object. Workers `fetch` objects into a scratch directory for FFmpeg. Errors that
mean "the store is not answering" become `StorageUnavailable`.
"""

import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.scratch import process_dir
from app.storage.base import (
    HashingWriter,
    PendingObject,
    StorageFull,
    StorageUnavailable,
    video_prefix,
)

if TYPE_CHECKING:
    from app.config import Settings

logger = logging.getLogger("app")

PART_SIZE = 8 * 1024 * 1024  # S3's minimum part is 5 MiB; boto3's own default is 8 MiB
INCOMING = "incoming/"
_MISSING = {"404", "NoSuchKey", "NotFound"}
# "No room" as S3-compatible stores say it: MinIO's full drives (507) and bucket quota (400),
# Ceph RGW's and others' quota (403), and any 507 Insufficient Storage. (AWS S3 itself has no
# bucket quota; its EntityTooLarge is one object past a size limit, not a full store.)
_FULL = {
    "XMinioStorageFull",
    "XMinioAdminBucketQuotaExceeded",
    "QuotaExceeded",
    "InsufficientStorage",
}
T = TypeVar("T")


def _call(operation: Callable[[], T]) -> T:
    """Run one S3 call; connection failures, timeouts and 5xx answers -> StorageUnavailable,
    a store or bucket with no room -> StorageFull."""
    try:
        return operation()
    except ClientError as error:
        translated = _translated(error)
        if translated is error:
            raise
        raise translated from error
    except S3UploadFailedError as error:
        # upload_file's wrapper: the store's answer, when there was one, is its __context__.
        answer = error.__context__
        if isinstance(answer, ClientError) and isinstance(_translated(answer), StorageFull):
            raise _translated(answer) from error
        raise StorageUnavailable(str(error)) from error
    except BotoCoreError as error:  # no connection, timeout, reset
        raise StorageUnavailable(str(error)) from error


def _translated(error: ClientError) -> Exception:
    """What an error answer of the store means here (the ClientError itself otherwise)."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _MISSING:
        return FileNotFoundError(code)
    if code in _FULL or status == 507:
        return StorageFull(f"object store error {code or status}")
    if status >= 500 or code in {"SlowDown", "ServiceUnavailable", "RequestTimeout"}:
        return StorageUnavailable(f"object store error {code}")
    return error


class S3Pending(HashingWriter):
    """An upload in progress: a multipart upload fed in PART_SIZE parts, hashed on the way."""

    def __init__(self, client: Any, bucket: str) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self.key = f"{INCOMING}{uuid.uuid4().hex}"
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self.completed = False
        self.committed = False
        created = _call(lambda: client.create_multipart_upload(Bucket=bucket, Key=self.key))
        self._upload_id: str | None = created["UploadId"]

    def _write(self, data: bytes | memoryview) -> None:
        self._buffer += data
        if len(self._buffer) >= PART_SIZE:
            self._send_part()

    def _send_part(self) -> None:
        number = len(self._parts) + 1
        body = bytes(self._buffer)
        self._buffer.clear()
        answer = _call(
            lambda: self._client.upload_part(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,
            )
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def close(self) -> None:
        """Send the last part and complete the upload: the object exists under `key`."""
        if self.completed or self._upload_id is None:
            return
        if self._buffer or not self._parts:  # the last part may be small (or empty)
            self._send_part()
        _call(
            lambda: self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        )
        self.completed = True

    def abort(self) -> None:
        """Nothing of this upload stays: the multipart upload aborted or the object deleted.
        A no-op after commit. If the store is down, a bucket lifecycle rule cleans up."""
        if self.committed:
            return
        try:
            if self.completed:
                _call(lambda: self._client.delete_object(Bucket=self._bucket, Key=self.key))
            elif self._upload_id is not None:
                upload_id, self._upload_id = self._upload_id, None
                _call(
                    lambda: self._client.abort_multipart_upload(
                        Bucket=self._bucket, Key=self.key, UploadId=upload_id
                    )
                )
        except (StorageUnavailable, ClientError):
            logger.warning("Could not remove the aborted upload %s", self.key, exc_info=True)
        self.committed = True  # once is enough


class S3Storage:
    def __init__(self, client: Any, bucket: str, scratch_dir: Path | None = None) -> None:
        self.client = client
        self.bucket = bucket
        # Where `fetch` downloads (app/scratch.py: this process's folder); None: the temp dir.
        self.scratch_dir = scratch_dir
        # Managed transfers (download_file, copy) in 8 MiB parts on a few threads.
        self._transfer = TransferConfig(multipart_chunksize=PART_SIZE, max_concurrency=4)

    @classmethod
    def from_settings(cls, settings: "Settings") -> "S3Storage":
        secret = settings.s3_secret_access_key
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            # None: boto3's usual chain (AWS_* variables, a profile, an instance role).
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=Config(
                connect_timeout=settings.s3_timeout_seconds,
                read_timeout=settings.s3_timeout_seconds,
                retries={"max_attempts": 3, "mode": "standard"},
                # Path-style URLs (http://host/bucket/key) work with MinIO and moto too.
                s3={"addressing_style": settings.s3_addressing_style},
                # Presigned URLs (playback) in SigV4, which every region accepts; botocore
                # would presign in the deprecated SigV2 otherwise.
                signature_version="s3v4",
                max_pool_connections=50,
            ),
        )
        return cls(client, settings.s3_bucket or "", settings.scratch_dir)

    def writer(self) -> PendingObject:
        return S3Pending(self.client, self.bucket)

    def commit(self, pending: PendingObject, key: str) -> None:
        """Copy the finished upload to its key (server-side: no bytes pass through here)."""
        assert isinstance(pending, S3Pending)
        pending.close()
        source = {"Bucket": self.bucket, "Key": pending.key}
        _call(lambda: self.client.copy(source, self.bucket, key, Config=self._transfer))
        pending.committed = True
        try:
            _call(lambda: self.client.delete_object(Bucket=self.bucket, Key=pending.key))
        except StorageUnavailable:  # the copy is in place; the lifecycle rule removes this
            logger.warning("Could not remove %s after its copy", pending.key, exc_info=True)

    def put_file(self, source: Path, key: str) -> None:
        _call(lambda: self.client.upload_file(str(source), self.bucket, key, Config=self._transfer))

    @contextmanager
    def fetch(self, key: str) -> Iterator[Path]:
        """Download the object into a scratch directory; removed when the block ends."""
        folder = process_dir(self.scratch_dir) if self.scratch_dir else None
        scratch = Path(tempfile.mkdtemp(prefix="fetch-", dir=folder))
        try:
            path = scratch / Path(key).name
            _call(
                lambda: self.client.download_file(
                    self.bucket, key, str(path), Config=self._transfer
                )
            )
            yield path
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def open(self, key: str) -> tuple[BinaryIO, int]:
        answer = _call(lambda: self.client.get_object(Bucket=self.bucket, Key=key))
        return answer["Body"], answer["ContentLength"]

    def presign(self, key: str, *, expires_seconds: int, content_type: str) -> str:
        """A GET URL of the object that works without credentials for `expires_seconds`; the
        store serves it (HTTP Range included) with this Content-Type, private to the browser.
        Signed here, without a request to the store."""
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentType": content_type,
            "ResponseCacheControl": "private",
        }
        return _call(
            lambda: self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_seconds
            )
        )

    def local_path(self, key: str) -> None:
        return None

    def etag(self, key: str) -> str:
        """The store's own ETag of the object (quoted, as HTTP sends it)."""
        return _call(lambda: self.client.head_object(Bucket=self.bucket, Key=key))["ETag"]

    def exists(self, key: str) -> bool:
        try:
            _call(lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        _call(lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    def delete_video(self, video_id: int) -> None:
        """Every object under `videos/{id}/`, listed page by page, deleted 1000 at a time."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=video_prefix(video_id))
        for page in _call(lambda: list(pages)):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                _call(
                    lambda keys=keys: self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                    )
                )

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under a prefix (tests and operators: what is in the bucket)."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = _call(lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=prefix)))
        return [item["Key"] for page in pages for item in page.get("Contents", [])]
