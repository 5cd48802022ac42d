"""The `ingest` job: make a new video usable (download a link, probe, thumbnail)."""

import tempfile
from pathlib import Path
from typing import Any

from app import media
from app.storage import SOURCE, THUMBNAIL, video_key
from app.worker import JobContext

# Where in 0..1 each stage starts; a link's download fills the part before probing.
PROBING_AT = 0.6
THUMBNAIL_AT = 0.8


def ingest(ctx: JobContext) -> dict[str, Any]:
    """Probe the stored file and write its thumbnail; return the video's new fields."""
    video = ctx.video
    settings = ctx.settings
    ctx.checkpoint("probing", PROBING_AT)
    source = ctx.storage.local_path(video_key(video.id, SOURCE))
    metadata = media.probe(
        source,
        ctx.sandbox,
        max_seconds=settings.max_video_seconds,
        max_side=settings.max_video_side,
    )
    ctx.checkpoint("thumbnail", THUMBNAIL_AT)
    duration = metadata["duration_seconds"] or 0.0
    with tempfile.TemporaryDirectory(prefix="thumbnail-") as scratch:
        output = Path(scratch) / THUMBNAIL
        # A frame a little way in says more than the first one (often black).
        media.thumbnail(source, output, ctx.sandbox, at_seconds=min(duration * 0.1, 10.0))
        ctx.checkpoint("thumbnail", 0.95)
        ctx.store(output, video_key(video.id, THUMBNAIL))
    return {**metadata, "status": "ready", "has_thumbnail": True}
