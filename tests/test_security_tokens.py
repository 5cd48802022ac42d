"""Access tokens: only an HS256 JWT signed with the server's key, with integer exp/iat and the
decimal id of an existing user as sub, opens /me (RFC 8725). Everything else is 401 with a
Bearer challenge. tests/test_me.py covers expired, wrong key, unknown user and garbage."""

import base64
import json
import time

import pytest
from jose import jwt

from app.security import ACCESS_TOKEN_TYPE, AUDIENCE, CLOCK_LEEWAY_SECONDS
from tests.support.utils import bearer, login, register

INVALID = {"detail": "Could not validate credentials"}
OURS = {"typ": ACCESS_TOKEN_TYPE, "aud": AUDIENCE}  # what every access token of ours says
NOT_AUTHENTICATED = {"detail": "Not authenticated"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def claims(user_id: str = "1", **changes):
    now = int(time.time())
    result = {"sub": user_id, "iat": now, "exp": now + 600, **OURS, **changes}
    return {name: value for name, value in result.items() if value is not None}


@pytest.fixture
def key(client) -> str:
    return client.app.state.settings.jwt_key


@pytest.fixture
def user_id(client) -> str:
    """The id, as a string, of a registered active user."""
    return str(register(client).json()["id"])


def assert_rejected(response, body=INVALID):
    assert response.status_code == 401
    assert response.json() == body
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_token_crafted_like_ours_with_the_right_key_is_accepted(client, key, user_id):
    """The control for every rejection below: the crafting itself is right."""
    response = client.get("/me", headers=bearer(jwt.encode(claims(user_id), key, "HS256")))
    assert response.status_code == 200
    assert response.json()["id"] == int(user_id)


def test_issued_tokens_are_hs256_with_integer_exp_iat_and_string_sub(client, user_id):
    token = login(client).json()["access_token"]
    header = jwt.get_unverified_header(token)
    payload = jwt.get_unverified_claims(token)
    assert header["alg"] == "HS256"
    assert payload["sub"] == user_id
    assert type(payload["exp"]) is int and type(payload["iat"]) is int
    assert payload["exp"] - payload["iat"] == 30 * 60
    assert payload["typ"] == "access" and payload["aud"] == "video-ai-api"
    assert isinstance(payload["sid"], str)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"typ": "password_reset"}, id="reset-typ"),
        pytest.param({"typ": "refresh"}, id="refresh-typ"),
        pytest.param({"typ": "at+jwt"}, id="other-typ"),
        pytest.param({"typ": ["access"]}, id="typ-list"),
        pytest.param({"aud": "another-service"}, id="other-aud"),
        pytest.param({"aud": ["another-service"]}, id="other-aud-list"),
        pytest.param({"aud": 1}, id="aud-number"),
        pytest.param({"sid": 1}, id="sid-number"),
    ],
)
def test_a_token_of_another_purpose_or_audience_is_rejected(client, key, user_id, changes):
    """RFC 8725 §3.9, §3.11: signed with our key, but not an access token for this API."""
    token = jwt.encode(claims(user_id, **changes), key, "HS256")
    assert_rejected(client.get("/me", headers=bearer(token)))


def test_a_null_session_id_is_rejected(client, key, user_id):
    """Found by tests/fuzz/test_fuzz_tokens.py: we never issue `"sid": null`."""
    token = jwt.encode({**claims(user_id), "sid": None}, key, "HS256")
    assert_rejected(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "c2lnbmF0dXJl"])
