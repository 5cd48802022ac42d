"""Speech to text through any OpenAI-compatible server (POST {base URL}/audio/transcriptions).

Audio at or over OPENAI_MAX_UPLOAD_BYTES, or longer than MAX_PIECE_SECONDS, is sent in pieces cut
in pauses (`chunking`); each answer's times are moved by its piece's offset onto the audio's
timeline. One call per piece: `response_format=verbose_json` with segment and word timestamps.

What servers differ in, and what is made of it:
- no `words`: segments without words; `words` inside each segment (faster-whisper servers) or at
  the top (OpenAI): both read;
- no `segments`: one segment of `text` spanning the piece; neither `segments` nor `text`, or a
  body that is not a JSON object: `provider_unavailable` (the server misbehaved; the request was
  fine, and a retry later may well succeed, unlike a `provider_rejected` one);
- `language` as Whisper's name ("english", OpenAI's whisper-1 does this), a code ("en"), a
  regional tag ("en-US") or a 3-letter code: turned into ISO 639-1 by Whisper's own table.
  The transcript's language is the requested one; else the one answered for the most seconds
  of audio; else, when no answer was recognised, "und" (BCP 47's "undetermined": ISO 639-1 has
  no code for "unknown", and guessing "en" would be a lie);
- `usage`: tokens where reported (`{"type": "tokens", "input_tokens", "output_tokens"}` of the
  gpt-4o models, or chat-style `prompt_tokens`/`completion_tokens`), else 0 (whisper-1 reports
  `{"type": "duration", "seconds"}`). `audio_seconds` is always our own count of the piece.

A call's timeout grows with its audio: OPENAI_TIMEOUT_SECONDS + TIMEOUT_PER_AUDIO_SECOND x the
piece's seconds (60 + 0.5 x 1380 = 750 s for the longest piece), for each of connect, upload
writes and the wait for the answer; the package's retries (OPENAI_MAX_RETRIES) each get it anew.
"""

import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.ai.chunking import Chunk, iter_chunks
from app.ai.openai_client import Client, MalformedResponse, guarded, json_object, make_client
from app.ai.types import Progress, Segment, Transcription, Usage, Word
from app.config import Settings

TIMEOUT_PER_AUDIO_SECOND = 0.5
# OpenAI's gpt-4o transcription models refuse more than 1400 s in one call; a bound also keeps
# a retry's cost and the gap between progress reports small.
MAX_PIECE_SECONDS = 1380.0
UNDETERMINED = "und"
_FORMATS = {".flac": "audio/flac", ".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg"}

# Whisper's languages (its tokenizer's LANGUAGES: code -> name), with ISO 639-1 codes where
# Whisper's differ ("jw" is Javanese's "jv"; Cantonese, "yue", falls under "zh"). Hawaiian has
# no ISO 639-1 code: its 639-2 code "haw" is kept.
_WHISPER_LANGUAGES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian",
    "ko": "korean", "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish",
    "pl": "polish", "ca": "catalan", "nl": "dutch", "ar": "arabic", "sv": "swedish",
    "it": "italian", "id": "indonesian", "hi": "hindi", "fi": "finnish", "vi": "vietnamese",
    "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay", "cs": "czech",
    "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian",
    "la": "latin", "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak",
    "te": "telugu", "fa": "persian", "lv": "latvian", "bn": "bengali", "sr": "serbian",
    "az": "azerbaijani", "sl": "slovenian", "kn": "kannada", "et": "estonian",
    "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian",
    "sw": "swahili", "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala",
    "km": "khmer", "sn": "shona", "yo": "yoruba", "so": "somali", "af": "afrikaans",
    "oc": "occitan", "ka": "georgian", "be": "belarusian", "tg": "tajik", "sd": "sindhi",
    "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao", "uz": "uzbek",
    "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk",
    "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan",
    "tl": "tagalog", "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian",
    "ln": "lingala", "ha": "hausa", "ba": "bashkir", "jv": "javanese", "su": "sundanese",
}  # fmt: skip
_ALIASES = {
    # Whisper's own extra names, its non-ISO codes, and common ISO 639-2/3 codes.
    "burmese": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht", "letzeburgesch": "lb",
    "pushto": "ps", "panjabi": "pa", "moldavian": "ro", "moldovan": "ro", "sinhalese": "si",
    "castilian": "es", "mandarin": "zh", "cantonese": "zh", "yue": "zh", "jw": "jv",
    "farsi": "fa", "norwegian bokmal": "no", "nb": "no",
    "eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "spa": "es", "ita": "it",
    "por": "pt", "rus": "ru", "zho": "zh", "chi": "zh", "jpn": "ja", "kor": "ko", "ara": "ar",
    "nld": "nl", "dut": "nl", "pol": "pl", "tur": "tr", "ukr": "uk", "hin": "hi", "swe": "sv",
}  # fmt: skip
_CODES = {**{name: code for code, name in _WHISPER_LANGUAGES.items()}, **_ALIASES}


