"""Email verification (through a real SMTP server), the VerifiedUser dependency of the video
and job routes, account deletion (videos and files included), and how email leaves the app."""

import logging
import re

import pytest
from fastapi import APIRouter
from sqlmodel import Session, select

from app.api import VerifiedUser
from app.crud import record_ai_usage
from app.models import (
    AccountToken,
    AIUsageLog,
    AIUsageLogCreate,
    ProcessingJob,
    RefreshToken,
    User,
    VideoSource,
)
from tests.support import media
from tests.support.live import free_port
from tests.support.smtp import link_token
from tests.support.utils import PASSWORD, bearer, login, register
from tests.support.videos import stored_files, upload, user_token, wait_until_settled

EMAIL = "alice@example.com"
INVALID_TOKEN = {"detail": "Invalid or expired token"}


@pytest.fixture
def alice(mail_client) -> dict:
    assert register(mail_client).status_code == 201
    return login(mail_client).json()


def request_verification(client, access_token: str):
    return client.post("/auth/verify-email/request", headers=bearer(access_token))


def confirm_verification(client, token: str):
    return client.post("/auth/verify-email/confirm", json={"token": token})


def emailed_verification_token(client, inbox, access_token: str, count: int = 1) -> str:
    assert request_verification(client, access_token).status_code == 202
    return link_token(inbox.wait_for(EMAIL, count), "verify-email")


# Email verification


def test_a_new_user_is_not_verified(client):
    assert register(client).json()["email_verified"] is False


def test_the_emailed_link_verifies_the_address(mail_client, inbox, alice):
    response = request_verification(mail_client, alice["access_token"])
    assert response.status_code == 202
    assert response.json() == {"message": "A verification link is on its way"}
    message = inbox.wait_for(EMAIL)
    assert message["Subject"] == "Confirm your email address"
    assert message["X-Envelope-To"] == EMAIL
    token = link_token(message, "verify-email")

    confirmed = confirm_verification(mail_client, token)  # no bearer: any device may open it

    assert confirmed.status_code == 200
    assert confirmed.json()["email"] == EMAIL and confirmed.json()["email_verified"] is True
    me = mail_client.get("/me", headers=bearer(alice["access_token"]))
    assert me.json()["email_verified"] is True


def test_a_verification_token_works_once(mail_client, inbox, alice):
    token = emailed_verification_token(mail_client, inbox, alice["access_token"])
    assert confirm_verification(mail_client, token).status_code == 200
    again = confirm_verification(mail_client, token)
    assert again.status_code == 400
    assert again.json() == INVALID_TOKEN


def test_an_expired_verification_token_is_400(mail_client, inbox, alice, mail_session):
    token = emailed_verification_token(mail_client, inbox, alice["access_token"])
    row = mail_session.exec(select(AccountToken)).one()
    assert row.purpose == "email_verification"
    row.expires_at = row.created_at
    mail_session.add(row)
    mail_session.commit()
    assert confirm_verification(mail_client, token).json() == INVALID_TOKEN


@pytest.mark.parametrize("token", ["", "x", "a" * 43])
def test_an_unknown_verification_token_is_400(client, token):
    assert confirm_verification(client, token).json() == INVALID_TOKEN


def test_a_reset_token_does_not_verify_an_address(mail_client, inbox, alice):
    mail_client.post("/auth/password-reset/request", json={"email": EMAIL})
    token = link_token(inbox.wait_for(EMAIL), "reset-password")
    assert confirm_verification(mail_client, token).json() == INVALID_TOKEN


def test_a_verified_address_gets_no_second_email(mail_client, inbox, alice):
    token = emailed_verification_token(mail_client, inbox, alice["access_token"])
    confirm_verification(mail_client, token)

    response = request_verification(mail_client, alice["access_token"])

    assert response.status_code == 202
    assert response.json() == {"message": "The address is already verified"}
    # A reset email sent afterwards is the second email alice ever gets.
    mail_client.post("/auth/password-reset/request", json={"email": EMAIL})
    assert inbox.wait_for(EMAIL, 2)["Subject"] == "Reset your password"


def test_requesting_verification_needs_a_valid_access_token(client):
    assert client.post("/auth/verify-email/request").status_code == 401


# VerifiedUser: the dependency of the video and job routes


@pytest.fixture
def guarded(make_client, inbox):
    """An app with REQUIRE_VERIFIED_EMAIL and a route that depends on VerifiedUser, as the
    video and job routes do."""
    guard = APIRouter()

    @guard.get("/guarded")
    async def read_guarded(user: VerifiedUser) -> dict:
        return {"id": user.id}

    client = make_client(
        require_verified_email=True,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_starttls=False,
    )
    client.app.include_router(guard)
    return client


