"""The `transcribe` job through the API with the embedded worker: the real local model on speech
espeak-ng makes at test time, and an OpenAI-compatible server of our own (tests/support/
openai_server.py) driven through the real `openai` package. Every case checks the money: charged
once, refunded once when the job does not succeed, nothing charged when the request is refused.
"""

import io
import json
import time
from pathlib import Path

import av
import pytest
import srt
import webvtt
from sqlmodel import Session, select

from app import crud
from app.models import AIUsageLog, Transcript
from tests.support import media
from tests.support.credits import (
    assert_ledger_balanced,
    balance,
    history,
    ready_video,
    wait_for_job,
)
from tests.support.openai_server import openai_server
from tests.support.speech import have_espeak, speech_video, word_error_rate
from tests.support.utils import bearer
from tests.support.videos import stored_files, user_token

pytestmark = pytest.mark.skipif(
    not have_espeak(), reason="espeak-ng is missing (make test installs it)"
)

SPEECH = (
    "Good morning and welcome to the weekly meeting. Today we will talk about the new video "
    "service and the plans for next month."
)
# The job's word error rate on this sentence with tiny.en: measured 0.0 (see docs/phase-3-ai.md).
MAX_WORD_ERROR_RATE = 0.2
KEY = "sk-test-secret-key-4f7a"


def transcribe(client, token, video_id, options=None, **kw):
    body = {"kind": "transcribe", **({"options": options} if options is not None else {})}
    headers = {**bearer(token), **kw.pop("headers", {})}
    return client.post(f"/videos/{video_id}/jobs", json=body, headers=headers, **kw)


def usage_rows(client) -> list[AIUsageLog]:
    with Session(client.app.state.engine) as session:
        return list(session.exec(select(AIUsageLog).order_by(AIUsageLog.id)).all())


def transcript_rows(client) -> list[Transcript]:
    with Session(client.app.state.engine) as session:
        return list(session.exec(select(Transcript).order_by(Transcript.id)).all())


@pytest.fixture(scope="module")
def speech_clip(tmp_path_factory) -> Path:
    return speech_video(tmp_path_factory.mktemp("speech") / "speech.mp4", SPEECH)


@pytest.fixture
def client(make_video_client):
    yield (client := make_video_client(default_credits=10))
    assert_ledger_balanced(client.app.state.engine)


@pytest.fixture
def token(client) -> str:
    return user_token(client)


# ---- the local model (the default: nothing configured, no network)


def test_a_video_with_speech_is_transcribed_by_the_local_model_and_captioned(
    client, token, speech_clip
):
    video = ready_video(client, token, speech_clip)
    minutes = 1  # the clip is under a minute: 1 started minute x PRICE_TRANSCRIBE_PER_MINUTE (2)

    response = transcribe(client, token, video["id"], {"language": "en"})

    assert response.status_code == 202, response.text
    created = response.json()
    assert (created["kind"], created["credits_charged"]) == ("transcribe", 2 * minutes)
    assert balance(client, token) == 8
    events = client.get(f"/jobs/{created['id']}/events", headers=bearer(token))
    stages = [
        json.loads(line[6:])["stage"]
        for line in events.text.splitlines()
        if line.startswith("data: ")
    ]
    job = wait_for_job(client, token, created["id"])
    assert job["status"] == "succeeded", job
    assert stages[-1] == "storing" and "transcribing" in stages, stages

    transcript = client.get(f"/videos/{video['id']}/transcript", headers=bearer(token)).json()
    assert (transcript["video_id"], transcript["job_id"]) == (video["id"], job["id"])
    assert (transcript["provider"], transcript["model"], transcript["language"]) == (
        "local",
        "tiny.en",
        "en",
    )
    assert word_error_rate(SPEECH, transcript["text"]) <= MAX_WORD_ERROR_RATE, transcript["text"]
    duration = transcript["duration_seconds"]
    assert duration == pytest.approx(video["duration_seconds"], abs=0.2)
    times = [t for s in transcript["segments"] for t in (s["start"], s["end"])]
    assert times == sorted(times) and times[0] >= 0 and times[-1] <= duration
    words = [w for s in transcript["segments"] for w in s["words"]]
    assert len(words) >= 15 and all(
        s["start"] <= w["start"] <= w["end"] <= s["end"]
        for s in transcript["segments"]
        for w in s["words"]
    )

    result = client.get(job["result_url"], headers=bearer(token))
    assert result.headers["content-type"] == "application/json"
    assert result.json() == transcript  # the job's result is the same Transcript

    vtt = client.get(f"/videos/{video['id']}/captions", headers=bearer(token))
    assert vtt.status_code == 200 and vtt.headers["content-type"] == "text/vtt; charset=utf-8"
    cues = webvtt.from_buffer(io.StringIO(vtt.text))
    assert cues and all(len(line) <= 42 for c in cues for line in c.text.splitlines())
    spoken = " ".join(c.text.replace("\n", " ") for c in cues)
    assert word_error_rate(transcript["text"], spoken) == 0.0
    subrip = client.get(f"/videos/{video['id']}/captions?format=srt", headers=bearer(token))
    assert subrip.headers["content-type"] == "application/x-subrip; charset=utf-8"
    parsed = list(srt.parse(subrip.text))
    assert len(parsed) == len(cues)
    assert all(a.end <= b.start for a, b in zip(parsed, parsed[1:], strict=False))

    found = client.get("/search?q=weekly", headers=bearer(token)).json()["data"]
    assert [(hit["video_id"], hit["job_id"]) for hit in found] == [(video["id"], job["id"])]
    [(start, end)] = found[0]["highlights"]
    assert found[0]["text"][start:end].lower() == "weekly"

    [usage] = client.get("/me/ai-usage", headers=bearer(token)).json()["data"]
    assert (usage["provider"], usage["model"], usage["job_id"]) == ("local", "tiny.en", job["id"])
    assert (usage["tokens_input"], usage["tokens_output"]) == (0, 0)
    assert usage["audio_seconds"] == pytest.approx(duration, abs=0.01)
    assert history(client, token)[0] == ("charge", -2, 8, job["id"])


