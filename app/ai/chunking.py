"""Audio split into FLAC pieces under an upload cap, cut in pauses.

Streamed: the source is decoded (PyAV) in blocks of a few seconds and each piece is encoded as
it goes, so memory holds only the search window (30 s: ~1 MB) whatever the length. A piece
grows while its size stays certainly under the cap: the bytes FLAC actually produced so far,
plus the worst case for the rest (FLAC never stores 16-bit samples in much more than 2 bytes
each), plus the container's header. When the next samples might not fit, the piece ends at the
quietest 200 ms (lowest RMS energy over 20 ms windows) in the last 30 s that still fit; every
written piece is then measured, and one at or over the cap (it cannot happen with the bounds
below, but a check is cheaper than a provider's 413) is split again under a smaller budget.
Times are counted in samples, so pieces join end to start with no gap or overlap.
"""

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np

SAMPLE_RATE = 16000
# fLaC, STREAMINFO, VORBIS_COMMENT and FFmpeg's 8 KiB PADDING: 8.3 KB measured.
HEADER_BYTES = 16 * 1024
# FLAC's verbatim subframe stores a 16-bit sample in 2 bytes, plus frame headers and CRCs
# (~20 bytes per 1152-sample frame): under 2.02 bytes a sample even for white noise.
WORST_BYTES_PER_SAMPLE = 2.04
FRAME_SLACK_BYTES = 64
WINDOW = SAMPLE_RATE // 50  # 20 ms of energy
PAUSE_WINDOWS = 10  # a pause is judged over 200 ms
SEARCH_SECONDS = 30.0
READ_BLOCK = 5 * SAMPLE_RATE  # samples decoded before they are looked at


class Chunk(NamedTuple):
    path: Path
    offset: float  # seconds from the start of the source
    duration: float  # seconds, counted from the samples written


def split_audio(
    source: Path,
    directory: Path,
    max_bytes: int,
    *,
    max_seconds: float | None = None,
    search_seconds: float = SEARCH_SECONDS,
) -> list[Chunk]:
    """All pieces of `source` (any audio PyAV reads; resampled to 16 kHz mono), written as
    FLAC files in `directory`, each smaller than `max_bytes` (and at most `max_seconds`)."""
    return list(
        iter_chunks(
            source, directory, max_bytes, max_seconds=max_seconds, search_seconds=search_seconds
        )
    )


def iter_chunks(
    source: Path,
    directory: Path,
    max_bytes: int,
    *,
    max_seconds: float | None = None,
    search_seconds: float = SEARCH_SECONDS,
) -> Iterator[Chunk]:
    """The pieces one at a time, each written before it is yielded (the next one is not begun
    until asked for). The files are the caller's to delete; closing the iterator early closes
    the decoder and removes the piece being written."""
    names = (directory / f"piece-{n:04d}.flac" for n in itertools.count())
    search = max(WINDOW, int(search_seconds * SAMPLE_RATE))
    limit = int(max_seconds * SAMPLE_RATE) if max_seconds else None
    if limit is not None and limit < 2 * WINDOW:
        raise ValueError(f"max_seconds {max_seconds} is too short")
    for path, start, samples in _pieces(source, names, max_bytes, max_bytes - 1, search, limit):
        yield Chunk(path, start / SAMPLE_RATE, samples / SAMPLE_RATE)


def _pieces(
    source: Path,
    names: Iterator[Path],
    max_bytes: int,
    budget: int,
    search: int,
    limit: int | None,
) -> Iterator[tuple[Path, int, int]]:
    """(path, first sample, samples) of pieces whose size is at most `budget`, re-split when a
    written one is not under `max_bytes`."""
    for path, start, samples in _cut(source, names, budget, search, limit):
        size = path.stat().st_size
        if size < max_bytes:
            yield path, start, samples
            continue
        smaller = budget - (size - max_bytes) - budget // 10
        if smaller <= HEADER_BYTES:
            path.unlink()
            raise ValueError(f"max_bytes {max_bytes} is too small for FLAC pieces")
        try:
            for inner, inner_start, inner_samples in _pieces(
                path, names, max_bytes, smaller, search, limit
            ):
                yield inner, start + inner_start, inner_samples
        finally:
            path.unlink(missing_ok=True)