def test_verified_user_refuses_an_unverified_address_until_it_is_verified(guarded, inbox):
    register(guarded)
    pair = login(guarded).json()

    refused = guarded.get("/guarded", headers=bearer(pair["access_token"]))

    assert refused.status_code == 403
    assert refused.json() == {"detail": "Email not verified"}
    assert guarded.get("/me", headers=bearer(pair["access_token"])).status_code == 200
    token = emailed_verification_token(guarded, inbox, pair["access_token"])
    assert confirm_verification(guarded, token).status_code == 200
    allowed = guarded.get("/guarded", headers=bearer(pair["access_token"]))
    assert allowed.status_code == 200 and allowed.json() == {"id": 1}


def test_verified_user_still_needs_a_valid_token(guarded):
    assert guarded.get("/guarded").status_code == 401
    assert guarded.get("/guarded", headers=bearer("x")).status_code == 401


def test_verified_user_lets_anyone_in_without_the_setting(client):
    guard = APIRouter()

    @guard.get("/guarded")
    async def read_guarded(user: VerifiedUser) -> dict:
        return {"verified": user.email_verified}

    client.app.include_router(guard)
    register(client)
    response = client.get("/guarded", headers=bearer(login(client).json()["access_token"]))
    assert response.json() == {"verified": False}


# Deleting the account


def delete_account(client, access_token: str, password: str = PASSWORD):
    return client.request(
        "DELETE", "/me", json={"password": password}, headers=bearer(access_token)
    )


def test_deleting_the_account_removes_the_user_and_everything_it_owns(client, session):
    register(client)
    pair = login(client).json()
    user_id = session.exec(select(User)).one().id
    record_ai_usage(
        session,
        user_id=user_id,
        usage=AIUsageLogCreate(provider="openai", model="m", tokens_input=1, tokens_output=1),
    )
    register(client, email="bob@example.com")

    response = delete_account(client, pair["access_token"])

    assert response.status_code == 204
    session.expire_all()
    assert [user.email for user in session.exec(select(User))] == ["bob@example.com"]
    assert session.exec(select(RefreshToken)).all() == []
    assert session.exec(select(AIUsageLog)).all() == []
    assert client.get("/me", headers=bearer(pair["access_token"])).status_code == 401
    assert client.post("/auth/refresh", json=pair).status_code in (401, 422)
    assert login(client).status_code == 401
    assert register(client).status_code == 201  # the address is free again


def test_deleting_the_account_takes_its_emailed_tokens(mail_client, inbox, alice, mail_session):
    emailed_verification_token(mail_client, inbox, alice["access_token"])
    assert delete_account(mail_client, alice["access_token"]).status_code == 204
    assert mail_session.exec(select(AccountToken)).all() == []


def test_a_wrong_password_keeps_the_account(client):
    register(client)
    pair = login(client).json()

    response = delete_account(client, pair["access_token"], password="not my password")

    assert response.status_code == 400
    assert response.json() == {"detail": "Incorrect password"}
    assert client.get("/me", headers=bearer(pair["access_token"])).status_code == 200


def test_deleting_needs_a_valid_token_and_a_password(client):
    register(client)
    assert client.request("DELETE", "/me", json={"password": PASSWORD}).status_code == 401
    token = login(client).json()["access_token"]
    assert client.request("DELETE", "/me", headers=bearer(token)).status_code == 422
    assert login(client).status_code == 200


# How email leaves the app


def test_without_smtp_host_development_logs_the_whole_email(client, caplog):
    register(client)
    with caplog.at_level(logging.WARNING, logger="app"):
        client.post("/auth/password-reset/request", json={"email": EMAIL})
        client.app.state.mailer.close()  # waits for the queued job

    [record] = [r for r in caplog.records if "SMTP_HOST is not set" in r.getMessage()]
    logged = record.getMessage()
    assert "To: alice@example.com" in logged and "Subject: Reset your password" in logged
    # The link is whole on its line (not MIME-encoded), and a developer can follow it.
    token = re.search(r"^http://127.0.0.1:8000/app/reset-password\?token=(\S+)$", logged, re.M)
    assert token, logged
    confirmed = client.post(
        "/auth/password-reset/confirm",
        json={"token": token.group(1), "new_password": "a brand new passphrase"},
    )
    assert confirmed.status_code == 204