def test_job_kinds_lists_transcribe_with_its_price_provider_and_languages(client, token):
    kinds = {k["kind"]: k for k in client.get("/job-kinds", headers=bearer(token)).json()}

    assert kinds["transcribe"] == {
        "kind": "transcribe",
        "description": kinds["transcribe"]["description"],
        "price_per_minute": 2,
        "available": True,
        "provider": "local",
        "model": "tiny.en",
        "languages": ["en"],
    }
    assert kinds["extract_audio"]["price_per_minute"] == 1 and "ingest" not in kinds
    assert client.get("/job-kinds").status_code == 401


def test_a_video_without_audio_is_409_and_nothing_is_charged(client, token, tmp_path):
    video = ready_video(client, token, media.mp4_without_audio(tmp_path / "mute.mp4"))

    response = transcribe(client, token, video["id"])

    assert (response.status_code, response.json()) == (409, {"detail": "Video has no audio"})
    assert balance(client, token) == 10
    jobs = client.get(f"/videos/{video['id']}/jobs", headers=bearer(token)).json()["data"]
    assert [job["kind"] for job in jobs] == ["ingest"]


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({"language": "fr"}, ["body", "options", "language"]),  # tiny.en knows English only
        ({"language": "english"}, ["body", "options", "language"]),  # not ISO 639-1
        ({"speakers": 2}, ["body", "options", "speakers"]),  # not an option
    ],
)
def test_bad_options_are_422_and_nothing_is_charged(client, token, tmp_path, options, where):
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))

    response = transcribe(client, token, video["id"], options)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == where
    assert balance(client, token) == 10


def test_extract_audio_takes_no_options(client, token, tmp_path):
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
    body = {"kind": "extract_audio", "options": {"language": "en"}}

    response = client.post(f"/videos/{video['id']}/jobs", json=body, headers=bearer(token))

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "options", "language"]


def test_audio_that_is_digital_silence_fails_no_audio_and_is_refunded(client, token, tmp_path):
    clip = media.make_video(tmp_path / "silent.mp4", seconds=2)
    silent = tmp_path / "silence.mp4"
    _mute(clip, silent)
    video = ready_video(client, token, silent)

    job = wait_for_job(client, token, transcribe(client, token, video["id"]).json()["id"])

    assert (job["status"], job["error"]["code"]) == ("failed", "no_audio")
    assert balance(client, token) == 10 and history(client, token)[0][0] == "refund"
    assert transcript_rows(client) == [] and usage_rows(client) == []