def test_alg_none_is_rejected(client, user_id, alg, signature):
    token = f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(claims(user_id))}.{signature}"
    assert_rejected(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_with_the_right_key_are_rejected(client, key, user_id, alg):
    token = jwt.encode(claims(user_id), key, algorithm=alg)
    assert jwt.get_unverified_header(token)["alg"] == alg
    assert_rejected(client.get("/me", headers=bearer(token)))


def test_an_hs256_signature_under_a_header_that_names_another_alg_is_rejected(client, key, user_id):
    good = jwt.encode(claims(user_id), key, algorithm="HS256")
    _, payload, signature = good.split(".")
    relabelled = f"{segment({'alg': 'HS512', 'typ': 'JWT'})}.{payload}.{signature}"
    assert_rejected(client.get("/me", headers=bearer(relabelled)))


@pytest.mark.parametrize("wrong_key", ["", "x", "test-secret-key-that-is-long-enough-for-hs25"])
def test_wrong_keys_including_empty_and_near_misses_are_rejected(client, key, user_id, wrong_key):
    assert wrong_key != key
    token = jwt.encode(claims(user_id), wrong_key, algorithm="HS256")
    assert_rejected(client.get("/me", headers=bearer(token)))


def test_a_payload_changed_to_another_user_keeps_no_valid_signature(client, key, user_id):
    other_id = str(register(client, email="bob@example.com").json()["id"])
    header, _, signature = jwt.encode(claims(user_id), key, "HS256").split(".")
    forged = f"{header}.{segment(claims(other_id))}.{signature}"
    assert_rejected(client.get("/me", headers=bearer(forged)))


def test_a_payload_with_a_later_exp_keeps_no_valid_signature(client, key, user_id):
    original = claims(user_id)
    header, _, signature = jwt.encode(original, key, "HS256").split(".")
    extended = {**original, "exp": original["exp"] + 10 * 365 * 24 * 3600}
    assert_rejected(client.get("/me", headers=bearer(f"{header}.{segment(extended)}.{signature}")))


# Not the last character: of its 6 bits only 4 carry the 32-byte HMAC, so some flips there
# decode to the same signature.
@pytest.mark.parametrize("flip", [0, 21])
def test_a_flipped_signature_character_is_rejected(client, key, user_id, flip):
    token = jwt.encode(claims(user_id), key, "HS256")
    header, payload, signature = token.split(".")
    chars = list(signature)
    chars[flip] = "A" if chars[flip] != "A" else "B"
    assert_rejected(client.get("/me", headers=bearer(f"{header}.{payload}.{''.join(chars)}")))


def test_a_token_expired_just_beyond_the_leeway_is_rejected(client, key, user_id):
    now = int(time.time())
    token = jwt.encode(
        claims(user_id, iat=now - 3600, exp=now - CLOCK_LEEWAY_SECONDS - 2), key, "HS256"
    )
    assert_rejected(client.get("/me", headers=bearer(token)))


def test_a_token_not_yet_valid_is_rejected(client, key, user_id):
    token = jwt.encode(claims(user_id, nbf=int(time.time()) + 600), key, "HS256")
    assert_rejected(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "typ", "aud"])
