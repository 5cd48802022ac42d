"""The OpenAI-compatible transcription provider, driving the real `openai` package against our
own OpenAI-compatible server (tests/support/openai_server.py) in its own process: answers,
chunked uploads, retries, timeouts, malformed bodies, refusals, cancel, and that an API key
never reaches an error message."""

import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from app.ai import chunking
from app.ai.openai_client import make_client
from app.ai.openai_transcribe import OpenAITranscriber, language_code
from app.ai.types import ProviderError, Transcription, Usage
from app.config import Settings
from tests.support.live import free_port
from tests.support.openai_server import OpenAIServer, openai_server

KEY = "sk-test-secret-123"
RATE = 16000


def bursts(path: Path, seconds: float, *, period: float = 10.0, first: float = 1.0) -> Path:
    """16 kHz mono FLAC: silence with a 0.5 s tone at `first`, `first + period`, ... seconds."""
    pattern = np.zeros(int(period * RATE), dtype=np.int16)
    tone = np.arange(RATE // 2)
    pattern[int(first * RATE) : int(first * RATE) + len(tone)] = (
        8000 * np.sin(2 * np.pi * 440 * tone / RATE)
    ).astype(np.int16)
    total = int(seconds * RATE)
    block = np.tile(pattern, max(1, int(60 / period)))
    with av.open(str(path), "w", format="flac") as output:
        stream = output.add_stream("flac", rate=RATE, layout="mono")
        stream.format = "s16"
        for start in range(0, total, len(block)):
            samples = block[: min(len(block), total - start)]
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate, frame.pts = RATE, start
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def burst_starts(seconds: float, period: float = 10.0, first: float = 1.0) -> list[float]:
    return [t for t in np.arange(first, seconds, period) if t + 0.5 <= seconds]


def settings(base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "openai_base_url": base_url,
        "openai_api_key": KEY,
        "openai_max_retries": 2,
        "openai_timeout_seconds": 5,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def transcribe(
    config: Settings,
    audio: Path,
    duration: float,
    language: str | None = None,
    progress: list[float] | None = None,
) -> Transcription:
    seen = progress if progress is not None else []
    return OpenAITranscriber(config).transcribe(
        audio, language=language, duration=duration, on_progress=seen.append
    )


def failure(config: Settings, audio: Path, duration: float = 12.0) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        transcribe(config, audio, duration)
    return caught.value


def assert_no_key(error: BaseException) -> None:
    shown = "".join(traceback.format_exception(error))
    assert KEY not in str(error) and KEY not in repr(error) and KEY not in shown
    # Not even reachable: the package's error (its request holds the header) is not chained.
    assert error.__cause__ is None and error.__context__ is None


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    with openai_server(KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(server: OpenAIServer) -> None:
    server.reset()


@pytest.fixture(scope="module")
def short_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bursts(tmp_path_factory.mktemp("audio") / "short.flac", 12.0, period=4.0)


@pytest.fixture(scope="module")
def two_hours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bursts(tmp_path_factory.mktemp("audio") / "two-hours.flac", 7200.0)


def test_a_transcript_with_segments_words_language_and_our_usage(server, short_audio):
    # The server claims 999 s of audio: usage counts the seconds we sent, never its figure.
    server.script([{"set": {"duration": 999, "usage": {"type": "duration", "seconds": 999}}}])
    progress: list[float] = []
    result = transcribe(settings(server.base_url), short_audio, 12.0, progress=progress)

    assert [round(s.start, 2) for s in result.segments] == [1.0, 5.0, 9.0]
    assert all(abs(s.end - s.start - 0.5) < 0.03 for s in result.segments)
    assert [s.text for s in result.segments] == ["segment 1", "segment 2", "segment 3"]
    assert [w.word for w in result.segments[1].words] == [" segment", " 2"]
    assert result.segments[1].words[0].start == result.segments[1].start
    assert result.language == "en" and result.duration_seconds == 12.0
    assert result.text == "segment 1 segment 2 segment 3"
    assert (result.provider, result.model) == ("openai", "whisper-1")
    assert result.usage == [Usage("openai", "whisper-1", 0, 0, audio_seconds=12.0)]
    assert progress == [0.0, 12.0]

    [request] = server.requests()
    assert request["path"] == "/v1/audio/transcriptions" and request["authorization_ok"]
    assert request["form"] == {
        "model": ["whisper-1"],
        "response_format": ["verbose_json"],
        "timestamp_granularities[]": ["segment", "word"],
    }
    assert request["file"] == {
        "filename": "short.flac",
        "content_type": "audio/flac",
        "size": short_audio.stat().st_size,
    }


def test_a_requested_language_is_sent_and_kept(server, short_audio):
    result = transcribe(settings(server.base_url), short_audio, 12.0, language="de")
    assert result.language == "de"
    assert server.requests()[0]["form"]["language"] == ["de"]


@pytest.mark.parametrize(
    ("answered", "requested", "expected"),
    [
        ("english", None, "en"),  # OpenAI's whisper-1 answers Whisper's names
        ("German", None, "de"),
        ("pt-BR", None, "pt"),
        ("jw", None, "jv"),
        ("klingon", "fr", "fr"),  # unknown: the language we asked for
        ("klingon", None, "und"),  # nothing to go by
        (None, None, "und"),
    ],
)
def test_languages_become_iso_639_1_codes(server, short_audio, answered, requested, expected):
    plan = {"omit": ["language"]} if answered is None else {"set": {"language": answered}}
    server.script([plan])
    result = transcribe(settings(server.base_url), short_audio, 12.0, language=requested)
    assert result.language == expected


def test_whispers_language_table():
    assert language_code("Haitian Creole") == "ht" and language_code("cantonese") == "zh"
    assert language_code("burmese") == "my" and language_code("eng") == "en"
    assert language_code("") is None and language_code(7) is None


def test_answers_without_words_or_segments(server, short_audio):
    config = settings(server.base_url)
    server.script([{"omit": ["words"]}])
    no_words = transcribe(config, short_audio, 12.0)
    assert len(no_words.segments) == 3 and all(s.words is None for s in no_words.segments)

    server.script([{"omit": ["words", "segments"]}])
    text_only = transcribe(config, short_audio, 12.0)
    [segment] = text_only.segments
    assert (segment.start, segment.end, segment.text) == (
        0.0,
        12.0,
        "segment 1 segment 2 segment 3",
    )

    # Words inside each segment (faster-whisper servers), times past the audio's end clamped.
    word = {"word": " late", "start": 2.0, "end": 30.0, "probability": 0.9}
    inner = {"start": 2.0, "end": 30.0, "text": " late", "words": [word]}
    server.script([{"set": {"segments": [inner], "words": None}}])
    [clamped] = transcribe(config, short_audio, 12.0).segments
    assert (clamped.start, clamped.end) == (2.0, 12.0)
    assert [(w.word, w.end, w.probability) for w in clamped.words] == [(" late", 12.0, 0.9)]


def test_tokens_are_taken_from_a_token_usage(server, short_audio):
    server.script([{"set": {"usage": {"type": "tokens", "input_tokens": 41, "output_tokens": 7}}}])
    [usage] = transcribe(settings(server.base_url), short_audio, 12.0).usage
    assert (usage.tokens_input, usage.tokens_output, usage.audio_seconds) == (41, 7, 12.0)


def test_two_hours_go_in_pieces_under_the_cap_on_one_timeline(server, two_hours, tmp_path):
    cap = 512 * 1024
    config = settings(server.base_url, openai_max_upload_bytes=cap)
    assert two_hours.stat().st_size > 4 * cap
    progress: list[float] = []
    result = OpenAITranscriber(config, scratch=tmp_path).transcribe(
        two_hours, language=None, duration=7200.0, on_progress=progress.append
    )

    requests = server.requests()
    assert len(requests) >= 5
    assert all(0 < r["file"]["size"] < cap for r in requests)
    expected = burst_starts(7200.0)
    starts = [segment.start for segment in result.segments]
    assert len(starts) == len(expected) == 720
    assert max(abs(a - b) for a, b in zip(starts, expected, strict=True)) < 0.03
    assert starts == sorted(starts)
    words = [word.start for segment in result.segments for word in segment.words]
    assert words == sorted(words) and len(words) == 1440
    assert result.segments[-1].end <= result.duration_seconds == 7200.0

    assert len(result.usage) == len(requests)
    assert abs(sum(usage.audio_seconds for usage in result.usage) - 7200.0) < 0.01
    assert (
        progress[0] == 0.0 and progress == sorted(progress) and len(progress) == len(requests) + 1
    )
    assert abs(progress[-1] - 7200.0) < 0.01
    assert list(tmp_path.iterdir()) == []  # the pieces are gone
    # No timed assertion: speed is for benchmarks (a wall-clock limit fails on a loaded machine).


def test_server_errors_are_retried(server, short_audio):
    server.script([{"status": 500}, {"status": 503}])
    result = transcribe(settings(server.base_url), short_audio, 12.0)
    requests = server.requests()
    assert len(requests) == 3 and len(result.usage) == 1 and len(result.segments) == 3
    # The open file was rewound for each attempt.
    assert {r["file"]["size"] for r in requests} == {short_audio.stat().st_size}


def test_server_errors_after_the_retries_are_unavailable(server, short_audio):
    server.script([{"status": 500}] * 2)
    error = failure(settings(server.base_url, openai_max_retries=1), short_audio)
    assert error.code == "provider_unavailable" and "500" in error.message
    assert len(server.requests()) == 2


def test_a_rate_limit_waits_as_retry_after_asks(server, short_audio):
    server.script([{"status": 429, "headers": {"Retry-After": "1"}}])
    result = transcribe(settings(server.base_url), short_audio, 12.0)
    first, second = server.requests()
    assert len(result.segments) == 3
    assert 0.9 <= second["time"] - first["time"] < 3


def test_a_refused_key_fails_at_once_and_is_never_repeated(server, short_audio):
    server.script([{"status": 401, "echo_auth": True}])
    error = failure(settings(server.base_url), short_audio)
    assert error.code == "provider_rejected"
    assert error.message == (
        "The transcription provider answered 401 (authentication failed: check OPENAI_API_KEY)"
    )
    assert_no_key(error)
    [request] = server.requests()
    assert "authorization" not in request["headers"] and request["authorization_ok"]


def test_a_wrong_key_is_rejected(server, short_audio):
    error = failure(settings(server.base_url, openai_api_key="sk-wrong-key-456"), short_audio)
    assert error.code == "provider_rejected" and "sk-wrong-key-456" not in str(error)
    assert not server.requests()[0]["authorization_ok"]


def test_no_key_sends_a_placeholder(server, short_audio):
    error = failure(settings(server.base_url, openai_api_key=None), short_audio)
    assert error.code == "provider_rejected"
    assert server.requests()[0]["authorization_sent"]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "provider_rejected"),
        (403, "provider_rejected"),
        (404, "provider_rejected"),
        (413, "provider_rejected"),
        (422, "provider_rejected"),
        (408, "provider_timeout"),
        (502, "provider_unavailable"),
        (429, "provider_unavailable"),
    ],
)
def test_statuses_map_to_the_contracts_codes(server, short_audio, status, code):
    server.script([{"status": status}])
    error = failure(settings(server.base_url, openai_max_retries=0), short_audio)
    assert error.code == code and f"answered {status} (" in error.message