def _cut(
    source: Path, names: Iterator[Path], budget: int, search: int, limit: int | None
) -> Iterator[tuple[Path, int, int]]:
    # The last `search` samples are held back (in `tail`) until it is known whether the piece
    # ends among them; everything before them is encoded at once. A piece's length is bounded
    # by `budget` bytes and `limit` samples; the search window by an eighth of either.
    longest = int((budget - HEADER_BYTES) / WORST_BYTES_PER_SAMPLE)
    if limit is not None:
        longest = min(longest, limit)
    search = min(search, max(WINDOW, longest // 8))
    writer: _PieceWriter | None = None
    tail = np.empty(0, dtype=np.int16)
    start = 0
    try:
        for block in _blocks(source):
            tail = np.concatenate((tail, block))
            while True:
                if writer is None:
                    writer = _PieceWriter(next(names))
                room = writer.room(budget)
                if limit is not None:
                    room = min(room, limit - writer.samples)
                if len(tail) <= room:
                    ready = len(tail) - min(len(tail), search)
                    writer.write(tail[:ready])
                    tail = tail[ready:]
                    break
                if room - search >= WINDOW:
                    # Encode what surely fits, then look again: FLAC's actual bytes are
                    # usually far below the worst case, so the room grows back.
                    writer.write(tail[: room - search])
                    tail = tail[room - search :]
                    continue
                if room < WINDOW and writer.samples == 0:
                    raise ValueError(f"a budget of {budget} bytes holds no audio")
                cut = _quietest(tail, max(0, room - search), room)
                if cut == 0 and writer.samples == 0:
                    cut = room
                writer.write(tail[:cut])
                tail = tail[cut:]
                path, samples = writer.close(), writer.samples
                writer = None
                yield path, start, samples
                start += samples
        if len(tail):
            writer = writer or _PieceWriter(next(names))
            writer.write(tail)
        if writer is not None and writer.samples:
            path, samples = writer.close(), writer.samples
            writer = None
            yield path, start, samples
    finally:
        if writer is not None:
            writer.abort()


def _blocks(source: Path) -> Iterator[np.ndarray]:
    """16 kHz mono int16 samples of the first audio stream, READ_BLOCK at a time."""
    with av.open(str(source)) as container:
        if not container.streams.audio:
            raise ValueError(f"{source.name} has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(
            format="s16", layout="mono", rate=SAMPLE_RATE, frame_size=READ_BLOCK
        )
        for frame in itertools.chain(container.decode(stream), [None]):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)


def _quietest(samples: np.ndarray, low: int, high: int) -> int:
    """The index in [low, high] at the middle of the quietest 200 ms of samples[low:high]
    (the latest of equals, for longer pieces); `high` when the range is under 20 ms."""
    windows = (high - low) // WINDOW
    if windows == 0:
        return high
    region = samples[high - windows * WINDOW : high].astype(np.float32)
    energy = np.square(region).reshape(windows, WINDOW).mean(axis=1)
    span = min(PAUSE_WINDOWS, windows)
    pause = np.convolve(energy, np.ones(span, dtype=np.float32), mode="valid")
    best = len(pause) - 1 - int(np.argmin(pause[::-1]))
    return high - windows * WINDOW + best * WINDOW + span * WINDOW // 2


def _worst_bytes(samples: int) -> int:
    return int(samples * WORST_BYTES_PER_SAMPLE) + FRAME_SLACK_BYTES if samples else 0


class _PieceWriter:
    """One FLAC file being encoded, with an upper bound of its size at every step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples = 0  # given to the encoder
        self._encoded_samples = 0  # in packets written
        self._encoded_bytes = 0
        self._container = av.open(str(path), "w", format="flac")
        self._stream = self._container.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        self._stream.format = "s16"

    def room(self, budget: int) -> int:
        """Samples that can certainly still be added without the file exceeding `budget`."""
        used = (
            HEADER_BYTES
            + self._encoded_bytes
            + _worst_bytes(self.samples - self._encoded_samples)
            + FRAME_SLACK_BYTES
        )
        return max(0, int((budget - used) / WORST_BYTES_PER_SAMPLE))

    def write(self, samples: np.ndarray) -> None:
        if not len(samples):
            return
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self.samples
        self.samples += len(samples)
        self._mux(self._stream.encode(frame))

    def close(self) -> Path:
        self._mux(self._stream.encode(None))
        self._container.close()
        return self.path

    def abort(self) -> None:
        self._container.close()
        self.path.unlink(missing_ok=True)

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self._encoded_bytes += packet.size
            self._encoded_samples += packet.duration or 0
            self._container.mux(packet)
