"""Account lockout by strangers (issue 25): the strict failed-login limit is per (account,
client address), so a stranger's guesses lock out the stranger and not the owner; a ceiling
per account, far higher, stops a guesser spread over many addresses and tells the owner by
email once. A real uvicorn sees clients bound to different loopback source addresses
(127.0.0.2, 127.0.0.3, ...) as different clients."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.config import Settings
from tests.support.live import live_server
from tests.support.smtp import Inbox, link_token
from tests.support.utils import PASSWORD, register

OWNER = "owner@example.com"
TOO_MANY = {"detail": "Too many attempts, try again later"}
STRANGER, OWNER_ADDRESS, OTHER = "127.0.0.2", "127.0.0.3", "127.0.0.4"


def default(name: str) -> int:
    return Settings.model_fields[name].default


@contextmanager
def client_from(base_url: str, address: str) -> Iterator[httpx.Client]:
    """An HTTP client whose connections leave from this source address."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=base_url, transport=transport, timeout=30) as client:
        yield client


def guess(client: httpx.Client, email: str = OWNER, password: str = "wrong password"):
    return client.post("/auth/login", json={"email": email, "password": password})


def assert_throttled(response: httpx.Response, window: int) -> int:
    assert response.status_code == 429
    assert response.json() == TOO_MANY
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window
    return retry_after


def test_a_strangers_30_wrong_guesses_do_not_stop_the_owner_from_another_address(tmp_path: Path):
    # The shipped limits, not the tests' unthrottled ones.
    names = (
        "login_max_failures",
        "login_max_failures_per_address",
        "login_max_failures_per_account",
        "login_window_seconds",
        "login_account_window_seconds",
    )
    env = {name.upper(): str(default(name)) for name in names}
    window = default("login_window_seconds")
    database = f"sqlite:///{tmp_path / 'app.db'}"
    with (
        live_server(database, env=env, log=tmp_path / "server.log") as base_url,
        client_from(base_url, STRANGER) as stranger,
        client_from(base_url, OWNER_ADDRESS) as owner,
    ):
        assert register(owner, OWNER).status_code == 201

        answers = [guess(stranger) for _ in range(30)]

        strict = default("login_max_failures")
        assert [a.status_code for a in answers] == [401] * strict + [429] * (30 - strict)
        for answer in answers[strict:]:
            assert_throttled(answer, window)
        assert_throttled(guess(stranger, password=PASSWORD), window)  # even the right password
        # The owner, from their own address, is not affected at all.
        assert guess(owner, password=PASSWORD).status_code == 200
        assert guess(owner, password="a typo").status_code == 401
        assert guess(owner, password=PASSWORD).status_code == 200

        # An address nobody registered is answered exactly alike, header for header.
        ghost = [guess(stranger, email="ghost@example.com") for _ in range(30)]
        assert [a.status_code for a in ghost] == [a.status_code for a in answers]
        assert [a.json() for a in ghost] == [a.json() for a in answers]
        assert [sorted(a.headers.keys()) for a in ghost] == [
            sorted(a.headers.keys()) for a in answers
        ]


def test_the_per_account_ceiling_stops_a_spread_out_guesser_and_tells_the_owner_once(
    tmp_path: Path, inbox: Inbox
):
    account_window = 3600
    env = {
        "LOGIN_MAX_FAILURES": "3",  # per (account, address)
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": "6",  # from everywhere
        "LOGIN_ACCOUNT_WINDOW_SECONDS": str(account_window),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(inbox.port),
        "SMTP_STARTTLS": "false",
    }
    database = f"sqlite:///{tmp_path / 'app.db'}"
    with (
        live_server(database, env=env, log=tmp_path / "server.log") as base_url,
        client_from(base_url, STRANGER) as first,
        client_from(base_url, OTHER) as second,
        client_from(base_url, OWNER_ADDRESS) as owner,
    ):
        assert register(owner, OWNER).status_code == 201
        # Three wrong guesses from each of two addresses: each pair stays at its own limit,
        # the account reaches its ceiling.
        assert [guess(first).status_code for _ in range(3)] == [401] * 3
        assert [guess(second).status_code for _ in range(3)] == [401] * 3
        for email in (OWNER, "ghost@example.com"):  # unknown accounts alike (no email)
            for client in (first, second):
                for _ in range(3):
                    guess(client, email=email)

        # Now nobody gets in with a password, the owner neither, for at most the window.
        assert_throttled(guess(owner, password=PASSWORD), account_window)
        assert_throttled(guess(owner, email="ghost@example.com"), account_window)

        notice = inbox.wait_for(OWNER)
        assert notice["Subject"] == "Sign-in to your account is paused"
        assert "password reset" in notice.get_content()
        # More guesses send no second email; the ghost account has no owner to tell.
        for _ in range(3):
            guess(first)
        assert len(inbox.to(OWNER)) == 1
        assert inbox.to("ghost@example.com") == []

        # A password reset proves the owner: the pause ends at once for them.
        assert owner.post("/auth/password-reset/request", json={"email": OWNER}).status_code == 202
        token = link_token(inbox.wait_for(OWNER, count=2), "reset-password")
        new_password = "a brand new passphrase"
        confirm = {"token": token, "new_password": new_password}
        assert owner.post("/auth/password-reset/confirm", json=confirm).status_code == 204
        assert guess(owner, password=new_password).status_code == 200
        # The strangers' own pairs stay throttled.
        assert_throttled(guess(first, password=new_password), 900)
    assert len(inbox.to(OWNER)) == 2  # the notice and the reset link, nothing more


def test_registration_is_throttled_per_client_address(make_client):
    client = make_client(register_max_per_address=3, register_window_seconds=60)
    statuses = [register(client, f"user{i}@example.com").status_code for i in range(2)]
    statuses.append(register(client, "user0@example.com").status_code)  # taken: counts too
    assert statuses == [201, 201, 409]

    refused = register(client, "user9@example.com")

    assert refused.status_code == 429
    assert refused.json() == TOO_MANY
    assert 1 <= int(refused.headers["retry-after"]) <= 60
