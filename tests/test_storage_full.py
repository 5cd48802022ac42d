"""Out of space is an operational condition, not a bug (issue 25): an upload answers 507 with one
log line and keeps nothing; a job that finds no room for what it writes (thumbnail, audio,
transcript) fails `storage_full` and is refunded. On a real 20 MB tmpfs (mounted by the test as
root; skipped where mounting is impossible), with an injected ENOSPC, and with the "no room"
answers S3-compatible stores send (MinIO's, Ceph's), parsed by botocore from a real HTTP answer.
"""

import errno
import io
import logging
import os
import subprocess
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from sqlmodel import Session

from app.models import ProcessingJob, VideoSource
from app.storage import FULL_MESSAGE, StorageFull, StorageUnavailable
from app.storage.s3 import _call
from tests.support import media
from tests.support.credits import balance, history, ready_video, start_job, wait_for_job
from tests.support.openai_server import openai_server
from tests.support.services import s3_server
from tests.support.utils import bearer
from tests.support.videos import (
    ingest_job,
    stored_files,
    upload,
    user_token,
    wait_until_settled,
)

FULL = {"detail": FULL_MESSAGE}
OPENAI_KEY = "sk-test-storage-full"


def problems(caplog) -> list[logging.LogRecord]:
    """Warnings and errors, but the start-up notice of a clone whose web app is not built
    (make test needs no Node.js, so frontend/dist may well be missing)."""
    return [
        record
        for record in caplog.records
        if record.levelno >= logging.WARNING and not record.getMessage().startswith(NOT_BUILT)
    ]


NOT_BUILT = "The web app is not built"


def assert_one_line_without_traceback(caplog, text: str) -> None:
    [record] = problems(caplog)
    assert text in record.getMessage()
    assert record.exc_info is None and "Traceback" not in caplog.text


def big_video(path: Path, size: int) -> Path:
    """A real MP4's bytes (so the upload's sniff lets it in), padded to `size` bytes."""
    clip = media.mp4(path.with_name("head.mp4")).read_bytes()
    path.write_bytes(clip + bytes(size - len(clip)))
    return path


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 20 MB tmpfs; skipped where it cannot be mounted (not root, no CAP_SYS_ADMIN)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], capture_output=True
        )
    except FileNotFoundError:
        pytest.skip("no mount command")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk refuses another byte; that file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, bytes(chunk))
            except OSError as error:
                assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


# ---- the upload


def test_an_upload_that_hits_enospc_is_507_logged_once_and_keeps_nothing(
    video_client, tmp_path, monkeypatch, caplog
):
    """ENOSPC injected into the upload's file after its first megabyte."""
    token = user_token(video_client)
    source = big_video(tmp_path / "big.mp4", 3 << 20)
    real_fdopen = os.fdopen

    class FillingFile(io.RawIOBase):
        def __init__(self, file):
            self.file, self.written = file, 0

        def write(self, data) -> int:
            if self.written + len(data) > 1 << 20:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return self.file.write(data)

        def close(self) -> None:
            self.file.close()
            super().close()

    monkeypatch.setattr("app.storage.local.os.fdopen", lambda *a: FillingFile(real_fdopen(*a)))
    with caplog.at_level(logging.INFO):
        refused = upload(video_client, token, source)

    assert refused.status_code == 507
    assert refused.json() == FULL
    assert refused.headers["connection"] == "close"
    assert_one_line_without_traceback(caplog, "Storage full on POST /videos/upload")
    media_root = video_client.app.state.settings.media_root.resolve()
    assert stored_files(media_root) == []  # not even the partial upload
    assert video_client.get("/videos", headers=bearer(token)).json()["data"] == []

    monkeypatch.undo()
    again = upload(video_client, token, media.mp4(tmp_path / "small.mp4"))
    assert again.status_code == 201
    assert wait_until_settled(video_client, token, again.json()["id"])["status"] == "ready"


