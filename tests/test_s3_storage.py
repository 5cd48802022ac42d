"""S3 storage (app/storage/s3.py) against moto's S3 server, and the whole upload -> ready flow with
the S3 backend and the Redis queue (redis-server, installed by `make test` when missing)."""

import hashlib
import io
import os
import signal
from pathlib import Path

import av
import pytest
from PIL import Image

from app.config import Settings
from app.storage import StorageUnavailable, make_storage
from app.storage.s3 import PART_SIZE, S3Storage
from tests.support import media
from tests.support.services import redis_server, s3_server
from tests.support.utils import bearer
from tests.support.videos import (
    assert_thumbnail_is_cached_by_its_etag,
    ingest_job,
    upload,
    user_token,
    wait_for,
    wait_until_settled,
)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture
def bucket(s3) -> str:
    return s3.new_bucket()


def s3_settings(s3, bucket: str, **overrides) -> dict:
    return {
        "storage_backend": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": s3.url,
        "s3_access_key_id": "testing",
        "s3_secret_access_key": "testing",
        **overrides,
    }


@pytest.fixture
def storage(s3, bucket) -> S3Storage:
    store = make_storage(Settings(_env_file=None, **s3_settings(s3, bucket)))
    assert isinstance(store, S3Storage)
    return store


def test_settings_need_a_bucket_for_s3():
    with pytest.raises(ValueError, match="S3_BUCKET is required"):
        Settings(_env_file=None, storage_backend="s3")


def test_a_large_object_streams_in_parts_and_appears_only_on_commit(s3, bucket, storage):
    data = os.urandom(PART_SIZE * 2 + 12345)
    pending = storage.writer()
    for start in range(0, len(data), 1024 * 1024):  # the upload's 1 MiB writes
        pending.write(memoryview(data)[start : start + 1024 * 1024])
        assert len(pending._buffer) < PART_SIZE  # never more than a part held in memory
    assert pending.size == len(data)
    assert pending.sha256 == hashlib.sha256(data).hexdigest()
    assert len(s3.open_multipart_uploads(bucket)) == 1
    assert s3.keys(bucket) == []  # nothing visible before it completes

    pending.close()
    storage.commit(pending, "videos/7/source")
    pending.abort()  # a no-op after commit, as the upload route calls it

    assert s3.keys(bucket) == ["videos/7/source"]  # the incoming copy is gone
    assert s3.open_multipart_uploads(bucket) == []
    body = s3.client().get_object(Bucket=bucket, Key="videos/7/source")["Body"].read()
    assert body == data
    with storage.fetch("videos/7/source") as path:
        assert path.read_bytes() == data
        scratch = path.parent
    assert not scratch.exists()  # the scratch copy is removed after use


def test_abort_leaves_no_upload_and_no_object(s3, bucket, storage):
    started = storage.writer()
    started.write(os.urandom(PART_SIZE + 1))  # one part sent
    started.abort()
    completed = storage.writer()
    completed.write(b"small")
    completed.close()  # completed under incoming/, then aborted before its commit
    assert s3.keys(bucket) == [completed.key]
    completed.abort()

    assert s3.keys(bucket) == []
    assert s3.open_multipart_uploads(bucket) == []


def test_open_put_delete_and_delete_video(s3, bucket, storage, tmp_path):
    thumbnail = tmp_path / "t.jpg"
    thumbnail.write_bytes(b"jpeg bytes")
    for key in ("videos/1/source", "videos/1/thumbnail.jpg", "videos/10/source"):
        storage.put_file(thumbnail, key)

    stream, size = storage.open("videos/1/thumbnail.jpg")
    assert (stream.read(), size) == (b"jpeg bytes", 10)
    assert storage.exists("videos/1/source") and not storage.exists("videos/2/source")
    with pytest.raises(FileNotFoundError):
        storage.open("videos/2/thumbnail.jpg")

    storage.delete_video(1)  # the prefix is videos/1/, so videos/10/ stays
    assert s3.keys(bucket) == ["videos/10/source"]
    storage.delete("videos/10/source")
    assert s3.keys(bucket) == []


def test_etag_is_the_objects_and_changes_with_its_bytes(storage, tmp_path):
    path = tmp_path / "t.jpg"
    path.write_bytes(b"jpeg bytes")
    storage.put_file(path, "videos/1/thumbnail.jpg")
    first = storage.etag("videos/1/thumbnail.jpg")
    assert first == f'"{hashlib.md5(b"jpeg bytes").hexdigest()}"'  # a single PUT's: its MD5

    path.write_bytes(b"other jpeg bytes")
    storage.put_file(path, "videos/1/thumbnail.jpg")
    assert storage.etag("videos/1/thumbnail.jpg") not in (first, "")
    with pytest.raises(FileNotFoundError):
        storage.etag("videos/2/thumbnail.jpg")


def test_a_store_that_does_not_answer_raises_storage_unavailable(bucket):
    port_nobody_listens_on = 9  # discard: refused at once on loopback
    settings = {
        "storage_backend": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": f"http://127.0.0.1:{port_nobody_listens_on}",
        "s3_access_key_id": "x",
        "s3_secret_access_key": "x",
        "s3_timeout_seconds": 1,
    }
    storage = make_storage(Settings(_env_file=None, **settings))
    with pytest.raises(StorageUnavailable):
        storage.writer()
    with pytest.raises(StorageUnavailable):
        storage.exists("videos/1/source")


