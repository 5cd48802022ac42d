"""The providers the settings name: made on first use, once per process, closed with it."""

import threading

from app.ai.local_whisper import LocalWhisper, packaged_model_dir
from app.ai.openai_summarize import OpenAISummarizer
from app.ai.openai_transcribe import OpenAITranscriber
from app.ai.types import ProviderError, Summarizer, Transcriber
from app.config import Settings

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


def make_transcriber(settings: Settings) -> Transcriber:
    if settings.transcribe_provider == "openai":
        return OpenAITranscriber(settings)
    return LocalWhisper(settings)


def transcriber_unavailable(settings: Settings) -> str | None:
    """Why `transcribe` cannot be bought with these settings (the 503's detail), or None."""
    if settings.transcribe_provider == "openai":
        if settings.openai_api_key is None and settings.openai_base_url == OPENAI_DEFAULT_BASE_URL:
            return (
                "Transcription is not configured: set OPENAI_API_KEY (TRANSCRIBE_PROVIDER=openai)"
            )
        return None
    if settings.local_whisper_model is None:
        try:
            packaged_model_dir(verify=False)  # on the request path: the worker hashes it
        except ProviderError as error:
            return f"{error.message}: install requirements.txt or set LOCAL_WHISPER_MODEL"
    return None


def make_summarizer(settings: Settings) -> Summarizer | None:
    """The summary provider, or None when SUMMARY_PROVIDER=none."""
    if settings.summary_provider == "openai":
        return OpenAISummarizer(settings)
    return None


def summarizer_unavailable(settings: Settings) -> str | None:
    """Why `summarize` cannot be bought with these settings (the 503's detail), or None."""
    if settings.summary_provider == "none":
        return (
            "Summaries are not configured: set SUMMARY_PROVIDER=openai "
            "(and OPENAI_BASE_URL / OPENAI_API_KEY)"
        )
    if settings.openai_api_key is None and settings.openai_base_url == OPENAI_DEFAULT_BASE_URL:
        return "Summaries are not configured: set OPENAI_API_KEY (SUMMARY_PROVIDER=openai)"
    return None


class Providers:
    """The AI providers of one worker: the local model stays loaded between jobs."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._transcriber: Transcriber | None = None
        self._summarizer: Summarizer | None = None

    def transcriber(self) -> Transcriber:
        with self._lock:
            if self._transcriber is None:
                self._transcriber = make_transcriber(self._settings)
            return self._transcriber

    def summarizer(self) -> Summarizer:
        """The summary provider; ProviderError("provider_unavailable", why) when the settings
        name none (or OpenAI itself without a key), so a job fails and is refunded."""
        reason = summarizer_unavailable(self._settings)
        if reason is not None:
            raise ProviderError("provider_unavailable", reason)
        with self._lock:
            summarizer = self._summarizer or make_summarizer(self._settings)
            if summarizer is None:  # not reached: SUMMARY_PROVIDER=none has a reason above
                raise ProviderError("provider_unavailable", "Summaries are not configured")
            self._summarizer = summarizer
            return summarizer

    def close(self) -> None:
        with self._lock:
            transcriber, self._transcriber = self._transcriber, None
            self._summarizer = None  # holds nothing open: a client per summary
        if isinstance(transcriber, LocalWhisper):
            transcriber.close()