def test_on_a_full_20_mb_disk_a_30_mb_upload_is_507_and_a_small_one_then_works(
    small_disk, make_video_client, tmp_path, caplog
):
    client = make_video_client(media_root=small_disk)
    token = user_token(client)

    with caplog.at_level(logging.INFO):
        refused = upload(client, token, big_video(tmp_path / "big.mp4", 30 << 20))

    assert (refused.status_code, refused.json()) == (507, FULL)
    assert_one_line_without_traceback(caplog, "Storage full on POST /videos/upload")
    assert stored_files(small_disk) == []
    assert client.get("/videos", headers=bearer(token)).json()["data"] == []

    created = upload(client, token, media.mp4(tmp_path / "small.mp4"))
    assert created.status_code == 201
    video = wait_until_settled(client, token, created.json()["id"])
    assert video["status"] == "ready"
    vid = video["id"]
    assert stored_files(small_disk) == [f"videos/{vid}/source", f"videos/{vid}/thumbnail.jpg"]


# ---- jobs


def test_an_ingest_with_no_room_for_its_thumbnail_fails_storage_full(
    small_disk, make_video_client, tmp_path, caplog
):
    client = make_video_client(media_root=small_disk, embedded_worker=False)
    token = user_token(client)
    created = upload(client, token, media.mp4(tmp_path / "clip.mp4")).json()
    fill(small_disk)

    with caplog.at_level(logging.INFO):
        client.app.state.worker.run_job(created["ingest_job_id"])

    job = ingest_job(client, token, created["id"])
    video = client.get(f"/videos/{created['id']}", headers=bearer(token)).json()
    assert (job["status"], job["error"]) == (
        "failed",
        {"code": "storage_full", "message": FULL_MESSAGE},
    )
    assert job["attempts"] == 1  # not tried again: no room is no room
    assert (video["status"], video["error"]["code"], video["thumbnail_url"]) == (
        "failed",
        "storage_full",
        None,
    )
    assert_one_line_without_traceback(caplog, f"Job {job['id']} (ingest) failed: storage full")
    # Only what was there: no thumbnail, no half-copied one.
    assert stored_files(small_disk) == ["filler", f"videos/{created['id']}/source"]


def test_paid_jobs_with_no_room_for_their_result_fail_storage_full_and_are_refunded(
    small_disk, make_video_client, tmp_path, caplog
):
    """The audio (extract_audio) and the transcript (transcribe, through an OpenAI-compatible
    server of our own) find the disk full; after room is made, the same purchase works."""
    with openai_server(api_key=OPENAI_KEY) as server:
        client = make_video_client(
            media_root=small_disk,
            default_credits=10,
            transcribe_provider="openai",
            openai_base_url=server.base_url,
            openai_api_key=OPENAI_KEY,
        )
        token = user_token(client)
        video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
        before = stored_files(small_disk)
        filler = fill(small_disk)

        with caplog.at_level(logging.INFO):
            audio = wait_for_job(client, token, start_job(client, token, video["id"]).json()["id"])
            text = wait_for_job(
                client, token, start_job(client, token, video["id"], kind="transcribe").json()["id"]
            )

        for job in (audio, text):
            assert (job["status"], job["error"]) == (
                "failed",
                {"code": "storage_full", "message": FULL_MESSAGE},
            ), job
            assert job["result_url"] is None and job["attempts"] == 1
        assert len(problems(caplog)) == 2 and all(r.exc_info is None for r in problems(caplog))
        assert balance(client, token) == 10
        assert [(kind, job_id) for kind, _, _, job_id in history(client, token)] == [
            ("refund", text["id"]),
            ("charge", text["id"]),
            ("refund", audio["id"]),
            ("charge", audio["id"]),
            ("grant", None),
        ]
        assert stored_files(small_disk) == sorted([*before, "filler"])
        assert (
            client.get(f"/videos/{video['id']}/transcript", headers=bearer(token)).status_code
            == 404
        )
        # The video itself is untouched, and a full disk also refuses a small upload.
        assert (
            client.get(f"/videos/{video['id']}", headers=bearer(token)).json()["status"] == "ready"
        )
        refused = upload(client, token, media.mp4(tmp_path / "more.mp4"))
        assert (refused.status_code, refused.json()) == (507, FULL)

        filler.unlink()
        retried = wait_for_job(client, token, start_job(client, token, video["id"]).json()["id"])
        assert retried["status"] == "succeeded"


# ---- S3: the store's own "no room" answers


