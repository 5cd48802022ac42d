"""Test media, generated at test time with PyAV (nothing is committed)."""

import math
import struct
from pathlib import Path

import av
from PIL import Image


def make_video(
    path: Path,
    *,
    seconds: float = 2,
    size: tuple[int, int] = (320, 240),
    rate: int = 25,
    video_codec: str | None = "libx264",
    audio_codec: str | None = "aac",
    container: str | None = None,
    codec_options: dict[str, str] | None = None,
) -> Path:
    """A short clip with a colour ramp and a sine tone; either stream may be left out."""
    with av.open(str(path), "w", format=container) as output:
        video = output.add_stream(video_codec, rate=rate) if video_codec else None
        if video is not None:
            video.options = codec_options or {}
            video.width, video.height = size
            video.pix_fmt = "yuv420p"
        audio = output.add_stream(audio_codec, rate=48000, layout="mono") if audio_codec else None
        if video is not None:
            for index in range(int(seconds * rate)):
                colour = (index * 7 % 256, 120, 200 - index % 100)
                frame = av.VideoFrame.from_image(Image.new("RGB", size, colour))
                output.mux(video.encode(frame))
            output.mux(video.encode(None))
        if audio is not None:
            samples = audio.codec_context.frame_size or 1024
            for start in range(0, int(seconds * 48000), samples):
                frame = av.AudioFrame(format="fltp", layout="mono", samples=samples)
                tone = [0.3 * math.sin((start + k) / 10) for k in range(samples)]
                frame.planes[0].update(struct.pack(f"{samples}f", *tone))
                frame.sample_rate, frame.pts = 48000, start
                output.mux(audio.encode(frame))
            output.mux(audio.encode(None))
    return path


def mp4(path: Path, **options) -> Path:
    return make_video(path, **options)


def webm(path: Path, **options) -> Path:
    return make_video(path, video_codec="libvpx-vp9", audio_codec="libopus", **options)


def mp4_without_audio(path: Path) -> Path:
    return make_video(path, audio_codec=None)


def audio_only(path: Path) -> Path:
    """An MP4 (M4A) with sound and no picture."""
    return make_video(path, video_codec=None, container="mp4")


def truncated(path: Path) -> Path:
    """The first half of an MP4: its index (written at the end) is missing."""
    whole = make_video(path.with_suffix(".whole.mp4")).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def hls_playlist(path: Path, target: Path) -> Path:
    """A playlist named like a video that points at another local file."""
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{target}\n#EXT-X-ENDLIST\n")
    return path


def ffconcat(path: Path, target: Path) -> Path:
    path.write_text(f"ffconcat version 1.0\nfile '{target}'\n")
    return path
