"""The `transcribe` job (paid): the video's speech as text with segment and word times.

Audio out of the video (the sandboxed child, as extract_audio), speech to text by the provider
the settings name (app/ai: local Whisper by default, or an OpenAI-compatible server), then the
Transcript row, its search index rows (app/search.py) and the job's provider-usage rows,
written in the transaction that marks the job succeeded: a canceled, failed or repeated run
leaves none of them. The same Transcript, as JSON, is the job's result file
(GET /jobs/{id}/result); GET /videos/{id}/transcript and the captions read the row. Priced by
PRICE_TRANSCRIBE_PER_MINUTE.
"""

from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlmodel import Session

from app import search
from app.ai.types import Transcription
from app.models import AIUsageLog, TranscribeOptions, Transcript, TranscriptRead, utc_now
from app.pipeline import media
from app.pipeline.context import JobContext
from app.pipeline.media import MediaError
from app.storage import SOURCE, video_key

RESULT = "transcript.json"
MEDIA_TYPE = "application/json"
# Where in 0..1 each stage starts; transcribing fills most of it, by audio time.
TRANSCRIBING_AT = 0.1
STORING_AT = 0.96
# The loudest sample of audio that is digital silence (of 1.0 full scale): nothing to transcribe.
SILENCE_PEAK = 0.001


def transcribe(ctx: JobContext) -> dict[str, Any]:
    options = TranscribeOptions.model_validate(ctx.job.options or {})
    ctx.checkpoint("extracting", 0.02)
    with (
        ctx.storage.fetch(video_key(ctx.video.id, SOURCE)) as source,
        ctx.scratch("transcribe-") as scratch,
    ):
        audio = Path(scratch) / "audio.flac"
        duration = _extract(source, audio, ctx)
        ctx.checkpoint("transcribing", TRANSCRIBING_AT)
        report = ctx.reporter("transcribing", TRANSCRIBING_AT, STORING_AT)

        def by_audio_time(seconds: float) -> None:
            report(seconds / duration if duration > 0 else 0.0)

        result = ctx.ai.transcriber().transcribe(
            audio, language=options.language, duration=duration, on_progress=by_audio_time
        )
        ctx.checkpoint("storing", STORING_AT)
        transcript = _transcript(ctx, result)
        output = Path(scratch) / RESULT
        output.write_text(TranscriptRead.model_validate(transcript).model_dump_json())
        ctx.store_result(output, RESULT, MEDIA_TYPE)
    usage = [
        AIUsageLog(user_id=ctx.job.user_id, job_id=ctx.job.id, **asdict(call))
        for call in result.usage
    ]

    def write(session: Session) -> None:
        session.add(transcript)
        session.flush()  # its id, for the search index's rows
        search.index_transcript(session, transcript)
        session.add_all(usage)

    ctx.on_success.append(write)
    return {}  # the video itself does not change


def _extract(source: Path, audio: Path, ctx: JobContext) -> float:
    """The video's sound as 16 kHz mono FLAC: its length in seconds; `no_audio` if there is
    nothing to transcribe (no audio track, no samples, digital silence)."""
    try:
        sound = media.extract_audio(source, audio, ctx.sandbox)
    except MediaError as error:
        if error.code == "no_audio_stream":
            raise MediaError("no_audio", error.message) from None
        raise
    if sound["peak"] < SILENCE_PEAK:
        raise MediaError("no_audio", "The audio track is silent")
    return sound["duration_seconds"]


def _transcript(ctx: JobContext, result: Transcription) -> Transcript:
    return Transcript(
        video_id=ctx.video.id,
        job_id=ctx.job.id,
        user_id=ctx.job.user_id,
        language=result.language,
        duration_seconds=result.duration_seconds,
        text=result.text,
        provider=result.provider,
        model=result.model,
        segments=[asdict(segment) for segment in result.segments],
        created_at=utc_now(),
    )
