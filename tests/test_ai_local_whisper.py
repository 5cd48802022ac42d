"""The local speech-to-text provider: the packaged tiny.en model, offline, in its child process,
on speech that espeak-ng makes at test time (Debian package `espeak-ng`)."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.ai import local_whisper
from app.ai.local_whisper import LocalWhisper
from app.ai.types import ProviderError, Transcription
from app.config import Settings
from tests.support.speech import (
    audio_seconds,
    flac16k,
    have_espeak,
    music_flac,
    noise_flac,
    speech_video,
    word_error_rate,
)

SENTENCES = (
    "Good morning and welcome to the weekly meeting. Today we will talk about the new video "
    "service and the plans for next month. Please send your questions to the team before Friday."
)
# Measured 0.0 (tiny.en, int8, beam 1; espeak-ng 1.51 en-us at 150 words per minute).
MAX_WORD_ERROR_RATE = 0.25


class Canceled(Exception):
    """What a job's progress callback raises when the job was canceled."""


@dataclass
class Audio:
    path: Path
    seconds: float


@dataclass
class Run:
    transcription: Transcription
    progress: list[float]
    seconds: float
    pid: int | None


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie no reaper has collected yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def wait_until_gone(pid: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


@pytest.fixture(scope="module", autouse=True)
def offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Audio:
    """The sentences as a video's sound would reach the provider: AAC in an MP4, then FLAC."""
    assert have_espeak(), "espeak-ng is missing: apt-get install espeak-ng"
    folder = tmp_path_factory.mktemp("speech")
    flac = flac16k(speech_video(folder / "talk.mp4", SENTENCES), folder / "talk.flac")
    return Audio(flac, audio_seconds(flac))


@pytest.fixture(scope="module")
def whisper() -> Iterator[LocalWhisper]:
    provider = LocalWhisper(Settings(_env_file=None))
    yield provider
    provider.close()


def transcribe(whisper: LocalWhisper, audio: Audio) -> Run:
    progress: list[float] = []
    started = time.monotonic()
    transcription = whisper.transcribe(
        audio.path, language="en", duration=audio.seconds, on_progress=progress.append
    )
    return Run(transcription, progress, time.monotonic() - started, whisper.child_pid)


@pytest.fixture(scope="module")
def first(whisper: LocalWhisper, speech: Audio) -> Run:
    """The module's first transcription: it starts the child and loads the model."""
    return transcribe(whisper, speech)


def test_speech_is_transcribed(first: Run, speech: Audio) -> None:
    transcription = first.transcription
    assert word_error_rate(SENTENCES, transcription.text) <= MAX_WORD_ERROR_RATE
    assert (transcription.provider, transcription.model, transcription.language) == (
        "local",
        "tiny.en",
        "en",
    )
    assert transcription.duration_seconds == speech.seconds
    [usage] = transcription.usage
    assert (usage.provider, usage.model, usage.audio_seconds) == (
        "local",
        "tiny.en",
        speech.seconds,
    )


def test_segments_and_words_rise_within_the_audio(first: Run, speech: Audio) -> None:
    segments = first.transcription.segments
    assert len(segments) >= 2
    cursor = 0.0
    for segment in segments:
        assert cursor <= segment.start <= segment.end <= speech.seconds
        assert segment.text == segment.text.strip() != ""
        assert segment.words, "word timestamps were asked for"
        word_cursor = segment.start
        for word in segment.words:
            assert word_cursor <= word.start <= word.end <= segment.end
            assert word.word and word.probability is not None
            assert round(word.start, 3) == word.start and round(word.end, 3) == word.end
            word_cursor = word.end
        cursor = segment.end
    words = [word.word for segment in segments for word in segment.words or []]
    assert word_error_rate(SENTENCES, " ".join(words)) <= MAX_WORD_ERROR_RATE


def test_progress_rises_to_the_duration(first: Run, speech: Audio) -> None:
    # 0.0 is also reported while the model loads, and after each POLL_SECONDS without news.
    done = [seconds for seconds in first.progress if seconds > 0]
    assert first.progress == sorted(first.progress)
    assert len(done) >= 2 and done == sorted(set(done))
    assert done[-1] == pytest.approx(speech.seconds, abs=0.5)


def test_the_model_is_loaded_once(whisper: LocalWhisper, speech: Audio, first: Run) -> None:
    second = transcribe(whisper, speech)
    assert second.pid == first.pid is not None
    assert second.seconds < first.seconds * 1.5
    assert second.transcription.text == first.transcription.text


def test_languages_of_the_english_model(whisper: LocalWhisper) -> None:
    assert whisper.languages() == frozenset({"en"})
    multilingual = LocalWhisper(Settings(_env_file=None, local_whisper_model="base"))
    assert multilingual.languages() is None and multilingual.model == "base"


def test_cancel_kills_the_child_and_the_next_transcription_starts_another(
    whisper: LocalWhisper, speech: Audio
) -> None:
    canceled = Canceled()
    seen: list[float] = []
    pids: list[int | None] = []

    def on_progress(seconds: float) -> None:
        seen.append(seconds)
        pids.append(whisper.child_pid)
        if seconds > 0:
            raise canceled

    with pytest.raises(Canceled) as raised:
        whisper.transcribe(
            speech.path, language="en", duration=speech.seconds, on_progress=on_progress
        )
    assert raised.value is canceled
    assert 0 < seen[-1] < speech.seconds  # mid-way
    pid = pids[-1]
    assert pid is not None and not alive(pid) and whisper.child_pid is None

    again = transcribe(whisper, speech)
    assert again.pid not in (None, pid)
    assert word_error_rate(SENTENCES, again.transcription.text) <= MAX_WORD_ERROR_RATE


def test_a_caller_waiting_for_the_child_can_be_canceled(
    whisper: LocalWhisper, speech: Audio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_whisper, "POLL_SECONDS", 0.05)
    transcribe(whisper, speech)  # the child is up
    busy = threading.Event()
    runs: list[Run] = []
    other = threading.Thread(target=lambda: runs.append(transcribe(whisper, speech)))
    original = whisper._child
    assert original is not None
    receive = original.receive

    def receive_and_tell(timeout: float) -> dict | None:
        busy.set()
        return receive(timeout)

    monkeypatch.setattr(original, "receive", receive_and_tell)
    other.start()
    assert busy.wait(10)

    def cancel(seconds: float) -> None:
        raise Canceled

    with pytest.raises(Canceled):
        whisper.transcribe(speech.path, language="en", duration=speech.seconds, on_progress=cancel)
    other.join()
    assert runs and runs[0].pid == original.pid and runs[0].transcription.text


@pytest.mark.parametrize("make", [noise_flac, music_flac], ids=["white-noise", "chords"])
def test_audio_without_speech_gives_little_or_no_text(
    whisper: LocalWhisper, tmp_path: Path, make: Callable[[Path, float], Path]
) -> None:
    path = make(tmp_path / "sound.flac", 10)
    run = transcribe(whisper, Audio(path, 10.0))
    assert len(run.transcription.text.split()) <= 3
    assert all(0 <= s.start <= s.end <= 10 for s in run.transcription.segments)


def test_audio_that_cannot_be_read_is_rejected_and_the_child_stays(
    whisper: LocalWhisper, speech: Audio, tmp_path: Path
) -> None:
    transcribe(whisper, speech)
    pid = whisper.child_pid
    with pytest.raises(ProviderError) as raised:
        transcribe(whisper, Audio(tmp_path / "missing.flac", 5.0))
    assert raised.value.code == "provider_rejected"
    assert whisper.child_pid == pid


def test_concurrent_callers_take_turns_on_one_child(whisper: LocalWhisper, speech: Audio) -> None:
    transcribe(whisper, speech)
    pid = whisper.child_pid
    runs: list[Run] = []
    threads = [
        threading.Thread(target=lambda: runs.append(transcribe(whisper, speech))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [run.pid for run in runs] == [pid, pid]
    assert runs[0].transcription.text == runs[1].transcription.text


def test_a_child_killed_between_jobs_is_replaced(whisper: LocalWhisper, speech: Audio) -> None:
    transcribe(whisper, speech)
    pid = whisper.child_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until_gone(pid)
    run = transcribe(whisper, speech)
    assert run.pid not in (None, pid)


def test_a_child_that_dies_mid_job_is_provider_unavailable(
    whisper: LocalWhisper, speech: Audio, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A minute of speech: the child is surely still at work when its first progress arrives
    # (a short clip's result can already be in the pipe behind it on a loaded machine).
    talk = speech_video(tmp_path / "long.mp4", " ".join([SENTENCES] * 6))
    long = flac16k(talk, tmp_path / "long.flac")
    transcribe(whisper, speech)
    child = whisper._child
    assert child is not None
    receive = child.receive

    def receive_then_die(timeout: float) -> dict | None:  # dies once it has started
        message = receive(timeout)
        if message and "progress" in message:
            os.kill(child.pid, signal.SIGKILL)
        return message

    monkeypatch.setattr(child, "receive", receive_then_die)
    with pytest.raises(ProviderError) as raised:
        transcribe(whisper, Audio(long, audio_seconds(long)))
    assert raised.value.code == "provider_unavailable"
    assert whisper.child_pid is None and not alive(child.pid)
    assert transcribe(whisper, speech).transcription.text


def test_a_kept_child_that_died_unseen_is_replaced_and_the_job_goes_on(
    whisper: LocalWhisper, speech: Audio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between jobs, and not yet reaped when the next job looks (poll() says alive)."""
    transcribe(whisper, speech)
    child = whisper._child
    assert child is not None
    os.kill(child.pid, signal.SIGKILL)
    wait_until_gone(child.pid)
    monkeypatch.setattr(child.process, "poll", lambda: None)

    run = transcribe(whisper, speech)

    assert run.transcription.text and run.pid not in (None, child.pid)


def test_close_stops_the_child(whisper: LocalWhisper, speech: Audio) -> None:
    transcribe(whisper, speech)
    pid = whisper.child_pid
    assert pid is not None
    whisper.close()
    assert whisper.child_pid is None and not alive(pid)


@pytest.mark.parametrize(
    "script",
    [
        "print('not json', flush=True)",
        "import sys; print('{\"ready\": {}}', flush=True); sys.stdin.readline(); print('[1]')",
        "import sys; print('{\"ready\": {}}', flush=True); sys.stdin.readline()",
    ],
    ids=["garbage-at-start", "garbage-answer", "exits"],
)
def test_a_child_answering_garbage_is_provider_unavailable(
    speech: Audio, monkeypatch: pytest.MonkeyPatch, script: str
) -> None:
    monkeypatch.setattr(local_whisper, "CHILD_COMMAND", [sys.executable, "-c", script])
    provider = LocalWhisper(Settings(_env_file=None))
    with pytest.raises(ProviderError) as raised:
        transcribe(provider, speech)
    assert raised.value.code == "provider_unavailable"
    assert provider.child_pid is None


def test_a_model_with_another_sha256_is_refused_before_anything_loads(
    speech: Audio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_whisper, "MODEL_SHA256", "0" * 64)
    monkeypatch.setattr(local_whisper, "_Child", None)  # starting a child would fail the test
    provider = LocalWhisper(Settings(_env_file=None))
    with pytest.raises(ProviderError) as raised:
        transcribe(provider, speech)
    assert raised.value.code == "provider_unavailable"
    assert "integrity check" in raised.value.message and "SHA-256" in raised.value.message
    assert provider.child_pid is None


def test_the_child_exits_when_its_parent_dies(speech: Audio) -> None:
    script = (
        "import sys, time; from pathlib import Path; from app.config import Settings; "
        "from app.ai.local_whisper import LocalWhisper; "
        "w = LocalWhisper(Settings(_env_file=None)); "
        f"w.transcribe(Path({str(speech.path)!r}), language='en', duration=1.0, "
        "on_progress=lambda s: None); print(w.child_pid, flush=True); time.sleep(60)"
    )
    command = [sys.executable, "-c", script]
    with subprocess.Popen(command, cwd=local_whisper.ROOT, stdout=subprocess.PIPE) as parent:
        try:
            assert parent.stdout is not None
            pid = int(parent.stdout.readline())
            assert alive(pid)
        finally:
            parent.kill()
    wait_until_gone(pid)


def test_a_model_directory_is_loaded_from_disk(speech: Audio) -> None:
    directory = str(local_whisper.packaged_model_dir())
    provider = LocalWhisper(Settings(_env_file=None, local_whisper_model=directory))
    try:
        assert provider.languages() == frozenset({"en"})  # its vocabulary has 51864 tokens
        run = transcribe(provider, speech)
    finally:
        provider.close()
    assert run.transcription.model == directory
    assert word_error_rate(SENTENCES, run.transcription.text) <= MAX_WORD_ERROR_RATE


def test_a_model_directory_without_its_tokenizer_is_refused(tmp_path: Path, speech: Audio) -> None:
    for name in ("model.bin", "config.json"):
        (tmp_path / name).write_bytes(b"{}")
    provider = LocalWhisper(Settings(_env_file=None, local_whisper_model=str(tmp_path)))
    with pytest.raises(ProviderError) as raised:
        transcribe(provider, speech)
    assert raised.value.code == "provider_unavailable" and "incomplete" in raised.value.message
    assert provider.child_pid is None


def test_long_audio_goes_to_the_model_in_pieces_on_one_timeline(
    whisper: LocalWhisper, speech: Audio, first: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pieces bound the child's memory (faster-whisper holds a file's samples); the sentences
    come back whole enough, with rising times over the whole audio and a usage entry a piece."""
    monkeypatch.setattr(local_whisper, "PIECE_SECONDS", speech.seconds / 3)

    run = transcribe(whisper, speech)

    assert len(run.transcription.usage) >= 3
    assert sum(u.audio_seconds for u in run.transcription.usage) == pytest.approx(
        speech.seconds, abs=0.01
    )
    times = [t for s in run.transcription.segments for t in (s.start, s.end)]
    assert times == sorted(times) and times[-1] <= speech.seconds
    assert times[-1] > 2 * speech.seconds / 3  # the last piece's words are where they were said
    assert word_error_rate(SENTENCES, run.transcription.text) <= 0.35  # cuts cost a few words
    assert run.progress == sorted(run.progress) and run.progress[-1] == pytest.approx(
        speech.seconds, abs=0.5
    )