def test_a_server_that_never_answers_times_out(server, tmp_path):
    audio = bursts(tmp_path / "two.flac", 2.0, period=2.0, first=0.5)
    server.script([{"hang": 30}, {"hang": 30}])
    config = settings(server.base_url, openai_timeout_seconds=0.5, openai_max_retries=1)
    started = time.monotonic()
    error = failure(config, audio, duration=2.0)
    elapsed = time.monotonic() - started
    # Each attempt waits 0.5 + 2 x 0.5 = 1.5 s; one retry after at most 0.5 s.
    assert error.code == "provider_timeout"
    assert 3.0 <= elapsed < 6.0, elapsed
    assert len(server.requests()) == 2


@pytest.mark.parametrize(
    "plan",
    [
        {"body": "{not json"},
        {"body": "{not json", "content_type": "text/plain"},
        {"body": "[1, 2]"},
        {"json": {}},
        {"json": {"language": "en", "duration": 12}},
        {"set": {"segments": "nope"}},
        {"set": {"segments": [{"start": "one", "end": 2, "text": "x"}]}},
        {"set": {"words": [["not", "a", "word"]]}},
    ],
)
def test_malformed_answers_are_unavailable(server, short_audio, plan):
    server.script([plan])
    error = failure(settings(server.base_url), short_audio)
    assert error.code == "provider_unavailable"
    assert error.message == "The transcription provider sent an answer that is not valid"
    assert len(server.requests()) == 1  # not retried


