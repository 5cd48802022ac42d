"""An OpenAI-compatible server of our own for the provider tests (FastAPI + uvicorn).

Run as its own process on 127.0.0.1 (`python -m tests.support.openai_server --port N`, or this
file's path), stopped by its process id; `openai_server()` does both. Endpoints:

  POST /v1/audio/transcriptions  multipart (file, model, response_format,
                                 timestamp_granularities[], language): a verbose_json transcript
                                 made up from the audio itself: one segment per stretch of
                                 sound (" segment 1", " segment 2", ... counted within the
                                 upload), two words each, `duration` = the decoded duration
  POST /v1/chat/completions      JSON (model, messages, response_format): a chat completion
                                 whose content is scripted (default: "fake answer"); the
                                 request's JSON body is recorded as `json`
  POST /_control/script          {"endpoint": "audio/transcriptions" | "chat/completions",
                                  "responses": [plan, ...]}: the next answers, one per request
  GET  /_control/requests        what was received, in order
  POST /_control/reset           forget scripts and requests

A plan is a dict; any of:
  status, headers       the answer's status (default 200) and extra headers
  echo_auth             the body's error message repeats the Authorization header (a leaky
                        server: proves we never copy a provider's body into our messages)
  hang                  seconds to wait before answering
  body, content_type    this raw body instead of JSON (e.g. "{not json")
  json                  this JSON body instead of the made-up one
  omit, set             keys dropped from / set in the made-up transcript ("words",
                        "segments", "text", {"language": "english"}, {"usage": {...}})
  content, usage        chat: the message content and usage
  summarize             chat: the content is a summary made up from the request, valid for
                        app/ai/openai_summarize.py: chapters at the first and the middle
                        `[mm:ss]`/`[h:mm:ss]` mark of the <transcript> block, in seconds
                        (none without one), keywords ["alpha", "beta"]
A status >= 400 without `body`/`json` answers OpenAI's error shape.
"""

import argparse
import asyncio
import io
import json
import re
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

DEFAULT_API_KEY = "sk-test-secret-123"
ENDPOINTS = ("audio/transcriptions", "chat/completions")
RATE = 16000
WINDOW = RATE // 50  # 20 ms
VOICED_RMS = 300  # int16 RMS above which a window has sound (about -40 dBFS)
MERGE_GAP = 0.3  # seconds of quiet that still belong to one stretch