def s3_error(code: str, status: int) -> ClientError:
    body = {
        "Error": {"Code": code, "Message": "..."},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(body, "PutObject")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("XMinioStorageFull", 507),  # MinIO: its drives are past the free-space threshold
        ("XMinioAdminBucketQuotaExceeded", 400),  # MinIO: the bucket's hard quota
        ("QuotaExceeded", 403),  # Ceph RGW and others: a user's or bucket's quota
        ("InsufficientStorage", 507),
        ("SomethingElse", 507),  # any 507 Insufficient Storage
    ],
)
def test_s3_no_room_answers_are_storage_full(code, status):
    def refused():
        raise s3_error(code, status)

    with pytest.raises(StorageFull):
        _call(refused)


@pytest.mark.parametrize(
    ("code", "status", "raised"),
    [
        ("AccessDenied", 403, ClientError),
        ("EntityTooLarge", 400, ClientError),  # one object too large: not a full store
        ("InternalError", 500, StorageUnavailable),
        ("NoSuchKey", 404, FileNotFoundError),
    ],
)
def test_other_s3_answers_keep_their_meaning(code, status, raised):
    def refused():
        raise s3_error(code, status)

    with pytest.raises(raised):
        _call(refused)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


def s3_settings(s3, bucket: str) -> dict:
    return {
        "storage_backend": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": s3.url,
        "s3_access_key_id": "testing",
        "s3_secret_access_key": "testing",
    }


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_kwargs):
        yield self.body


def refuse(client, operation: str, code: str, status: int) -> None:
    """Make the app's S3 client get this error answer, as XML, for every `operation` request:
    what MinIO or Ceph would send, parsed by botocore as theirs would be."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>No room</Message><RequestId>1</RequestId><HostId>x</HostId></Error>"
    ).encode()

    def answer(request, **_kwargs):
        headers = {"Content-Type": "application/xml", "Content-Length": str(len(body))}
        return AWSResponse(request.url, status, headers, _Raw(body))

    client.meta.events.register(f"before-send.s3.{operation}", answer, unique_id="full")


def allow(client, operation: str) -> None:
    client.meta.events.unregister(f"before-send.s3.{operation}", unique_id="full")


def test_s3_a_full_store_refuses_the_upload_with_507_and_keeps_nothing(
    s3, make_video_client, tmp_path, caplog
):
    bucket = s3.new_bucket()
    client = make_video_client(**s3_settings(s3, bucket))
    token = user_token(client)
    s3_client = client.app.state.storage.client
    refuse(s3_client, "UploadPart", "XMinioStorageFull", 507)

    with caplog.at_level(logging.INFO):
        refused = upload(client, token, media.mp4(tmp_path / "clip.mp4"))

    assert (refused.status_code, refused.json()) == (507, FULL)
    assert_one_line_without_traceback(caplog, "Storage full on POST /videos/upload")
    assert s3.keys(bucket) == [] and s3.open_multipart_uploads(bucket) == []
    assert client.get("/videos", headers=bearer(token)).json()["data"] == []

    allow(s3_client, "UploadPart")
    created = upload(client, token, media.mp4(tmp_path / "clip.mp4"))
    assert created.status_code == 201
    assert wait_until_settled(client, token, created.json()["id"], timeout=60)["status"] == "ready"


def test_s3_a_bucket_over_quota_fails_the_ingest_storage_full(s3, make_video_client, tmp_path):
    """The thumbnail's upload (a PutObject through upload_file) answered with Ceph's 403."""
    bucket = s3.new_bucket()
    client = make_video_client(**s3_settings(s3, bucket))
    token = user_token(client)
    refuse(client.app.state.storage.client, "PutObject", "QuotaExceeded", 403)

    created = upload(client, token, media.mp4(tmp_path / "clip.mp4")).json()
    video = wait_until_settled(client, token, created["id"], timeout=60)

    assert (video["status"], video["error"]) == (
        "failed",
        {"code": "storage_full", "message": FULL_MESSAGE},
    )
    job = client.get(f"/jobs/{created['ingest_job_id']}", headers=bearer(token)).json()
    assert (job["status"], job["error"]["code"], job["attempts"]) == ("failed", "storage_full", 1)
    assert s3.keys(bucket) == [f"videos/{created['id']}/source"]  # no thumbnail
    with Session(client.app.state.engine) as session:
        assert session.get(VideoSource, created["id"]).has_thumbnail is False
        assert session.get(ProcessingJob, job["id"]).error_code == "storage_full"
