"""The `extract_audio` job (paid): the video's audio as 16 kHz mono FLAC, the input of the
transcription phase. Priced by PRICE_EXTRACT_AUDIO_PER_MINUTE; downloaded from
GET /jobs/{id}/result."""

from pathlib import Path
from typing import Any

from app.pipeline import media
from app.pipeline.context import JobContext
from app.storage import SOURCE, video_key

RESULT = "audio.flac"
MEDIA_TYPE = "audio/flac"


def extract_audio(ctx: JobContext) -> dict[str, Any]:
    ctx.checkpoint("extracting", 0.1)
    # The stored file itself on local storage; a copy in a scratch directory from a bucket.
    with (
        ctx.storage.fetch(video_key(ctx.video.id, SOURCE)) as source,
        ctx.scratch("audio-") as scratch,
    ):
        output = Path(scratch) / RESULT
        media.extract_audio(source, output, ctx.sandbox)
        ctx.checkpoint("storing", 0.9)
        ctx.store_result(output, RESULT, MEDIA_TYPE)
    return {}  # the video itself does not change