def test_without_smtp_host_production_logs_that_it_sent_nothing_but_never_the_link(
    make_client, caplog
):
    client = make_client(environment="production", secret_key="p" * 40)
    register(client)
    with caplog.at_level(logging.WARNING, logger="app"):
        client.post("/auth/password-reset/request", json={"email": EMAIL})
        client.app.state.mailer.close()

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "not sent" in logged and EMAIL in logged
    assert "token=" not in logged


def test_the_links_use_frontend_url(make_client, inbox):
    client = make_client(
        frontend_url="https://app.example.com/",
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_starttls=False,
    )
    register(client)
    client.post("/auth/password-reset/request", json={"email": EMAIL})
    body = inbox.wait_for(EMAIL).get_content()
    assert "https://app.example.com/reset-password?token=" in body


def test_an_unreachable_smtp_server_is_logged_and_the_request_still_succeeds(make_client, caplog):
    client = make_client(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False)
    register(client)
    with caplog.at_level(logging.ERROR, logger="app"):
        response = client.post("/auth/password-reset/request", json={"email": EMAIL})
        client.app.state.mailer.close()
    assert response.status_code == 202
    assert any("send_password_reset failed" in r.getMessage() for r in caplog.records)


# The real video and job routes, and deleting an account that has videos


@pytest.fixture
def clip(tmp_path):
    return media.mp4(tmp_path / "clip.mp4")


VIDEO_ROUTES = [
    ("GET", "/videos"),
    ("GET", "/videos/1"),
    ("DELETE", "/videos/1"),
    ("GET", "/videos/1/thumbnail"),
    ("GET", "/videos/1/jobs"),
    ("GET", "/jobs/1"),
    ("POST", "/jobs/1/cancel"),
    ("GET", "/jobs/1/events"),
]


def test_require_verified_email_closes_every_video_and_job_route_until_verified(
    make_video_client, inbox, clip
):
    client = make_video_client(
        require_verified_email=True,
        embedded_worker=False,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_starttls=False,
    )
    token = user_token(client)

    link = {"url": "https://example.com/clip.mp4"}
    refused = [upload(client, token, clip)]
    refused.append(client.post("/videos/link", json=link, headers=bearer(token)))
    refused += [client.request(method, url, headers=bearer(token)) for method, url in VIDEO_ROUTES]

    for response in refused:
        assert (response.status_code, response.json()) == (403, {"detail": "Email not verified"})
    assert stored_files(client.app.state.settings.media_root) == []
    confirm_verification(client, emailed_verification_token(client, inbox, token))
    uploaded = upload(client, token, clip)
    assert uploaded.status_code == 201
    assert client.get("/videos", headers=bearer(token)).json()["data"][0]["id"] == 1


def test_without_the_setting_an_unverified_user_uses_the_video_routes(make_video_client):
    client = make_video_client(embedded_worker=False)
    token = user_token(client)
    assert client.get("/videos", headers=bearer(token)).status_code == 200


def test_deleting_the_account_removes_its_videos_jobs_and_files(video_client, clip):
    alice = user_token(video_client)
    bob = user_token(video_client, "bob@example.com")
    mine = upload(video_client, alice, clip).json()["id"]
    theirs = upload(video_client, bob, clip).json()["id"]
    wait_until_settled(video_client, alice, mine)
    wait_until_settled(video_client, bob, theirs)
    media_root = video_client.app.state.settings.media_root
    assert any(path.startswith(f"videos/{mine}/") for path in stored_files(media_root))

    assert delete_account(video_client, alice).status_code == 204

    remaining = stored_files(media_root)
    assert remaining and all(path.startswith(f"videos/{theirs}/") for path in remaining)
    with Session(video_client.app.state.engine) as session:
        assert [video.id for video in session.exec(select(VideoSource))] == [theirs]
        assert {job.video_id for job in session.exec(select(ProcessingJob))} == {theirs}
    assert video_client.get(f"/videos/{theirs}", headers=bearer(bob)).status_code == 200


def test_an_app_started_again_after_a_stop_still_sends_email(make_client, inbox):
    """The lifespan makes a new mailer each time (schemathesis restarts the app's lifespan)."""
    client = make_client(smtp_host="127.0.0.1", smtp_port=inbox.port, smtp_starttls=False)
    client.__exit__(None, None, None)
    with client:
        register(client)  # (an in-memory database does not survive the stop)
        response = client.post("/auth/password-reset/request", json={"email": EMAIL})
        assert response.status_code == 202
        assert inbox.wait_for(EMAIL)["Subject"] == "Reset your password"
