"""What a video file is: its container from the first bytes, its metadata and a thumbnail.

FFmpeg (inside PyAV's wheel) opens the file in a child process with a memory limit, a CPU limit
and a wall-clock timeout, because a corrupt file can crash or exhaust it. The child reads only
local files (`protocol_whitelist=file`) through the demuxers of the containers we accept
(`format_whitelist`), so a playlist or concat file dressed as a video can never make it read
another file or a URL. Declared duration and dimensions are checked before anything is decoded.
"""

import errno
import itertools
import json
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Not app.db.ROOT: the child imports this module alone, and should start fast.
ROOT = Path(__file__).resolve().parents[2]  # the repository: `python -m app.pipeline.media`
SNIFF_BYTES = 512
# FFmpeg demuxer names of the containers the upload check lets in.
DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv"
_ISO_BMFF_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"}
_TS_PACKET = 188
THUMBNAIL_SIZE = (640, 640)
# The transcription phase's input: what speech models take.
AUDIO_RATE = 16000
AUDIO_LAYOUT = "mono"
# A full disk or quota where the child writes its output: the job fails `storage_full`.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class MediaError(Exception):
    """A video that cannot be used; `code` is one of the contract's error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _no_room() -> MediaError:
    return MediaError("storage_full", "The server's storage is full; try again later")


def sniff(head: bytes) -> str | None:
    """The content type of a known video container from a file's first bytes, else None."""
    if len(head) >= 12 and head[4:8] in _ISO_BMFF_BOXES:
        return "video/quicktime" if head[4:12] == b"ftypqt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"FLV\x01"):
        return "video/x-flv"
    if len(head) > 2 * _TS_PACKET and all(head[i] == 0x47 for i in (0, 188, 376)):
        return "video/mp2t"
    return None


@dataclass(frozen=True)
class Sandbox:
    memory_mb: int
    cpu_seconds: int
    timeout_seconds: float


def probe(path: Path, sandbox: Sandbox, *, max_seconds: float, max_side: int) -> dict[str, Any]:
    """The video's metadata (VideoSource field names); MediaError if it cannot be used."""
    return _run_child(sandbox, "probe", str(path), str(max_seconds), str(max_side))


def thumbnail(path: Path, output: Path, sandbox: Sandbox, *, at_seconds: float) -> None:
    """Decode one keyframe near `at_seconds` and write it as a JPEG to `output`."""
    _run_child(sandbox, "thumbnail", str(path), str(output), str(at_seconds))


def extract_audio(path: Path, output: Path, sandbox: Sandbox) -> dict[str, Any]:
    """Write the first audio stream as 16 kHz mono FLAC to `output`: its `duration_seconds`
    and its `peak` sample (0..1 of full scale)."""
    return _run_child(sandbox, "extract_audio", str(path), str(output))


