"""The providers the settings name: made on first use, once per process, closed with it."""

import threading

from app.ai.local_whisper import LocalWhisper, packaged_model_dir
from app.ai.openai_transcribe import OpenAITranscriber
from app.ai.types import ProviderError, Transcriber
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
            packaged_model_dir()
        except ProviderError as error:
            return f"{error.message}: install requirements.txt or set LOCAL_WHISPER_MODEL"
    return None


class Providers:
    """The AI providers of one worker: the local model stays loaded between jobs."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._transcriber: Transcriber | None = None

    def transcriber(self) -> Transcriber:
        with self._lock:
            if self._transcriber is None:
                self._transcriber = make_transcriber(self._settings)
            return self._transcriber

    def close(self) -> None:
        with self._lock:
            transcriber, self._transcriber = self._transcriber, None
        if isinstance(transcriber, LocalWhisper):
            transcriber.close()
