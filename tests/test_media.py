"""app/pipeline/media.py: the container sniff, and FFmpeg in its sandboxed child process."""

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.pipeline import media as app_media
from tests.support import media

SANDBOX = app_media.Sandbox(memory_mb=1024, cpu_seconds=30, timeout_seconds=60)


def probe(path: Path, **limits):
    return app_media.probe(path, SANDBOX, max_seconds=limits.get("max_seconds", 100), max_side=8192)


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (b"\x00\x00\x00\x20ftypisom" + bytes(20), "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  " + bytes(20), "video/quicktime"),
        (b"\x00\x00\x00\x08moov" + bytes(20), "video/mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "video/x-msvideo"),
        (b"FLV\x01\x05" + bytes(20), "video/x-flv"),
        ((b"\x47" + bytes(187)) * 3, "video/mp2t"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"\x47" + bytes(300), None),  # one sync byte is no transport stream
        (b"#EXTM3U\n", None),
        (b"ffconcat version 1.0\n", None),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), None),
        (b"", None),
    ],
)
def test_sniff_knows_the_video_containers_and_nothing_else(head, content_type):
    assert app_media.sniff(head) == content_type


def test_the_sniff_agrees_with_generated_files(tmp_path):
    assert app_media.sniff(media.mp4(tmp_path / "a.mp4").read_bytes()[:512]) == "video/mp4"
    assert app_media.sniff(media.webm(tmp_path / "a.webm").read_bytes()[:512]) == "video/webm"


def test_probe_reads_the_metadata_of_a_generated_clip(tmp_path):
    info = probe(media.mp4(tmp_path / "a.mp4", seconds=1, size=(160, 90), rate=10))

    assert info["duration_seconds"] == pytest.approx(1.0, abs=0.1)
    assert (info["width"], info["height"], info["fps"]) == (160, 90, 10.0)
    assert (info["video_codec"], info["audio_codec"], info["has_audio"]) == ("h264", "aac", True)


@contextmanager
def watched_fifo(path: Path) -> Iterator[list[str]]:
    """A named pipe that records whether anybody opened it for reading meanwhile."""
    os.mkfifo(path)
    opened: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:  # succeeds only while a reader has the pipe open
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                opened.append("read")
                return
            except OSError:
                time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield opened
    finally:
        stop.set()
        watcher.join()


@pytest.mark.parametrize("make", [media.hls_playlist, media.ffconcat], ids=["hls", "ffconcat"])
@pytest.mark.parametrize("name", ["playlist.mp4", "playlist.m3u8"])
def test_a_playlist_given_to_the_probe_directly_never_reads_what_it_points_at(tmp_path, make, name):
    """Past the upload's sniff (as a link's body might be), a playlist still never makes
    FFmpeg open the file it names: here a pipe that notices any reader."""
    target = tmp_path / "target.ts"
    with watched_fifo(target) as opened, pytest.raises(app_media.MediaError) as refused:
        probe(make(tmp_path / name, target))

    assert refused.value.code == "unsupported_media"
    assert opened == []


@pytest.mark.parametrize("make", [media.hls_playlist, media.ffconcat], ids=["hls", "ffconcat"])
def test_ffmpeg_itself_refuses_playlist_demuxers_even_past_the_sniff(tmp_path, make):
    """The second wall: the demuxer whitelist, without the child's own sniff in front."""
    target = media.mp4(tmp_path / "target.mp4")
    playlist = make(tmp_path / "list.m3u8", target)

    with pytest.raises(app_media.MediaError) as refused:
        app_media.open_container(str(playlist))

    assert refused.value.code == "unsupported_media"
    with app_media.open_container(str(target)) as container:  # the target itself opens fine
        assert container.streams.video


def test_a_child_killed_by_its_memory_limit_is_unreadable_media_not_a_crash(tmp_path):
    tiny = app_media.Sandbox(memory_mb=64, cpu_seconds=30, timeout_seconds=60)

    with pytest.raises(app_media.MediaError) as failed:
        app_media.probe(media.mp4(tmp_path / "a.mp4"), tiny, max_seconds=100, max_side=8192)

    assert failed.value.code == "unreadable_media"


def test_the_thumbnail_is_a_jpeg_of_at_most_640_pixels(tmp_path):
    source = media.mp4(tmp_path / "a.mp4", size=(1280, 720), seconds=1)
    output = tmp_path / "thumb.jpg"

    app_media.thumbnail(source, output, SANDBOX, at_seconds=0.5)

    from PIL import Image

    with Image.open(output) as image:
        assert image.format == "JPEG" and image.size == (640, 360)