def _run_child(sandbox: Sandbox, *args: str) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "app.pipeline.media",
        str(sandbox.memory_mb),
        str(sandbox.cpu_seconds),
    ]
    try:
        finished = subprocess.run(
            [*command, *args],
            cwd=ROOT,
            capture_output=True,
            timeout=sandbox.timeout_seconds,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:  # run() has killed the child
        raise MediaError("unreadable_media", "Reading the file took too long") from None
    lines = finished.stdout.decode(errors="replace").strip().splitlines()
    answer = json.loads(lines[-1]) if finished.returncode == 0 and lines else None
    if answer is None:  # killed by a limit or crashed inside FFmpeg
        raise MediaError("unreadable_media", "The file could not be read")
    if "error" in answer:
        raise MediaError(answer["error"]["code"], answer["error"]["message"])
    return answer["ok"]


# ---- what runs in the child process --------------------------------------------------------


def _limit(memory_mb: int, cpu_seconds: int) -> None:
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _check_container(path: str) -> None:
    """The upload checked this already; a downloaded file or any later path gets it too."""
    with open(path, "rb") as file:
        if sniff(file.read(SNIFF_BYTES)) is None:
            raise MediaError("unsupported_media", "Not a supported video container")


def open_container(path: str) -> Any:
    """FFmpeg on a local file, through the accepted containers' demuxers only."""
    import av

    options = {"protocol_whitelist": "file", "format_whitelist": DEMUXERS}
    try:
        return av.open(path, options=options, timeout=None)
    except av.error.ArgumentError:  # no whitelisted demuxer recognised it: a playlist, a text
        raise MediaError("unsupported_media", "Not a supported video container") from None
    except (av.error.FFmpegError, OSError):
        raise MediaError("unreadable_media", "The file is truncated or corrupt") from None


def _number(value: Any) -> float | None:
    return float(value) if value is not None and value > 0 else None


def _probe(path: str, max_seconds: str, max_side: str) -> dict[str, Any]:
    _check_container(path)
    with open_container(path) as container:
        if not container.streams.video:
            raise MediaError("no_video_stream", "The file has no video stream")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = container.duration / 1_000_000 if container.duration else None
        if duration is None and video.duration and video.time_base:
            duration = float(video.duration * video.time_base)
        if duration is not None and duration > float(max_seconds):
            raise MediaError("duration_exceeded", f"Longer than {float(max_seconds):g} seconds")
        width, height = video.codec_context.width or None, video.codec_context.height or None
        if max(width or 0, height or 0) > int(max_side):
            raise MediaError("dimensions_exceeded", f"A side is over {max_side} pixels")
        return {
            "duration_seconds": duration,
            "width": width,
            "height": height,
            "fps": _number(video.average_rate or video.guessed_rate),
            "video_codec": video.codec_context.name,
            "audio_codec": audio.codec_context.name if audio else None,
            "has_audio": audio is not None,
        }


def _first_keyframe(container: Any, stream: Any) -> Any:
    for frame in container.decode(stream):
        return frame
    return None


def _thumbnail(path: str, output: str, at_seconds: str) -> dict[str, Any]:
    import av

    _check_container(path)
    with open_container(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"  # decode keyframes only
        frame = None
        try:
            if float(at_seconds) > 0 and stream.time_base:
                container.seek(int(float(at_seconds) / stream.time_base), stream=stream)
                frame = _first_keyframe(container, stream)
            if frame is None:
                container.seek(0, stream=stream)
                frame = _first_keyframe(container, stream)
        except av.error.FFmpegError:
            frame = None
        if frame is None:
            raise MediaError("unreadable_media", "No frame of the video could be decoded")
        image = frame.to_image()
        image.thumbnail(THUMBNAIL_SIZE)
        image.save(output, "JPEG", quality=85)
    return {}


def _extract_audio(path: str, output: str) -> dict[str, Any]:
    """Decode the first audio stream, resample it to 16 kHz mono s16 and encode FLAC; its
    length, and its loudest sample (0..1 of full scale: 0 is digital silence)."""
    import av
    import numpy

    _check_container(path)
    with open_container(path) as container:
        if not container.streams.audio:
            raise MediaError("no_audio_stream", "The video has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout=AUDIO_LAYOUT, rate=AUDIO_RATE)
        samples, peak = 0, 0
        try:
            with av.open(output, "w", format="flac") as flac:
                encoder = flac.add_stream("flac", rate=AUDIO_RATE, layout=AUDIO_LAYOUT)
                encoder.format = "s16"
                # One frame at a time; None at the end flushes the resampler.
                for frame in itertools.chain(container.decode(stream), [None]):
                    for resampled in resampler.resample(frame):
                        samples += resampled.samples
                        loudest = numpy.abs(resampled.to_ndarray().astype(numpy.int32)).max()
                        peak = max(peak, int(loudest))
                        flac.mux(encoder.encode(resampled))
                flac.mux(encoder.encode(None))
        except av.error.FFmpegError as error:
            if getattr(error, "errno", None) in _FULL_ERRNOS:  # writing the FLAC
                raise _no_room() from None
            raise MediaError("unreadable_media", "The audio could not be decoded") from None
        if samples == 0:
            raise MediaError("unreadable_media", "The audio stream holds no sound")
    return {"duration_seconds": samples / AUDIO_RATE, "peak": peak / 32768}


def _child(argv: list[str]) -> None:
    memory_mb, cpu_seconds, action, *args = argv
    _limit(int(memory_mb), int(cpu_seconds))
    try:
        actions = {"probe": _probe, "thumbnail": _thumbnail, "extract_audio": _extract_audio}
        result = actions[action](*args)
        answer: dict[str, Any] = {"ok": result}
    except MediaError as error:
        answer = {"error": {"code": error.code, "message": error.message}}
    except MemoryError:
        answer = {
            "error": {"code": "unreadable_media", "message": "The file needs too much memory"}
        }
    except OSError as error:  # writing the output (a thumbnail's JPEG) found no room
        if error.errno not in _FULL_ERRNOS:
            raise
        room = _no_room()
        answer = {"error": {"code": room.code, "message": room.message}}
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1:])
