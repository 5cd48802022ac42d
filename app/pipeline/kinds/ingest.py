"""The `ingest` job: make a new video usable (download a link, probe, thumbnail)."""

import time
from pathlib import Path
from typing import Any

from app import fetch
from app.pipeline import media
from app.pipeline.context import JobContext
from app.storage import SOURCE, THUMBNAIL, video_key

# Where in 0..1 each stage starts; a link's download fills the part before probing.
PROBING_AT = 0.6
THUMBNAIL_AT = 0.8
REPORT_EVERY_SECONDS = 0.25  # download progress reports (and cancel checks)


def ingest(ctx: JobContext) -> dict[str, Any]:
    """Download a link, probe the stored file and write its thumbnail; return the video's
    new fields."""
    video = ctx.video
    settings = ctx.settings
    if video.origin == "link" and not ctx.storage.exists(video_key(video.id, SOURCE)):
        download(ctx)
    ctx.checkpoint("probing", PROBING_AT)
    # The stored file itself on local storage; a copy in a scratch directory from a bucket.
    with (
        ctx.storage.fetch(video_key(video.id, SOURCE)) as source,
        ctx.scratch("thumbnail-") as scratch,
    ):
        metadata = media.probe(
            source,
            ctx.sandbox,
            max_seconds=settings.max_video_seconds,
            max_side=settings.max_video_side,
        )
        ctx.checkpoint("thumbnail", THUMBNAIL_AT)
        duration = metadata["duration_seconds"] or 0.0
        output = Path(scratch) / THUMBNAIL
        # A frame a little way in says more than the first one (often black).
        media.thumbnail(source, output, ctx.sandbox, at_seconds=min(duration * 0.1, 10.0))
        ctx.checkpoint("thumbnail", 0.95)
        ctx.store(output, video_key(video.id, THUMBNAIL))
    return {**metadata, "status": "ready", "has_thumbnail": True}


def download(ctx: JobContext) -> None:
    """Fetch the link through app/fetch.py (every address checked, the connection
    pinned) into a pending object: sniffed, hashed and capped on the way, moved into place
    only whole."""
    settings = ctx.settings
    pending = ctx.storage.writer()
    head = bytearray()
    last_report = 0.0

    def sink(chunk: bytes) -> None:
        if len(head) < media.SNIFF_BYTES:
            head.extend(chunk[: media.SNIFF_BYTES - len(head)])
            if len(head) >= media.SNIFF_BYTES:
                sniff(bytes(head))
        pending.write(chunk)

    def progress(received: int, total: int | None) -> None:
        nonlocal last_report
        if time.monotonic() - last_report < REPORT_EVERY_SECONDS:
            return
        last_report = time.monotonic()
        share = min(received / total, 1.0) if total else 0.0
        ctx.checkpoint("downloading", round(PROBING_AT * share, 3))

    try:
        ctx.checkpoint("downloading", 0.0)
        fetch.download(
            ctx.video.source_url or "",
            sink,
            max_bytes=settings.max_upload_bytes,
            allow_private=settings.link_allow_private,
            connect_timeout=settings.link_connect_timeout_seconds,
            read_timeout=settings.link_read_timeout_seconds,
            total_deadline=settings.link_download_timeout_seconds,
            on_progress=progress,
        )
        content_type = sniff(bytes(head))  # a file shorter than the sniff window
    except fetch.FetchError as error:
        pending.abort()
        raise media.MediaError(error.code, error.message) from None
    except BaseException:  # canceled, refused by the sniff, the worker stopping
        pending.abort()
        raise
    ctx.storage.commit(pending, video_key(ctx.video.id, SOURCE))
    ctx.update_video(size_bytes=pending.size, sha256=pending.sha256, content_type=content_type)


def sniff(head: bytes) -> str:
    content_type = media.sniff(head)
    if content_type is None:
        raise media.MediaError("unsupported_media", "The link is not a supported video file")
    return content_type