def made_up_segments(audio: bytes) -> tuple[float, list[tuple[float, float]]]:
    """The decoded duration and the (start, end) of each stretch of sound."""
    samples = []
    with av.open(io.BytesIO(audio)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            samples.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        samples.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    pcm = np.concatenate(samples) if samples else np.empty(0, dtype=np.int16)
    windows = len(pcm) // WINDOW
    energy = np.sqrt(
        np.square(pcm[: windows * WINDOW].astype(np.float32)).reshape(windows, WINDOW).mean(axis=1)
    )
    stretches: list[tuple[float, float]] = []
    for index in np.flatnonzero(energy > VOICED_RMS):
        start, end = index * WINDOW / RATE, (index + 1) * WINDOW / RATE
        if stretches and start - stretches[-1][1] <= MERGE_GAP:
            stretches[-1] = (stretches[-1][0], end)
        else:
            stretches.append((start, end))
    return len(pcm) / RATE, stretches


def transcript(audio: bytes, language: str | None) -> dict[str, Any]:
    """OpenAI's verbose_json for the made-up speech in `audio`."""
    duration, stretches = made_up_segments(audio)
    segments, words = [], []
    for number, (start, end) in enumerate(stretches, 1):
        text = f" segment {number}"
        middle = round((start + end) / 2, 3)
        segments.append(
            {
                "id": number - 1,
                "seek": 0,
                "start": round(start, 3),
                "end": round(end, 3),
                "text": text,
                "tokens": [50364, number],
                "temperature": 0.0,
                "avg_logprob": -0.1,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.01,
            }
        )
        words += [
            {"word": " segment", "start": round(start, 3), "end": middle},
            {"word": f" {number}", "start": middle, "end": round(end, 3)},
        ]
    return {
        "task": "transcribe",
        "language": language or "en",
        "duration": duration,
        "text": "".join(segment["text"] for segment in segments).strip(),
        "segments": segments,
        "words": words,
        "usage": {"type": "duration", "seconds": int(duration + 0.999)},
    }


MARK = re.compile(r"^\[(?:(\d+):)?(\d+):(\d\d)\]", re.MULTILINE)


def made_up_summary(payload: dict[str, Any]) -> str:
    """A summary answer to a chat request: chapters at its transcript's first and middle marks."""
    user = " ".join(
        str(m.get("content", "")) for m in payload.get("messages", []) if m.get("role") == "user"
    )
    block = re.search(r"<transcript>(.*)</transcript>", user, re.DOTALL)
    marks = MARK.findall(block.group(1)) if block else []
    seconds = [int(h or 0) * 3600 + int(m) * 60 + int(s) for h, m, s in marks]
    chosen = sorted({seconds[0], seconds[len(seconds) // 2]}) if seconds else []
    chapters = [{"start": start, "title": f"Chapter at {start} s"} for start in chosen]
    what = f"{len(seconds)} lines" if block else "the parts"
    return json.dumps(
        {"summary": f"A summary of {what}.", "chapters": chapters, "keywords": ["alpha", "beta"]}
    )


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def create_app(api_key: str, *, summaries: bool = False) -> FastAPI:
    """`summaries`: unscripted chat requests get a valid made-up summary (for `make run`)."""
    app = FastAPI()
    scripts: dict[str, deque[dict[str, Any]]] = {name: deque() for name in ENDPOINTS}
    received: list[dict[str, Any]] = []

    async def record(request: Request, endpoint: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Note the request (minus the Authorization value) and take its plan."""
        authorization = request.headers.get("authorization")
        entry: dict[str, Any] = {
            "path": request.url.path,
            "time": time.time(),
            "headers": {k: v for k, v in request.headers.items() if k != "authorization"},
            "authorization_sent": authorization is not None,
            "authorization_ok": authorization == f"Bearer {api_key}",
        }
        received.append(entry)
        return entry, scripts[endpoint].popleft() if scripts[endpoint] else {}

    async def planned(plan: dict[str, Any], authorization: str | None) -> Response | None:
        """The scripted answer (after its `hang`), or None to make the ordinary one."""
        if plan.get("hang"):
            await asyncio.sleep(plan["hang"])
        status, headers = plan.get("status", 200), plan.get("headers", {})
        if "body" in plan:
            media = plan.get("content_type", "application/json")
            return Response(plan["body"], status, headers, media_type=media)
        if "json" in plan:
            return JSONResponse(plan["json"], status, headers)
        if status >= 400:
            message = f"scripted {status}"
            if plan.get("echo_auth"):
                message = f"Incorrect API key provided: {authorization}"
            return JSONResponse(error_body(status, message), status, headers)
        return None

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        entry, plan = await record(request, "audio/transcriptions")
        form = await request.form()
        upload = form.get("file")
        data = await upload.read() if upload is not None and not isinstance(upload, str) else b""
        entry["form"] = {key: form.getlist(key) for key in form if key != "file"}
        entry["file"] = {
            "filename": getattr(upload, "filename", None),
            "content_type": getattr(upload, "content_type", None),
            "size": len(data),
        }
        answer = await planned(plan, request.headers.get("authorization"))
        if answer is not None:
            return answer
        if not entry["authorization_ok"]:
            return JSONResponse(error_body(401, "Incorrect API key provided"), 401)
        try:
            body = await asyncio.to_thread(transcript, data, form.get("language") or None)
        except (av.FFmpegError, ValueError, IndexError):
            return JSONResponse(error_body(400, "Invalid file format."), 400)
        for key in plan.get("omit", []):
            body.pop(key, None)
        body.update(plan.get("set", {}))
        return JSONResponse(body, headers=plan.get("headers", {}))

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        entry, plan = await record(request, "chat/completions")
        payload = await request.json()
        entry["json"] = payload
        answer = await planned(plan, request.headers.get("authorization"))
        if answer is not None:
            return answer
        if not entry["authorization_ok"]:
            return JSONResponse(error_body(401, "Incorrect API key provided"), 401)
        made_up = plan.get("summarize", summaries)
        content = made_up_summary(payload) if made_up else "fake answer"
        content = plan.get("content", content)
        prompt = sum(len(str(m.get("content", ""))) for m in payload.get("messages", []))
        usage = plan.get(
            "usage",
            {
                "prompt_tokens": prompt // 4 + 1,
                "completion_tokens": len(content or "") // 4 + 1,
                "total_tokens": prompt // 4 + len(content or "") // 4 + 2,
            },
        )
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(received)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": payload.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            },
            headers=plan.get("headers", {}),
        )

    @app.post("/_control/script")
    async def script(request: Request) -> dict[str, int]:
        payload = await request.json()
        scripts[payload.get("endpoint", "audio/transcriptions")].extend(payload["responses"])
        return {"queued": sum(len(queue) for queue in scripts.values())}

    @app.get("/_control/requests")
    async def requests() -> list[dict[str, Any]]:
        return received

    @app.post("/_control/reset")
    async def reset() -> dict[str, bool]:
        received.clear()
        for queue in scripts.values():
            queue.clear()
        return {"reset": True}

    return app


class OpenAIServer:
    """A running server: its base URL (…/v1), key, and control channel."""

    def __init__(self, port: int, api_key: str, service: Any) -> None:
        self.port = port
        self.api_key = api_key
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"
        self.service = service

    def script(self, responses: list[dict[str, Any]], endpoint: str = ENDPOINTS[0]) -> None:
        """Queue the next answers of `endpoint`, one per request; then the ordinary ones."""
        answer = httpx.post(
            f"{self.url}/_control/script",
            json={"endpoint": endpoint, "responses": responses},
            timeout=5,
        )
        answer.raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/_control/requests", timeout=5)
        answer.raise_for_status()
        return answer.json()

    def reset(self) -> None:
        httpx.post(f"{self.url}/_control/reset", timeout=5).raise_for_status()

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/_control/requests", timeout=1).status_code == 200
        except httpx.TransportError:
            return False


@contextmanager
def openai_server(
    api_key: str = DEFAULT_API_KEY, log: Path | None = None
) -> Iterator[OpenAIServer]:
    """Start the server in its own process on a free port, yield it, stop it."""
    # Imported here: run as a script, the server itself does not see the `tests` package.
    from tests.support.live import free_port
    from tests.support.services import Service

    port = free_port()
    command = [sys.executable, __file__, "--port", str(port), "--api-key", api_key]
    service = Service(command, f"http://127.0.0.1:{port}", port, log)
    server = OpenAIServer(port, api_key, service)
    service.start(server.ready)
    try:
        yield server
    finally:
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument(
        "--summaries", action="store_true", help="answer every chat request with a summary"
    )
    arguments = parser.parse_args()
    uvicorn.run(
        create_app(arguments.api_key, summaries=arguments.summaries),
        host=arguments.host,
        port=arguments.port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()
