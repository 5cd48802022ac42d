"""The `summarize` job through the API with the embedded worker, against our own
OpenAI-compatible server (tests/support/openai_server.py) through the real `openai` package.
Transcripts are made by the transcribe job on the same server (TRANSCRIBE_PROVIDER=openai), so
these tests need no model. The money is checked every time: charged once, refunded once."""

import json

import pytest
from sqlmodel import Session, select

from app.models import AIUsageLog, Summary
from tests.support import media
from tests.support.credits import assert_ledger_balanced, balance, ready_video, wait_for_job
from tests.support.openai_server import openai_server
from tests.support.utils import bearer
from tests.support.videos import user_token

KEY = "sk-test-summary-key-99c1"
CHAT = "chat/completions"


@pytest.fixture(scope="module")
def server():
    with openai_server(api_key=KEY) as running:
        yield running


def ai_settings(server, **more):
    return {
        "default_credits": 10,
        "transcribe_provider": "openai",
        "summary_provider": "openai",
        "openai_base_url": server.base_url,
        "openai_api_key": KEY,
        "openai_max_retries": 1,
        "openai_timeout_seconds": 5,
        **more,
    }


@pytest.fixture
def client(make_video_client, server):
    server.reset()
    yield (client := make_video_client(**ai_settings(server)))
    assert_ledger_balanced(client.app.state.engine)


@pytest.fixture
def token(client) -> str:
    return user_token(client)


def buy(client, token, video_id, kind, options=None):
    body = {"kind": kind, **({"options": options} if options is not None else {})}
    return client.post(f"/videos/{video_id}/jobs", json=body, headers=bearer(token))


def transcribed_video(client, token, tmp_path, seconds=2) -> dict:
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4", seconds=seconds))
    job = wait_for_job(client, token, buy(client, token, video["id"], "transcribe").json()["id"])
    assert job["status"] == "succeeded", job
    return video


def usage_rows(client, kind_job_id: int) -> list[AIUsageLog]:
    with Session(client.app.state.engine) as session:
        query = select(AIUsageLog).where(AIUsageLog.job_id == kind_job_id)
        return list(session.exec(query).all())


def test_a_transcribed_video_is_summarized_with_its_tokens_accounted(
    client, token, server, tmp_path
):
    video = transcribed_video(client, token, tmp_path)
    server.script(
        [{"summarize": True, "usage": {"prompt_tokens": 321, "completion_tokens": 45}}], CHAT
    )

    response = buy(client, token, video["id"], "summarize")

    assert response.status_code == 202, response.text
    assert response.json()["credits_charged"] == 1
    job = wait_for_job(client, token, response.json()["id"])
    assert job["status"] == "succeeded", job
    summary = client.get(f"/videos/{video['id']}/summary", headers=bearer(token)).json()
    assert (summary["video_id"], summary["job_id"]) == (video["id"], job["id"])
    assert summary["summary"] and summary["keywords"] == ["alpha", "beta"]
    assert (summary["provider"], summary["model"], summary["language"]) == (
        "openai",
        "gpt-4o-mini",
        "en",
    )
    starts = [chapter["start"] for chapter in summary["chapters"]]
    assert starts[0] == 0.0 and starts == sorted(starts) and starts[-1] <= video["duration_seconds"]
    assert client.get(job["result_url"], headers=bearer(token)).json() == summary
    [usage] = usage_rows(client, job["id"])
    assert (usage.tokens_input, usage.tokens_output, usage.audio_seconds) == (321, 45, None)
    assert balance(client, token) == 10 - 2 - 1  # transcribe 2, summarize 1
    [request] = [r for r in server.requests() if r["path"].endswith("chat/completions")]
    user_message = request["json"]["messages"][-1]
    assert user_message["role"] == "user" and "<transcript>" in user_message["content"]
    assert request["json"]["response_format"]["type"] == "json_schema"


def test_without_a_transcript_it_is_409_and_nothing_is_charged(client, token, tmp_path):
    video = ready_video(client, token, media.mp4(tmp_path / "clip.mp4"))

    response = buy(client, token, video["id"], "summarize")

    assert (response.status_code, response.json()) == (
        409,
        {"detail": "Transcribe the video first"},
    )
    assert balance(client, token) == 10
    assert client.get(f"/videos/{video['id']}/summary", headers=bearer(token)).status_code == 404


def test_without_a_provider_it_is_503_listed_unavailable_and_nothing_is_charged(
    make_video_client, server, tmp_path
):
    client = make_video_client(**ai_settings(server, summary_provider="none"))
    token = user_token(client)
    video = transcribed_video(client, token, tmp_path)
    kinds = {k["kind"]: k for k in client.get("/job-kinds", headers=bearer(token)).json()}

    response = buy(client, token, video["id"], "summarize")

    assert kinds["summarize"]["available"] is False and kinds["summarize"]["price_per_minute"] == 1
    assert response.status_code == 503
    assert "SUMMARY_PROVIDER" in response.json()["detail"]
    assert balance(client, token) == 8  # the transcription only


def test_two_invalid_answers_fail_provider_rejected_refunded_with_their_usage_not_kept(
    client, token, server, tmp_path
):
    video = transcribed_video(client, token, tmp_path)
    server.script([{"content": "not json"}, {"content": '{"summary": ""}'}], CHAT)

    job = wait_for_job(client, token, buy(client, token, video["id"], "summarize").json()["id"])

    assert (job["status"], job["error"]["code"]) == ("failed", "provider_rejected")
    assert balance(client, token) == 8 and usage_rows(client, job["id"]) == []
    assert client.get(f"/videos/{video['id']}/summary", headers=bearer(token)).status_code == 404


def test_an_invalid_then_valid_answer_succeeds_with_two_usage_rows(client, token, server, tmp_path):
    video = transcribed_video(client, token, tmp_path)
    server.script([{"content": "{broken"}, {"summarize": True}], CHAT)

    job = wait_for_job(client, token, buy(client, token, video["id"], "summarize").json()["id"])

    assert job["status"] == "succeeded", job
    assert len(usage_rows(client, job["id"])) == 2


def test_a_rejected_key_fails_provider_rejected_and_never_shows_it(client, token, server, tmp_path):
    video = transcribed_video(client, token, tmp_path)
    server.script([{"status": 401, "echo_auth": True}], CHAT)

    job = wait_for_job(client, token, buy(client, token, video["id"], "summarize").json()["id"])

    assert (job["status"], job["error"]["code"]) == ("failed", "provider_rejected")
    assert KEY not in json.dumps(job) and balance(client, token) == 8


def test_a_summary_in_another_language_and_bad_options(client, token, server, tmp_path):
    video = transcribed_video(client, token, tmp_path)
    server.script([{"summarize": True}], CHAT)

    bad = buy(client, token, video["id"], "summarize", {"language": "French"})
    job = wait_for_job(
        client, token, buy(client, token, video["id"], "summarize", {"language": "fr"}).json()["id"]
    )

    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == [
        "body",
        "options",
        "language",
    ]
    assert job["status"] == "succeeded" and job["options"] == {"language": "fr"}
    summary = client.get(f"/videos/{video['id']}/summary", headers=bearer(token)).json()
    assert summary["language"] == "fr"
    with Session(client.app.state.engine) as session:
        assert len(session.exec(select(Summary)).all()) == 1