def test_a_token_without_a_required_claim_is_rejected(client, key, user_id, missing):
    token = jwt.encode(claims(user_id, **{missing: None}), key, "HS256")
    assert missing not in jwt.get_unverified_claims(token)
    assert_rejected(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize(
    "sub",
    [
        "abc",
        "",
        " 1",
        "1 ",
        "01",
        "+1",
        "-1",
        "0",
        "1.0",
        "1e0",
        "0x1",
        "١",
        "1\x00",
        "9" * 19,
        "1 OR 1=1",
    ],
)
def test_a_sub_that_is_not_a_plain_decimal_id_is_rejected(client, key, user_id, sub):
    assert user_id == "1"
    assert_rejected(client.get("/me", headers=bearer(jwt.encode(claims(sub), key, "HS256"))))


@pytest.mark.parametrize("sub", [1, 1.0, True, ["1"], {"id": "1"}])
def test_a_sub_that_is_not_a_string_is_rejected(client, key, user_id, sub):
    assert user_id == "1"
    assert_rejected(client.get("/me", headers=bearer(jwt.encode(claims(sub), key, "HS256"))))


@pytest.mark.parametrize("sub", ["999999", "999999999999999999"])  # the latter: 18 digits, int64
def test_a_sub_of_a_user_that_does_not_exist_is_rejected(client, key, user_id, sub):
    assert_rejected(client.get("/me", headers=bearer(jwt.encode(claims(sub), key, "HS256"))))


@pytest.mark.parametrize(
    ("name", "make_value"),
    [
        ("exp", lambda now: str(now + 600)),
        ("iat", lambda now: str(now)),
        ("exp", lambda now: now + 600.5),
        ("iat", lambda now: now + 0.5),
        ("exp", lambda now: float(now + 600)),
        ("iat", lambda now: float(now)),
        ("exp", lambda now: True),
        ("iat", lambda now: True),
        ("exp", lambda now: None),
        ("iat", lambda now: None),
        ("nbf", lambda now: None),
        ("exp", lambda now: [now + 600]),
        ("iat", lambda now: {"t": now}),
        ("nbf", lambda now: [now]),
        ("exp", lambda now: "inf"),
    ],
    ids=[
        "exp-string",
        "iat-string",
        "exp-float",
        "iat-float",
        "exp-whole-float",
        "iat-whole-float",
        "exp-bool",
        "iat-bool",
        "exp-null",
        "iat-null",
        "nbf-null",
        "exp-array",
        "iat-object",
        "nbf-array",
        "exp-inf-string",
    ],
)
def test_exp_and_iat_that_are_not_integers_are_rejected(client, key, user_id, name, make_value):
    payload = {**claims(user_id), name: make_value(int(time.time()))}
    token = jwt.encode(payload, key, "HS256")
    assert name in jwt.get_unverified_claims(token)
    assert_rejected(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize(
    "header",
    [
        ["alg", "HS256"],
        "HS256",
        1,
        None,
        {},
        {"alg": None},
        {"alg": ["HS256"]},
        {"alg": "HS256", "crit": ["exp"]},
    ],
    ids=repr,
)
def test_a_header_that_is_not_a_proper_jose_object_is_rejected(client, key, user_id, header):
    token = f"{b64url(json.dumps(header).encode())}.{segment(claims(user_id))}.sig"
    assert_rejected(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize("payload", [["sub", "1"], "1", 1, None, True], ids=repr)
def test_a_signed_payload_that_is_not_an_object_is_rejected(client, key, user_id, payload):
    from jose import jws

    token = jws.sign(json.dumps(payload).encode(), key, algorithm="HS256")
    assert_rejected(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize(
    "extra",
    [{"aud": "someone"}, {"aud": 1}, {"jti": 1}, {"nbf": "soon"}],
    ids=repr,
)
def test_odd_optional_claims_are_rejected_not_crashed_on(client, key, user_id, extra):
    token = jwt.encode(claims(user_id, **extra), key, "HS256")
    assert_rejected(client.get("/me", headers=bearer(token)))


def test_a_100_kb_token_is_rejected(client, key, user_id):
    token = jwt.encode(claims(user_id, padding="x" * 100_000), key + "wrong", "HS256")
    assert len(token) > 100_000
    assert_rejected(client.get("/me", headers=bearer(token)))


def test_a_100_kb_garbage_token_is_rejected(client, user_id):
    assert_rejected(client.get("/me", headers=bearer("a." * 50_000 + "a")))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer ",
        "Bearer",
        "Bearer  ",
        "Basic YWxpY2VAZXhhbXBsZS5jb206Y29ycmVjdCBob3JzZQ==",
        "Token abc",
        "abc",
        "",
        "Digest username=alice",
    ],
)
def test_an_empty_bearer_or_another_scheme_is_rejected(client, user_id, authorization):
    response = client.get("/me", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() in (INVALID, NOT_AUTHENTICATED)


def test_a_valid_token_under_the_basic_scheme_is_rejected(client, user_id):
    token = login(client).json()["access_token"]
    assert client.get("/me", headers=bearer(token)).status_code == 200
    assert_rejected(
        client.get("/me", headers={"Authorization": f"Basic {token}"}), NOT_AUTHENTICATED
    )


def test_a_token_in_the_query_string_or_a_cookie_is_not_accepted(client, user_id):
    token = login(client).json()["access_token"]
    assert_rejected(client.get("/me", params={"access_token": token}), NOT_AUTHENTICATED)
    client.cookies.set("access_token", token)
    assert_rejected(client.get("/me"), NOT_AUTHENTICATED)


@pytest.mark.parametrize(
    "token",
    [
        "a.b",
        "a.b.c.d",
        "..",
        "....",
        "eyJhbGciOiJIUzI1NiJ9..",
        "\u00e9.\u00e9.\u00e9",
        "%00.%00.%00",
    ],
)
def test_structurally_broken_tokens_are_rejected(client, user_id, token):
    response = client.get("/me", headers={"Authorization": f"Bearer {token}".encode()})
    assert_rejected(response)


def test_a_token_from_another_deployment_with_another_key_is_rejected(make_client):
    ours = make_client(secret_key="a" * 40)
    theirs = make_client(secret_key="b" * 40)
    register(ours)
    register(theirs)
    their_token = login(theirs).json()["access_token"]
    assert theirs.get("/me", headers=bearer(their_token)).status_code == 200
    assert_rejected(ours.get("/me", headers=bearer(their_token)))