def language_code(value: object) -> str | None:
    """ISO 639-1 code of a language as servers name it ("english", "en", "en-US", "eng"),
    or None when it is not one of Whisper's."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower().replace("_", "-")
    for candidate in (name, name.split("-")[0]):
        if candidate in _WHISPER_LANGUAGES:
            return candidate
        if candidate in _CODES:
            return _CODES[candidate]
    return None


@dataclass
class _Part:
    """One piece's answer, on the audio's timeline."""

    segments: list[Segment]
    language: str | None
    duration: float
    usage: Usage


class OpenAITranscriber:
    """The Transcriber of an OpenAI-compatible server (settings OPENAI_*)."""

    provider = "openai"

    def __init__(self, settings: Settings, *, scratch: Path | None = None) -> None:
        self.settings = settings
        self.model = settings.openai_transcribe_model
        # Where pieces are written (a temporary folder in it); None: beside the audio, in the
        # job's scratch folder (app/scratch.py).
        self.scratch = scratch

    def languages(self) -> frozenset[str] | None:
        return None

    def transcribe(
        self, audio: Path, *, language: str | None, duration: float, on_progress: Progress
    ) -> Transcription:
        parts: list[_Part] = []
        on_progress(0.0)
        scratch = self.scratch or audio.parent
        with (
            make_client(self.settings) as client,
            tempfile.TemporaryDirectory(prefix="transcribe-", dir=scratch) as folder,
            closing(self._pieces(audio, duration, Path(folder))) as pieces,
        ):
            for piece in pieces:
                parts.append(self._transcribe_piece(client, piece, language))
                if piece.path != audio:
                    piece.path.unlink(missing_ok=True)
                on_progress(piece.offset + piece.duration)
        return self._join(parts, language, duration)

    def _pieces(self, audio: Path, duration: float, folder: Path) -> Iterator[Chunk]:
        cap = self.settings.openai_max_upload_bytes
        if audio.stat().st_size < cap and 0 < duration <= MAX_PIECE_SECONDS:
            yield Chunk(audio, 0.0, duration)
        else:
            yield from iter_chunks(audio, folder, cap, max_seconds=MAX_PIECE_SECONDS)

    def _transcribe_piece(self, client: Client, piece: Chunk, language: str | None) -> _Part:
        return guarded(lambda: self._call(client, piece, language), "transcription")

    def _call(self, client: Client, piece: Chunk, language: str | None) -> _Part:
        suffix = piece.path.suffix.lower()
        name = piece.path.name if suffix in _FORMATS else f"{piece.path.stem}.flac"
        options: dict[str, Any] = {"language": language} if language else {}
        timeout = self.settings.openai_timeout_seconds + piece.duration * TIMEOUT_PER_AUDIO_SECOND
        with piece.path.open("rb") as file:
            answer = client.audio.transcriptions.with_raw_response.create(
                model=self.model,
                file=(name, file, _FORMATS.get(suffix, "audio/flac")),
                response_format="verbose_json",
                timestamp_granularities=["segment", "word"],
                timeout=timeout,
                **options,
            )
        return self._part(json_object(answer.content), piece)

    def _part(self, body: dict[str, Any], piece: Chunk) -> _Part:
        """The piece's answer read leniently, times clamped to the piece and offset."""
        span = piece.duration
        words = _words(body.get("words"), span)
        raw_segments = body.get("segments")
        if raw_segments is not None and not isinstance(raw_segments, list):
            raise MalformedResponse("segments that are not a list")
        if raw_segments:
            segments = [_segment(item, span) for item in raw_segments]
            segments.sort(key=lambda segment: segment.start)
            if words and all(segment.words is None for segment in segments):
                _attach(words, segments)
        elif isinstance(body.get("text"), str) or raw_segments == []:
            text = _text(body.get("text"))
            segments = [Segment(0.0, span, text, words)] if text else []
        else:
            raise MalformedResponse("neither segments nor text")
        for segment in segments:
            _shift(segment, piece.offset)
        usage = _usage(body.get("usage"))
        return _Part(
            segments=segments,
            language=language_code(body.get("language")),
            duration=span,
            usage=Usage(self.provider, self.model, *usage, audio_seconds=span),
        )

    def _join(self, parts: list[_Part], language: str | None, duration: float) -> Transcription:
        total = duration if duration > 0 else sum(part.duration for part in parts)
        segments = [segment for part in parts for segment in part.segments]
        for segment in segments:  # a piece measured a few samples longer than `duration`
            _clamp(segment, total)
        return Transcription(
            language=_language(parts, language),
            duration_seconds=total,
            segments=segments,
            provider=self.provider,
            model=self.model,
            usage=[part.usage for part in parts],
        )


