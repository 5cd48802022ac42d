"""The job-kind registry: every kind of job, in one table.

A row names the kind, the function that does the work, what it is (for the OpenAPI document
and GET /job-kinds), the media type of the file it produces, and the setting that prices it
(credits per started minute of video). A kind with no price setting is not for sale: only the
system starts it (`ingest`). Adding a kind is: one module here with its function, one row
below, one `PRICE_<KIND>_PER_MINUTE` setting in app/config.py, its tests, and its paragraph in
the phase document (docs/phase-2-videos.md#adding-a-job-kind; tests/test_job_kinds.py checks
that the registry, the settings, the tests and the docs agree).

A kind's function takes a JobContext and returns the video's new fields ({} for kinds that
leave the video as it is). It may import `app.pipeline.context`, `media`, `fetch`,
`app.storage`, `app.models` and `app.ai`; never this registry or the worker.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlmodel import SQLModel

from app.ai import factory
from app.config import Settings
from app.models import JobKindRead, NoOptions, SummarizeOptions, TranscribeOptions
from app.pipeline.context import JobContext
from app.pipeline.kinds.extract_audio import extract_audio
from app.pipeline.kinds.ingest import ingest
from app.pipeline.kinds.summarize import summarize
from app.pipeline.kinds.transcribe import transcribe

JobFunction = Callable[[JobContext], dict[str, Any]]


def _always_available(settings: Settings) -> str | None:
    return None


def _no_provider(settings: Settings) -> tuple[str, str] | None:
    return None


def _any_language(settings: Settings) -> frozenset[str] | None:
    return None


def _transcriber(settings: Settings) -> tuple[str, str] | None:
    transcriber = factory.make_transcriber(settings)  # cheap: no model is loaded here
    return transcriber.provider, transcriber.model


def _summarizer(settings: Settings) -> tuple[str, str] | None:
    summarizer = factory.make_summarizer(settings)
    return (
        (summarizer.provider, summarizer.model)
        if summarizer
        else ("openai", settings.openai_summary_model)
    )


def _transcriber_languages(settings: Settings) -> frozenset[str] | None:
    return factory.make_transcriber(settings).languages()


@dataclass(frozen=True)
class JobKind:
    name: str
    run: JobFunction
    description: str
    result_type: str | None = None  # the media type of GET /jobs/{id}/result
    price_setting: str | None = None  # the Settings field: credits per started minute
    options: type[SQLModel] = NoOptions  # what POST /videos/{id}/jobs takes as `options`
    needs_audio: bool = False  # refused (409) at the request for a video without sound
    needs_transcript: bool = False  # refused (409) at the request before a transcript
    # Why it cannot be bought now (the 503's detail, naming the setting to set), or None.
    unavailable: Callable[[Settings], str | None] = _always_available
    provider: Callable[[Settings], tuple[str, str] | None] = _no_provider  # (provider, model)
    languages: Callable[[Settings], frozenset[str] | None] = _any_language

    @property
    def for_sale(self) -> bool:
        return self.price_setting is not None

    def price_per_minute(self, settings: Settings) -> int:
        assert self.price_setting is not None, f"{self.name} is not for sale"
        return getattr(settings, self.price_setting)


KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        JobKind(
            name="ingest",
            run=ingest,
            description="Make a new video usable: download a link, probe it, make a thumbnail",
        ),
        JobKind(
            name="extract_audio",
            run=extract_audio,
            description="The audio as 16 kHz mono FLAC",
            result_type="audio/flac",
            price_setting="price_extract_audio_per_minute",
            needs_audio=True,
        ),
        JobKind(
            name="transcribe",
            run=transcribe,
            description="Speech to text with segment and word times; captions (WebVTT, SRT)",
            result_type="application/json",
            price_setting="price_transcribe_per_minute",
            options=TranscribeOptions,
            needs_audio=True,
            unavailable=factory.transcriber_unavailable,
            provider=_transcriber,
            languages=_transcriber_languages,
        ),
        JobKind(
            name="summarize",
            run=summarize,
            description="A summary, chapters and keywords, from the video's transcript",
            result_type="application/json",
            price_setting="price_summarize_per_minute",
            options=SummarizeOptions,
            needs_transcript=True,
            unavailable=factory.summarizer_unavailable,
            provider=_summarizer,
        ),
    )
}


def describe(kind: JobKind, settings: Settings) -> JobKindRead:
    """A kind for sale as GET /job-kinds shows it."""
    provider, model = kind.provider(settings) or (None, None)
    languages = kind.languages(settings)
    return JobKindRead(
        kind=kind.name,
        description=kind.description,
        price_per_minute=kind.price_per_minute(settings),
        available=kind.unavailable(settings) is None,
        provider=provider,
        model=model,
        languages=sorted(languages) if languages is not None else None,
    )


def for_sale() -> dict[str, JobKind]:
    """The kinds a user may buy with POST /videos/{id}/jobs."""
    return {name: kind for name, kind in KINDS.items() if kind.for_sale}


class Refused(Exception):
    """A kind that cannot be bought for this video now: the HTTP status and its detail."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class InvalidOptions(Exception):
    """The request's kind or options are wrong: FastAPI-shaped validation errors (422)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid options")
        self.errors = errors


def order(
    name: str,
    options: dict[str, Any] | None,
    *,
    has_audio: bool | None,
    transcribed: bool,
    settings: Settings,
) -> tuple[JobKind, dict[str, Any] | None]:
    """The kind a user asks to buy, and its options as they will be stored; InvalidOptions
    (422) for an unknown kind, unknown or bad options or a language the model lacks, Refused
    for a provider that is not configured (503), a video without sound or without a
    transcript (409)."""
    kinds = for_sale()
    if name not in kinds:
        choices = ", ".join(f"'{kind}'" for kind in sorted(kinds))
        raise InvalidOptions(
            [{"type": "enum", "loc": ("body", "kind"), "msg": f"Input should be {choices}"}]
        )
    kind = kinds[name]
    try:
        parsed = kind.options.model_validate(options or {})
    except ValidationError as error:
        raise InvalidOptions(
            [
                {"type": e["type"], "loc": ("body", "options", *e["loc"]), "msg": e["msg"]}
                for e in error.errors()
            ]
        ) from None
    if reason := kind.unavailable(settings):
        raise Refused(503, reason)
    language = getattr(parsed, "language", None)
    languages = kind.languages(settings)
    if language is not None and languages is not None and language not in languages:
        codes = ", ".join(f"'{code}'" for code in sorted(languages))
        _, model = kind.provider(settings) or ("", "?")
        message = f"The model {model} transcribes {codes} only"
        raise InvalidOptions(
            [{"type": "enum", "loc": ("body", "options", "language"), "msg": message}]
        )
    if kind.needs_audio and has_audio is False:
        raise Refused(409, "Video has no audio")
    if kind.needs_transcript and not transcribed:
        raise Refused(409, "Transcribe the video first")
    stored = parsed.model_dump(exclude_unset=False)
    return kind, (stored or None)
