"""The `summarize` job (paid): what a video is about, from its newest transcript, by any
OpenAI-compatible chat model (app/ai/openai_summarize.py: structured output, validated, long
transcripts summarised in parts, the transcript passed as data, never as instructions).

The Summary row and one `ai_usage_logs` row per chat call are written in the transaction that
marks the job succeeded; the same Summary, as JSON, is the job's result file. Priced by
PRICE_SUMMARIZE_PER_MINUTE; refused at the request (409) for a video without a transcript.
"""

from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from app.ai.types import ProviderError
from app.models import AIUsageLog, SummarizeOptions, Summary, SummaryRead, Transcript, utc_now
from app.pipeline.context import JobContext

RESULT = "summary.json"
MEDIA_TYPE = "application/json"
SUMMARIZING_AT = 0.05
STORING_AT = 0.96


def summarize(ctx: JobContext) -> dict[str, Any]:
    options = SummarizeOptions.model_validate(ctx.job.options or {})
    ctx.checkpoint("reading", 0.02)
    with Session(ctx.engine) as session:
        transcript = session.exec(
            select(Transcript)
            .where(Transcript.video_id == ctx.video.id)
            .order_by(col(Transcript.job_id).desc())
        ).first()
    if transcript is None:  # checked at the request; gone since only with its video
        raise ProviderError("no_audio", "The video has no transcript to summarize")
    ctx.checkpoint("summarizing", SUMMARIZING_AT)
    result = ctx.ai.summarizer().summarize(
        transcript.segments,
        language=options.language,
        transcript_language=transcript.language,
        duration=transcript.duration_seconds,
        on_progress=ctx.reporter("summarizing", SUMMARIZING_AT, STORING_AT),
    )
    ctx.checkpoint("storing", STORING_AT)
    summary = Summary(
        video_id=ctx.video.id,
        job_id=ctx.job.id,
        user_id=ctx.job.user_id,
        language=result.language,
        summary=result.summary,
        chapters=[asdict(chapter) for chapter in result.chapters],
        keywords=result.keywords,
        provider=result.provider,
        model=result.model,
        created_at=utc_now(),
    )
    with ctx.scratch("summarize-") as scratch:
        output = Path(scratch) / RESULT
        output.write_text(SummaryRead.model_validate(summary).model_dump_json())
        ctx.store_result(output, RESULT, MEDIA_TYPE)
    usage = [
        AIUsageLog(user_id=ctx.job.user_id, job_id=ctx.job.id, **asdict(call))
        for call in result.usage
    ]

    def write(session: Session) -> None:
        session.add(summary)
        session.add_all(usage)

    ctx.on_success.append(write)
    return {}