def test_a_tone_without_speech_succeeds_with_a_short_transcript(client, token, tmp_path):
    video = ready_video(client, token, media.mp4(tmp_path / "tone.mp4"))

    job = wait_for_job(client, token, transcribe(client, token, video["id"]).json()["id"])

    assert job["status"] == "succeeded", job
    transcript = client.get(f"/videos/{video['id']}/transcript", headers=bearer(token)).json()
    assert len(transcript["text"].split()) <= 5  # Whisper may hear a word or two in a tone
    assert client.get(f"/videos/{video['id']}/captions", headers=bearer(token)).status_code == 200


def test_no_transcript_yet_is_404_and_another_users_is_404(client, token, tmp_path):
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
    bob = user_token(client, "bob@example.com")

    for path in ("transcript", "captions", "captions?format=srt"):
        response = client.get(f"/videos/{video['id']}/{path}", headers=bearer(token))
        assert (response.status_code, response.json()) == (404, {"detail": "Transcript not found"})
        other = client.get(f"/videos/{video['id']}/{path}", headers=bearer(bob))
        assert (other.status_code, other.json()) == (404, {"detail": "Video not found"})
    bad = client.get(f"/videos/{video['id']}/captions?format=txt", headers=bearer(token))
    assert bad.status_code == 422


