"""Test speech, generated at test time: espeak-ng speaks, PyAV resamples, muxes and encodes.

Needs the `espeak-ng` command (Debian package `espeak-ng`). Nothing here is committed media.
"""

import itertools
import math
import random
import re
import shutil
import struct
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import av
from PIL import Image

RATE = 16000  # what the transcription providers receive: 16 kHz mono FLAC


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, path_wav: Path, voice: str = "en-us", speed: int = 150) -> Path:
    """`text` spoken by espeak-ng (`speed` in words per minute) into a WAV file (22.05 kHz)."""
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path_wav), text],
        check=True,
        capture_output=True,
    )
    return path_wav


def _decoded(source: Path, *, rate: int, sample_format: str) -> Iterator[av.AudioFrame]:
    """Every frame of the first audio stream, resampled to mono `rate` Hz `sample_format`."""
    resampler = av.AudioResampler(format=sample_format, layout="mono", rate=rate)
    with av.open(str(source)) as container:
        stream = container.streams.audio[0]
        for frame in itertools.chain(container.decode(stream), [None]):
            yield from resampler.resample(frame)


def _write_flac(path: Path, frames: Iterable[av.AudioFrame]) -> Path:
    with av.open(str(path), "w", format="flac") as output:
        stream = output.add_stream("flac", rate=RATE, layout="mono")
        stream.format = "s16"
        for frame in frames:
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def flac16k(source: Path, out: Path) -> Path:
    """The first audio stream of `source` as 16 kHz mono s16 FLAC (what a provider receives)."""
    return _write_flac(out, _decoded(source, rate=RATE, sample_format="s16"))


def audio_seconds(path: Path) -> float:
    """The duration of an audio file, counted in decoded samples."""
    return sum(frame.samples for frame in _decoded(path, rate=RATE, sample_format="s16")) / RATE


def _pcm_frames(samples: Iterable[float], size: int = 4096) -> Iterator[av.AudioFrame]:
    """16 kHz mono s16 frames of `samples` (floats in [-1, 1])."""
    iterator = iter(samples)
    pts = 0
    while chunk := list(itertools.islice(iterator, size)):
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk))
        values = (max(-32767, min(32767, round(value * 32767))) for value in chunk)
        frame.planes[0].update(struct.pack(f"<{len(chunk)}h", *values))
        frame.sample_rate, frame.pts = RATE, pts
        pts += len(chunk)
        yield frame


def noise_flac(path: Path, seconds: float, *, amplitude: float = 0.3, seed: int = 1) -> Path:
    """White noise as 16 kHz mono FLAC."""
    generator = random.Random(seed)
    count = int(seconds * RATE)
    return _write_flac(
        path, _pcm_frames(generator.uniform(-amplitude, amplitude) for _ in range(count))
    )


def music_flac(path: Path, seconds: float, *, amplitude: float = 0.2) -> Path:
    """Something like music, with no words: a chord per half second (I-V-vi-IV in C)."""
    chords = [
        (261.6, 329.6, 392.0),
        (392.0, 493.9, 587.3),
        (440.0, 523.3, 659.3),
        (349.2, 440.0, 523.3),
    ]

    def sample(index: int) -> float:
        t = index / RATE
        chord = chords[int(t * 2) % len(chords)]
        envelope = math.exp(-3 * (t * 2 % 1))  # each chord struck, then fading
        return amplitude * envelope * sum(math.sin(2 * math.pi * f * t) for f in chord) / 3

    return _write_flac(path, _pcm_frames(sample(i) for i in range(int(seconds * RATE))))


def speech_video(
    path: Path,
    text: str,
    *,
    voice: str = "en-us",
    speed: int = 150,
    size: tuple[int, int] = (160, 120),
    rate: int = 10,
) -> Path:
    """An MP4: `text` spoken by espeak-ng as 48 kHz AAC, over a small H.264 picture as long."""
    wav = speak(text, path.with_suffix(".speech.wav"), voice=voice, speed=speed)
    seconds = audio_seconds(wav)
    with av.open(str(path), "w") as output:
        video = output.add_stream("libx264", rate=rate)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        audio = output.add_stream("aac", rate=48000, layout="mono")
        for index in range(math.ceil(seconds * rate)):
            colour = (index * 9 % 256, 90, 160)
            frame = av.VideoFrame.from_image(Image.new("RGB", size, colour))
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        # The AAC encoder takes frames of its own size: the audio FIFO cuts them.
        fifo = av.AudioFifo()
        frame_size = audio.codec_context.frame_size or 1024
        for frame in itertools.chain(_decoded(wav, rate=48000, sample_format="fltp"), [None]):
            if frame is not None:
                frame.pts = None
                fifo.write(frame)
            partial = frame is None
            while (chunk := fifo.read(frame_size, partial=partial)) is not None:
                output.mux(audio.encode(chunk))
        output.mux(audio.encode(None))
    wav.unlink()
    return path


def _words(text: str) -> list[str]:
    """Lower case words, punctuation dropped ("It's" is "its")."""
    return re.sub(r"[^\w]+", " ", text.lower().replace("'", "")).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, case and punctuation ignored."""
    ref, hyp = _words(reference), _words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))  # word-level Levenshtein, one row at a time
    for i, word in enumerate(ref, start=1):
        current = [i]
        for j, other in enumerate(hyp, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1] / len(ref)