def _language(parts: list[_Part], requested: str | None) -> str:
    """The requested language; else the one answered for most seconds of audio; else "und"."""
    if requested:
        return language_code(requested) or requested
    seconds: Counter[str] = Counter()
    for part in parts:
        if part.language:
            seconds[part.language] += part.duration
    return seconds.most_common(1)[0][0] if seconds else UNDETERMINED


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedResponse("a time that is not a number")
    return float(value)


def _span(item: dict[str, Any], span: float) -> tuple[float, float]:
    start = min(max(_number(item.get("start")), 0.0), span)
    end = min(max(_number(item.get("end")), start), span)
    return start, end


def _words(raw: object, span: float) -> list[Word] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise MalformedResponse("words that are not a list of objects")
    words = []
    for item in raw:
        start, end = _span(item, span)
        probability = item.get("probability")
        words.append(
            Word(
                start=start,
                end=end,
                word=item["word"] if isinstance(item.get("word"), str) else "",
                probability=float(probability) if isinstance(probability, (int, float)) else None,
            )
        )
    words.sort(key=lambda word: word.start)
    return words or None


def _segment(item: object, span: float) -> Segment:
    if not isinstance(item, dict):
        raise MalformedResponse("a segment that is not an object")
    start, end = _span(item, span)
    return Segment(start, end, _text(item.get("text")), _words(item.get("words"), span))


def _attach(words: list[Word], segments: list[Segment]) -> None:
    """Give each top-level word to the segment holding its middle (else the nearest)."""
    homes: list[list[Word]] = [[] for _ in segments]
    for word in words:
        middle = (word.start + word.end) / 2
        distances = [max(s.start - middle, middle - s.end, 0.0) for s in segments]
        homes[distances.index(min(distances))].append(word)
    for segment, home in zip(segments, homes, strict=True):
        segment.words = home


def _shift(segment: Segment, offset: float) -> None:
    segment.start += offset
    segment.end += offset
    for word in segment.words or []:
        word.start += offset
        word.end += offset


def _clamp(segment: Segment, total: float) -> None:
    segment.start, segment.end = min(segment.start, total), min(segment.end, total)
    for word in segment.words or []:
        word.start, word.end = min(word.start, total), min(word.end, total)


def _usage(raw: object) -> tuple[int, int]:
    """(input, output) tokens of a call's `usage`, 0 where none are reported."""
    if not isinstance(raw, dict):
        return 0, 0

    def tokens(*names: str) -> int:
        for name in names:
            value = raw.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
        return 0

    return tokens("input_tokens", "prompt_tokens"), tokens("output_tokens", "completion_tokens")