def _mute(source: Path, target: Path) -> None:
    """The same clip with its audio samples replaced by zeros (digital silence)."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = out.add_stream("aac", rate=48000, layout="mono")
        for frame in inp.decode(inp.streams.video[0]):
            frame.pts = None
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        fifo = av.AudioFifo()
        for _ in range(2 * 48000 // 1024):
            silence = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            silence.planes[0].update(bytes(4 * 1024))
            silence.sample_rate = 48000
            fifo.write(silence)
        while (chunk := fifo.read(audio.codec_context.frame_size or 1024)) is not None:
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))


# ---- an OpenAI-compatible server (TRANSCRIBE_PROVIDER=openai)


@pytest.fixture(scope="module")
def server():
    with openai_server(api_key=KEY) as running:
        yield running


@pytest.fixture
def openai_client(make_video_client, server):
    server.reset()
    settings = {
        "default_credits": 10,
        "transcribe_provider": "openai",
        "openai_base_url": server.base_url,
        "openai_api_key": KEY,
        "openai_max_retries": 2,
        "openai_timeout_seconds": 5,
    }
    yield (client := make_video_client(**settings))
    assert_ledger_balanced(client.app.state.engine)


def test_an_openai_compatible_server_transcribes_after_two_500s(openai_client, server, tmp_path):
    client, token = openai_client, user_token(openai_client)
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
    server.script([{"status": 500}, {"status": 500}])

    job = wait_for_job(client, token, transcribe(client, token, video["id"]).json()["id"])

    assert job["status"] == "succeeded", job
    assert len(server.requests()) == 3
    transcript = client.get(f"/videos/{video['id']}/transcript", headers=bearer(token)).json()
    assert (transcript["provider"], transcript["model"]) == ("openai", "whisper-1")
    assert transcript["segments"] and transcript["text"]
    [usage] = usage_rows(client)  # one row: the one call that did work
    assert (usage.provider, usage.job_id) == ("openai", job["id"])
    assert usage.audio_seconds == pytest.approx(video["duration_seconds"], abs=0.1)


def test_a_rejected_key_fails_provider_rejected_refunded_and_never_shows_the_key(
    openai_client, server, tmp_path
):
    client, token = openai_client, user_token(openai_client)
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
    server.script([{"status": 401, "echo_auth": True}])

    job = wait_for_job(client, token, transcribe(client, token, video["id"]).json()["id"])

    assert (job["status"], job["error"]["code"]) == ("failed", "provider_rejected")
    assert KEY not in json.dumps(job) and len(server.requests()) == 1
    assert balance(client, token) == 10 and transcript_rows(client) == []
    assert usage_rows(client) == []


def test_a_long_video_is_sent_in_pieces_under_the_cap_with_one_usage_row_each(
    make_video_client, server, tmp_path
):
    server.reset()
    client = make_video_client(
        default_credits=10,
        transcribe_provider="openai",
        openai_base_url=server.base_url,
        openai_api_key=KEY,
        openai_max_upload_bytes=64 * 1024,
    )
    token = user_token(client)
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4", seconds=12))

    job = wait_for_job(client, token, transcribe(client, token, video["id"]).json()["id"])

    assert job["status"] == "succeeded", job
    sent = server.requests()
    assert len(sent) >= 2 and all(r["file"]["size"] < 64 * 1024 for r in sent)
    rows = usage_rows(client)
    assert len(rows) == len(sent) and all(r.job_id == job["id"] for r in rows)
    assert sum(r.audio_seconds for r in rows) == pytest.approx(12, abs=0.1)
    transcript = client.get(f"/videos/{video['id']}/transcript", headers=bearer(token)).json()
    starts = [s["start"] for s in transcript["segments"]]
    assert starts == sorted(starts) and starts[-1] > 6  # later pieces offset onto the video
    assert client.get("/admin/ai-usage", headers=bearer(token)).status_code == 403
    with Session(client.app.state.engine) as session:
        crud.make_superuser(session, crud.get_user_by_email(session, "alice@example.com"))
    [total] = client.get("/admin/ai-usage?days=1", headers=bearer(token)).json()
    assert total["day"] == job["finished_at"][:10]
    assert (total["provider"], total["model"], total["calls"], total["jobs"]) == (
        "openai",
        "whisper-1",
        len(sent),
        1,
    )
    assert total["credits_charged"] == job["credits_charged"] == 2
    assert total["audio_seconds"] == pytest.approx(12, abs=0.1)


def test_cancel_while_transcribing_refunds_and_stores_no_transcript(
    make_video_client, server, tmp_path
):
    server.reset()
    client = make_video_client(
        default_credits=10,
        transcribe_provider="openai",
        openai_base_url=server.base_url,
        openai_api_key=KEY,
        openai_max_upload_bytes=64 * 1024,
    )
    token = user_token(client)
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4", seconds=12))
    server.script([{"hang": 1.5}] * 10)
    created = transcribe(client, token, video["id"]).json()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not server.requests():
        time.sleep(0.05)

    canceled = client.post(f"/jobs/{created['id']}/cancel", headers=bearer(token))

    assert canceled.json()["status"] == "canceled"
    time.sleep(3)  # the worker reaches its next checkpoint and stops
    asked = len(server.requests())
    time.sleep(2)
    assert len(server.requests()) == asked  # no more pieces sent after the cancel
    assert balance(client, token) == 10 and transcript_rows(client) == []
    assert f"videos/{video['id']}/jobs/{created['id']}/transcript.json" not in stored_files(
        client.app.state.settings.media_root.resolve()
    )


def test_two_transcriptions_serve_the_newest_and_deleting_the_video_removes_them(
    openai_client, server, tmp_path
):
    client, token = openai_client, user_token(openai_client)
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))
    first = wait_for_job(client, token, transcribe(client, token, video["id"]).json()["id"])
    server.script([{"set": {"language": "german"}}])
    second = wait_for_job(client, token, transcribe(client, token, video["id"]).json()["id"])

    transcript = client.get(f"/videos/{video['id']}/transcript", headers=bearer(token)).json()

    assert (first["status"], second["status"]) == ("succeeded", "succeeded")
    assert (transcript["job_id"], transcript["language"]) == (second["id"], "de")
    assert client.delete(f"/videos/{video['id']}", headers=bearer(token)).status_code == 204
    assert transcript_rows(client) == []
    assert [row.job_id for row in usage_rows(client)] == [None, None]  # kept for accounting


def test_an_unconfigured_openai_provider_is_503_and_listed_unavailable(make_client):
    client = make_client(transcribe_provider="openai", default_credits=10)
    token = user_token(client)

    kinds = {k["kind"]: k for k in client.get("/job-kinds", headers=bearer(token)).json()}

    assert kinds["transcribe"]["available"] is False
    assert (kinds["transcribe"]["provider"], kinds["transcribe"]["model"]) == (
        "openai",
        "whisper-1",
    )
    with Session(client.app.state.engine) as session:
        from app.models import VideoSource

        video = VideoSource(
            user_id=1, origin="upload", status="ready", duration_seconds=5, has_audio=True
        )
        session.add(video)
        session.commit()
        video_id = video.id
    response = transcribe(client, token, video_id)
    assert response.status_code == 503
    assert "OPENAI_API_KEY" in response.json()["detail"]
    assert balance(client, token) == 10
