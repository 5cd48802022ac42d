"""Login: it does not reveal which emails exist (body, headers or time), enforces the
password rules in bytes, upgrades outdated hashes, and keeps inactive users out."""

import statistics
import time

import pytest
from passlib.context import CryptContext
from sqlmodel import Session, select

from app.models import User
from tests.support.utils import PASSWORD, bearer, login, register

TIMING_ROUNDS = 10  # a real bcrypt cost (~60 ms here), so hashing dominates the timing
TIMING_SAMPLES = 15


def form_login(client, email="alice@example.com", password=PASSWORD):
    return client.post("/auth/token", data={"username": email, "password": password})


def stored_user(client, email="alice@example.com") -> User:
    with Session(client.app.state.engine) as session:
        return session.exec(select(User).where(User.email == email)).one()


def set_user(client, email="alice@example.com", **values) -> None:
    with Session(client.app.state.engine) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        for name, value in values.items():
            setattr(user, name, value)
        session.add(user)
        session.commit()


def comparable(response):
    """Everything a client sees, minus what differs between any two responses."""
    headers = {k: v for k, v in response.headers.items() if k not in ("date", "content-length")}
    return response.status_code, response.content, headers


# --- Account enumeration: same answer for an unknown email and a wrong password ---


@pytest.mark.parametrize("send", [login, form_login], ids=["json", "form"])
def test_unknown_email_and_wrong_password_answer_byte_for_byte_the_same(client, send):
    register(client)

    wrong_password = send(client, password="not the password")
    unknown_email = send(client, email="nobody@example.com")
    unknown_and_inactive_looking = send(client, email="nobody@example.com", password="x" * 8)

    assert wrong_password.status_code == 401
    assert comparable(wrong_password) == comparable(unknown_email)
    assert comparable(wrong_password) == comparable(unknown_and_inactive_looking)


def test_an_inactive_account_with_a_wrong_password_looks_like_no_account(client):
    register(client)
    set_user(client, is_active=False)

    assert comparable(login(client, password="wrong password")) == comparable(
        login(client, email="nobody@example.com", password="wrong password")
    )


def test_login_takes_as_long_for_an_unknown_email_as_for_a_wrong_password(make_client):
    client = make_client(bcrypt_rounds=TIMING_ROUNDS)
    assert register(client).status_code == 201

    def timed(email, password):
        started = time.perf_counter()
        response = login(client, email=email, password=password)
        elapsed = time.perf_counter() - started
        assert response.status_code == 401
        return elapsed

    # Warm up both paths (the dummy hash is made on first use), then interleave the samples
    # so drift in machine load hits both alike.
    timed("nobody@example.com", "wrong password")
    timed("alice@example.com", "wrong password")
    unknown, wrong = [], []
    for _ in range(TIMING_SAMPLES):
        unknown.append(timed("nobody@example.com", "wrong password"))
        wrong.append(timed("alice@example.com", "wrong password"))
    unknown_median, wrong_median = statistics.median(unknown), statistics.median(wrong)

    print(
        f"\nlogin medians over {TIMING_SAMPLES} samples at cost {TIMING_ROUNDS}: "
        f"unknown email {unknown_median * 1000:.1f} ms, "
        f"wrong password {wrong_median * 1000:.1f} ms"
    )
    # The unknown path really hashes: it is nowhere near the microseconds of a dict lookup.
    assert unknown_median > 0.005
    assert 0.5 < unknown_median / wrong_median < 2


# --- Password rules, counted in UTF-8 bytes ---


@pytest.mark.parametrize(
    "password",
    [
        "",
        "1234567",
        "é" * 7,
        "\U0001f600" * 7,
        "x" * 73,
        "é" * 37,
        "\U0001f600" * 19,
        "a" * 71 + "é",
    ],
    ids=[
        "empty",
        "7-ascii",
        "7-e-acute",
        "7-emoji",
        "73-bytes",
        "37-e-acute-74-bytes",
        "19-emoji-76-bytes",
        "71-ascii-plus-e-acute-73-bytes",
    ],
)
def test_passwords_too_short_in_chars_or_too_long_in_bytes_are_refused(client, password):
    response = register(client, password=password)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]
    with Session(client.app.state.engine) as session:
        assert session.exec(select(User)).all() == []


@pytest.mark.parametrize(
    "password",
    [
        "12345678",
        "é" * 8,
        "\U0001f600" * 8,
        "x" * 72,
        "é" * 36,
        "\U0001f600" * 18,
        "a" * 70 + "é",
        "  spaced  ",
    ],
    ids=[
        "8-ascii",
        "8-e-acute",
        "8-emoji",
        "72-ascii",
        "36-e-acute-72-bytes",
        "18-emoji-72-bytes",
        "70-ascii-plus-e-acute-72-bytes",
        "leading-and-trailing-spaces",
    ],
)
def test_passwords_of_8_chars_up_to_72_bytes_are_accepted_and_log_in_exactly(client, password):
    assert register(client, password=password).status_code == 201

    assert login(client, password=password).status_code == 200
    assert login(client, password=password[:-1]).status_code == 401
    assert login(client, password=password + "x").status_code == 401


