"""What every provider returns (speech to text, summaries), and the one error it raises.

Times are seconds from the start of the audio the provider was given; the caller offsets them
onto the video's timeline where it sent a piece of it. A summary's chapter times are on the
video's timeline (the transcript's).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

ProviderErrorCode = Literal[
    "provider_unavailable", "provider_rejected", "provider_timeout", "no_audio"
]


class ProviderError(Exception):
    """A provider call that ended the job: `code` is one of the contract's error codes.

    The message is for the job's user: it never holds an API key or a provider's raw body."""

    def __init__(self, code: ProviderErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float | None = None


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] | None = None


@dataclass
class Usage:
    """One provider call that did work: one `ai_usage_logs` row."""

    provider: str
    model: str
    tokens_input: int = 0
    tokens_output: int = 0
    audio_seconds: float | None = None  # measured by us from the audio sent, never the provider's


@dataclass
class Transcription:
    language: str  # ISO 639-1
    duration_seconds: float
    segments: list[Segment]
    provider: str
    model: str
    usage: list[Usage] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(segment.text.strip() for segment in self.segments if segment.text.strip())


# Called with the seconds of audio done so far. It may raise (the job was canceled, the worker
# stops): the provider lets the exception through and leaves nothing running behind it.
Progress = Callable[[float], None]


class Transcriber(Protocol):
    provider: str  # "local" or "openai"
    model: str

    def languages(self) -> frozenset[str] | None:
        """The ISO 639-1 codes the model can transcribe; None when it takes any."""
        ...

    def transcribe(
        self, audio: Path, *, language: str | None, duration: float, on_progress: Progress
    ) -> Transcription:
        """Speech to text of a 16 kHz mono audio file of `duration` seconds."""
        ...


@dataclass
class Chapter:
    start: float  # seconds from the start of the video: a transcript segment's start
    title: str


@dataclass
class Summarization:
    language: str  # ISO 639-1: the requested one, else the transcript's
    summary: str
    chapters: list[Chapter]  # first at 0.0, rising, within the video
    keywords: list[str]
    provider: str
    model: str
    usage: list[Usage] = field(default_factory=list)  # one per chat call


class Summarizer(Protocol):
    provider: str  # "openai"
    model: str

    def summarize(
        self,
        segments: list[dict[str, Any]],
        *,
        language: str | None,
        transcript_language: str,
        duration: float,
        on_progress: Callable[[float], None],
    ) -> Summarization:
        """Summary, chapters and keywords of a stored transcript's segments (`{start, end,
        text, words}` dicts), in `language` (ISO 639-1), or the transcript's when None.

        `on_progress(share)` (0..1) is called after each provider call; it may raise (the job
        was canceled): the exception goes through and no further call is made."""
        ...