def test_upload_to_ready_with_s3_storage_and_the_redis_queue(
    s3, bucket, make_video_client, tmp_path
):
    with redis_server(tmp_path / "redis") as redis:
        client = make_video_client(**s3_settings(s3, bucket), queue_url=redis.url)
        token = user_token(client)
        source = media.mp4(tmp_path / "clip.mp4")

        created = upload(client, token, source, "clip.mp4")
        assert created.status_code == 201, created.text
        video = wait_until_settled(client, token, created.json()["id"], timeout=60)

        assert video["status"] == "ready", video
        assert (video["width"], video["height"], video["video_codec"]) == (320, 240, "h264")
        assert video["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        assert ingest_job(client, token, video["id"])["attempts"] == 1
        vid = video["id"]
        assert s3.keys(bucket) == [f"videos/{vid}/source", f"videos/{vid}/thumbnail.jpg"]
        assert not (tmp_path / "media" / "videos").exists()  # nothing on the local disk

        thumbnail = client.get(video["thumbnail_url"], headers=bearer(token))
        assert thumbnail.status_code == 200
        assert thumbnail.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(thumbnail.content)).size == (320, 240)
        # The bucket's own ETag of the object, and a 304 for it.
        stored = s3.client().head_object(Bucket=bucket, Key=f"videos/{vid}/thumbnail.jpg")
        assert thumbnail.headers["etag"] == stored["ETag"]
        assert_thumbnail_is_cached_by_its_etag(client, token, video)

        assert client.delete(f"/videos/{vid}", headers=bearer(token)).status_code == 204
        assert s3.keys(bucket) == []


def test_store_down_upload_is_503_and_nothing_is_kept_then_works_again(
    s3, bucket, make_video_client, tmp_path
):
    """The store goes away (SIGSTOP: connections hang, as a dead host would) and comes back."""
    client = make_video_client(**s3_settings(s3, bucket, s3_timeout_seconds=1))
    token = user_token(client)
    source = media.mp4(tmp_path / "clip.mp4")
    os.kill(s3.process.pid, signal.SIGSTOP)
    try:
        refused = upload(client, token, source)
        listed = client.get("/videos", headers=bearer(token)).json()["data"]
    finally:
        os.kill(s3.process.pid, signal.SIGCONT)

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "10"
    assert refused.headers["connection"] == "close"
    assert refused.json() == {"detail": "The object store is unavailable; try again later"}
    assert listed == []  # no row
    assert s3.keys(bucket) == []  # no object
    # Requests that hung reach the store when it wakes up and may open multipart uploads no
    # one completes: invisible, and removed by the bucket's AbortIncompleteMultipartUpload rule
    # (docs/deployment.md).
    assert all(key.startswith("incoming/") for key in s3.open_multipart_uploads(bucket))

    retried = upload(client, token, source)
    assert retried.status_code == 201
    assert wait_until_settled(client, token, retried.json()["id"], timeout=60)["status"] == "ready"


def test_local_storage_fetch_gives_the_stored_file_itself(tmp_path: Path):
    storage = make_storage(Settings(_env_file=None, media_root=tmp_path))
    pending = storage.writer()
    pending.write(b"bytes")
    storage.commit(pending, "videos/3/source")
    with storage.fetch("videos/3/source") as path:
        assert path == tmp_path.resolve() / "videos/3/source"
    assert path.read_bytes() == b"bytes"  # not removed: it is the stored file
    stream, size = storage.open("videos/3/source")
    with stream:
        assert (stream.read(), size) == (b"bytes", 5)


def test_a_worker_that_cannot_reach_the_store_gives_the_job_back_without_an_attempt(
    make_video_client, tmp_path
):
    """The first fetch fails as a store that is down would; the job waits in `queued` (no
    attempt used) and the reaper sends it again after the lease."""
    client = make_video_client(job_lease_seconds=1)
    worker = client.app.state.worker
    real_fetch = worker.storage.fetch
    calls = []

    def fetch_failing_once(key):
        calls.append(key)
        if len(calls) == 1:
            raise StorageUnavailable("the store is down")
        return real_fetch(key)

    worker.storage.fetch = fetch_failing_once
    token = user_token(client)
    created = upload(client, token, media.mp4(tmp_path / "clip.mp4")).json()

    video = wait_until_settled(client, token, created["id"], timeout=30)

    assert video["status"] == "ready"
    assert len(calls) == 2
    assert ingest_job(client, token, created["id"])["attempts"] == 1  # the failed try is not one


def test_extract_audio_with_s3_storage_keeps_its_flac_in_the_bucket(
    s3, bucket, make_video_client, tmp_path
):
    client = make_video_client(**s3_settings(s3, bucket), default_credits=1)
    token = user_token(client)
    created = upload(client, token, media.mp4(tmp_path / "clip.mp4")).json()
    assert wait_until_settled(client, token, created["id"], timeout=60)["status"] == "ready"

    job = client.post(
        f"/videos/{created['id']}/jobs", json={"kind": "extract_audio"}, headers=bearer(token)
    ).json()
    job = wait_for(client, token, f"/jobs/{job['id']}", lambda j: j["status"] == "succeeded")

    key = f"videos/{created['id']}/jobs/{job['id']}/audio.flac"
    assert key in s3.keys(bucket)
    result = client.get(job["result_url"], headers=bearer(token))
    assert result.status_code == 200 and result.headers["content-type"] == "audio/flac"
    with av.open(io.BytesIO(result.content)) as flac:
        assert (flac.streams.audio[0].rate, flac.streams.audio[0].channels) == (16000, 1)
    assert client.delete(f"/videos/{created['id']}", headers=bearer(token)).status_code == 204
    assert s3.keys(bucket) == []