def test_passwords_are_not_stripped_or_case_folded(client):
    register(client, password="  Correct Horse  ")
    assert login(client, password="  Correct Horse  ").status_code == 200
    for variant in ("Correct Horse", "  correct horse  ", "  CORRECT HORSE  "):
        assert login(client, password=variant).status_code == 401


def test_a_login_password_beyond_72_bytes_never_matches_a_72_byte_prefix(client):
    """bcrypt would ignore bytes past 72; login must not, or a longer guess would succeed."""
    password = "x" * 72
    register(client, password=password)
    assert login(client, password=password + "anything").status_code == 401
    assert login(client, password=password).status_code == 200


# --- Hash upgrade on login ---


def _cost(password_hash: str) -> int:
    return int(password_hash.split("$")[2])


def test_a_hash_with_an_outdated_cost_is_upgraded_on_the_next_login(make_client):
    client = make_client(bcrypt_rounds=5)
    register(client)
    outdated = CryptContext(schemes=["bcrypt"], bcrypt__rounds=4).hash(PASSWORD)
    set_user(client, password_hash=outdated)
    assert _cost(stored_user(client).password_hash) == 4

    assert login(client).status_code == 200

    upgraded = stored_user(client).password_hash
    assert upgraded != outdated
    assert upgraded.startswith("$2b$05$")
    assert login(client).status_code == 200  # the new hash verifies the same password
    assert stored_user(client).password_hash == upgraded  # and is not rewritten again


def test_a_hash_with_a_higher_cost_is_never_downgraded(make_client):
    client = make_client(bcrypt_rounds=4)
    register(client)
    stronger = CryptContext(schemes=["bcrypt"], bcrypt__rounds=6).hash(PASSWORD)
    set_user(client, password_hash=stronger)

    assert login(client).status_code == 200

    assert stored_user(client).password_hash == stronger


def test_a_stored_hash_passlib_cannot_read_is_a_401_not_a_500(client):
    register(client)
    set_user(client, password_hash="not-a-bcrypt-hash")

    response = login(client)

    assert response.status_code == 401
    assert response.json() == {"detail": "Incorrect email or password"}


def test_a_failed_login_never_rewrites_an_outdated_hash(make_client):
    client = make_client(bcrypt_rounds=5)
    register(client)
    outdated = CryptContext(schemes=["bcrypt"], bcrypt__rounds=4).hash(PASSWORD)
    set_user(client, password_hash=outdated)

    assert login(client, password="wrong password").status_code == 401

    assert stored_user(client).password_hash == outdated


def test_an_inactive_user_s_outdated_hash_is_upgraded_but_no_token_is_issued(make_client):
    client = make_client(bcrypt_rounds=5)
    register(client)
    outdated = CryptContext(schemes=["bcrypt"], bcrypt__rounds=4).hash(PASSWORD)
    set_user(client, password_hash=outdated, is_active=False)

    response = login(client)

    assert response.status_code == 403
    assert "access_token" not in response.json()
    assert stored_user(client).password_hash.startswith("$2b$05$")


def test_registration_stores_a_hash_with_the_configured_cost(make_client):
    client = make_client(bcrypt_rounds=6)
    register(client)
    assert stored_user(client).password_hash.startswith("$2b$06$")


# --- Inactive users ---


@pytest.mark.parametrize("send", [login, form_login], ids=["json", "form"])
def test_an_inactive_user_is_403_only_with_the_right_password_on_both_login_routes(client, send):
    register(client)
    set_user(client, is_active=False)

    right = send(client)
    wrong = send(client, password="wrong password")

    assert right.status_code == 403
    assert right.json() == {"detail": "Inactive user"}
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Incorrect email or password"}


def test_a_still_valid_token_of_a_deactivated_user_is_403_and_works_again_on_reactivation(client):
    register(client)
    token = login(client).json()["access_token"]
    set_user(client, is_active=False)

    deactivated = client.get("/me", headers=bearer(token))
    set_user(client, is_active=True)
    reactivated = client.get("/me", headers=bearer(token))

    assert deactivated.status_code == 403
    assert deactivated.json() == {"detail": "Inactive user"}
    assert "access_token" not in deactivated.text and "email" not in deactivated.json()
    assert reactivated.status_code == 200


def test_an_inactive_user_cannot_take_over_its_email_by_registering_again(client):
    register(client)
    set_user(client, is_active=False)

    assert register(client, password="another password").status_code == 409
    assert login(client, password="another password").status_code == 401