def test_a_server_that_is_gone_is_unavailable(short_audio):
    config = settings(f"http://127.0.0.1:{free_port()}/v1", openai_max_retries=1)
    started = time.monotonic()
    error = failure(config, short_audio)
    assert time.monotonic() - started >= 0.37  # retried once, after 0.5 s minus jitter
    assert error.code == "provider_unavailable"
    assert error.message == "The transcription provider could not be reached"


class Canceled(Exception):
    pass


def test_a_cancel_between_pieces_stops_the_calls(server, two_hours, tmp_path):
    config = settings(server.base_url, openai_max_upload_bytes=512 * 1024)
    seen: list[float] = []

    def progress(seconds: float) -> None:
        seen.append(seconds)
        if len(seen) == 3:  # the start, then two pieces
            raise Canceled

    with pytest.raises(Canceled):
        OpenAITranscriber(config, scratch=tmp_path).transcribe(
            two_hours, language=None, duration=7200.0, on_progress=progress
        )
    assert len(server.requests()) == 2
    assert list(tmp_path.iterdir()) == []


def test_pieces_are_cut_in_pauses_and_split_again_when_too_big(tmp_path, monkeypatch):
    audio = bursts(tmp_path / "ten-minutes.flac", 600.0, period=3.0, first=0.7)
    cap = 128 * 1024
    pieces = chunking.split_audio(audio, tmp_path, cap)
    assert len(pieces) > 3 and all(p.path.stat().st_size < cap for p in pieces)
    assert pieces[0].offset == 0.0 and abs(sum(p.duration for p in pieces) - 600.0) < 1e-6
    for before, after in zip(pieces, pieces[1:], strict=False):
        assert abs(before.offset + before.duration - after.offset) < 1e-9
    for piece in pieces[1:]:  # no cut inside a tone
        assert ((piece.offset - 0.7) % 3.0) > 0.5

    # An estimate of the header 40 KB too low makes pieces too big: each written piece is
    # measured, and one over the cap is split again under a smaller budget.
    cuts = []
    cut = chunking._cut
    monkeypatch.setattr(chunking, "HEADER_BYTES", -32 * 1024)
    monkeypatch.setattr(chunking, "_cut", lambda *args: cuts.append(args[0]) or cut(*args))
    folder = tmp_path / "again"
    folder.mkdir()
    again = chunking.split_audio(audio, folder, cap)
    assert len(cuts) > 1  # pieces were split again
    assert all(p.path.stat().st_size < cap for p in again)
    assert abs(sum(p.duration for p in again) - 600.0) < 1e-6
    assert sorted(p.path for p in again) == sorted(folder.iterdir())  # the big ones are gone

    short = chunking.split_audio(audio, tmp_path / "again", 10 * 1024 * 1024, max_seconds=100)
    assert len(short) >= 6 and all(p.duration <= 100 for p in short)


def test_the_client_serves_chat_completions_too(server):
    usage = {"prompt_tokens": 12, "completion_tokens": 3}
    server.script([{"content": '{"summary": "s"}', "usage": usage}], endpoint="chat/completions")
    with make_client(settings(server.base_url)) as client:
        answer = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hello"}],
            response_format={"type": "json_object"},
        )
    assert answer.choices[0].message.content == '{"summary": "s"}'
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (12, 3)
    [request] = server.requests()
    assert request["json"]["response_format"] == {"type": "json_object"}
