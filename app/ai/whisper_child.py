"""The child process of `app.ai.local_whisper`: loads a faster-whisper model once, then answers
transcription requests, one JSON message per line on each pipe.

    python -m app.ai.whisper_child MODEL CPU_THREADS NICENESS

MODEL is a model directory (the parent sets HF_HUB_OFFLINE=1 then) or a name faster-whisper may
download. Out on stdout: `{"ready": {"load_seconds": s}}` once loaded (or an error, then exit);
for each request line `{"audio": path, "language": code|null, "beam_size": n}`,
`{"progress": seconds_done}` lines as segments come, then `{"ok": {"language", "duration",
"segments"}}` or `{"error": {"code", "message"}}`. Anything else written to file descriptor 1
goes to stderr. Exits at the end of stdin, or as soon as its parent is gone.
"""

import json
import logging
import os
import sys
import threading
import time
from typing import IO, Any

logger = logging.getLogger("app.ai.whisper_child")

# Whisper hallucinates on silence ("you") and loops on its own output; Silero VAD (an ONNX file
# inside faster-whisper's wheel) drops the stretches without speech first, and each window is
# decoded without the previous one's text as a prompt.
DECODE_OPTIONS: dict[str, Any] = {
    "word_timestamps": True,
    "vad_filter": True,
    "condition_on_previous_text": False,
}
COMPUTE_TYPE = "int8"  # on CPU: 1.7x the speed of float32 for the same words (tiny.en)


def _protocol_stream() -> IO[str]:
    """The protocol's own copy of stdout; fd 1 then points at stderr, so that nothing a library
    prints can corrupt the protocol."""
    stream = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def _exit_with_parent() -> None:
    """A parent that dies mid-request never closes our stdin in time: watch for it."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _transcribe(model: Any, request: dict[str, Any], send: Any) -> dict[str, Any]:
    segments, info = model.transcribe(
        request["audio"],
        language=request.get("language"),
        beam_size=int(request.get("beam_size", 1)),
        **DECODE_OPTIONS,
    )
    result = []
    for segment in segments:  # a generator: each segment is decoded as it is asked for
        words = [
            {"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
            for w in segment.words or []
        ]
        result.append(
            {"start": segment.start, "end": segment.end, "text": segment.text, "words": words}
        )
        send({"progress": segment.end})
    send({"progress": info.duration})
    return {"language": info.language, "duration": info.duration, "segments": result}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def main(argv: list[str]) -> int:
    model_ref, threads, niceness = argv[0], int(argv[1]), int(argv[2])
    logging.basicConfig(format="whisper_child %(levelname)s: %(message)s")
    out = _protocol_stream()
    _exit_with_parent()
    os.nice(niceness)

    def send(message: dict[str, Any]) -> None:
        try:
            out.write(json.dumps(message) + "\n")
        except BrokenPipeError:  # the parent is gone, or gave up on us
            os._exit(1)

    started = time.monotonic()
    try:
        import av
        from faster_whisper import WhisperModel

        model = WhisperModel(
            model_ref, device="cpu", compute_type=COMPUTE_TYPE, cpu_threads=threads, num_workers=1
        )
    except Exception:
        logger.exception("Loading the Whisper model %s failed", model_ref)
        send(_error("provider_unavailable", "The local speech-to-text model could not be loaded"))
        return 1
    load_seconds = round(time.monotonic() - started, 3)
    send({"ready": {"load_seconds": load_seconds}})

    for line in sys.stdin:
        try:
            answer = {"ok": _transcribe(model, json.loads(line), send)}
        except (av.error.FFmpegError, OSError):
            logger.exception("Decoding the audio failed")
            answer = _error("provider_rejected", "The audio could not be decoded")
        except Exception as error:
            logger.exception("Transcription failed")
            message = f"The local speech-to-text model failed ({type(error).__name__})"
            answer = _error("provider_unavailable", message)
        send(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
