"""Hypothesis-generated Authorization headers and JWTs against GET /me: whatever the header,
the answer is one the OpenAPI document describes, a 401 carries `WWW-Authenticate: Bearer`,
and only a well-formed HS256 token of an existing user signed with the server's key is 200."""

import os
import re
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jose import jwt

from app.security import AUDIENCE
from tests.fuzz.conftest import STATS
from tests.fuzz.test_fuzz_api import app, schema, valid_token

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "500"))
LEEWAY = 10
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
SENDABLE = re.compile(r"\S[^\r\n]*|")
ME = schema["/me"]["GET"]
KEY = app.state.settings.jwt_key

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
now = int(time.time())
claim_values = {
    "sub": st.sampled_from(["1", "2", "0", "01", "-1", "abc", "9" * 19]) | json_values,
    "exp": st.integers(now - 3600, now + 3600) | json_values,
    "iat": st.integers(now - 3600, now + 3600) | json_values,
    "nbf": st.integers(now - 3600, now + 3600) | json_values,
    "aud": st.sampled_from([AUDIENCE, [AUDIENCE], [AUDIENCE, "other"], "other"]) | json_values,
    "typ": st.sampled_from(["access", "password_reset", "at+jwt"]) | json_values,
    "sid": st.text(max_size=8) | json_values,
    "iss": json_values,
    "jti": json_values,
}
arbitrary_claims = st.fixed_dictionaries(
    {}, optional={name: values for name, values in claim_values.items()}
).flatmap(
    lambda base: st.dictionaries(st.text(max_size=8), json_values, max_size=2).map(
        lambda extra: {**extra, **base}
    )
)
DROP = object()


def _mutate(change):
    name, value = change
    valid = {"sub": "1", "iat": now, "exp": now + 600, "typ": "access", "aud": AUDIENCE}
    if name is None:
        return valid
    if value is DROP:
        valid.pop(name, None)
        return valid
    return {**valid, name: value}


# Half the examples are our own valid claims with at most one claim changed, added or dropped,
# so the accepted path and every single-claim deviation from it are exercised.
nearly_valid_claims = st.tuples(
    st.sampled_from([None, *claim_values]),
    st.just(DROP)
    | st.deferred(lambda: st.sampled_from(list(claim_values.values()))).flatmap(
        lambda values: values
    ),
).map(_mutate)
claims = nearly_valid_claims | arbitrary_claims
algorithms = st.sampled_from(["HS256", "HS256", "HS256", "HS384", "HS512"])
keys = st.just(KEY) | st.just(KEY) | st.text(max_size=50)


def call_me(authorization: str):
    STATS.count("GET /me (fuzzed Authorization)")
    valid_token()  # the fuzz user exists: a token of user 1 can be valid
    case = ME.Case(headers={"Authorization": authorization})
    response = case.call_and_validate()
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == ["Bearer"]
    return response


@FUZZ
@given(
    authorization=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255)).filter(
        SENDABLE.fullmatch  # what an HTTP client will put on the wire at all
    )
)
def test_any_authorization_header_is_answered_as_documented(authorization):
    response = call_me(authorization)
    assert response.status_code == 401


@FUZZ
@given(token=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126)))
def test_any_bearer_string_is_answered_as_documented(token):
    call_me(f"Bearer {token}")


def _not_before_now(nbf) -> bool:
    """nbf is optional and never issued by us; jose reads it with int(), so "1" passes too."""
    try:
        return int(nbf) <= time.time() + LEEWAY
    except (TypeError, ValueError, OverflowError):
        return False


def _for_this_api(aud) -> bool:
    """jose takes a string, or a list of strings that holds ours."""
    if isinstance(aud, str):
        return aud == AUDIENCE
    return isinstance(aud, list) and all(isinstance(a, str) for a in aud) and AUDIENCE in aud


@FUZZ
@given(payload=claims, algorithm=algorithms, key=keys)
def test_any_signed_claims_open_me_only_when_they_are_exactly_ours(payload, algorithm, key):
    token = jwt.encode(payload, key, algorithm=algorithm)
    response = call_me(f"Bearer {token}")

    exactly_ours = (
        algorithm == "HS256"
        and key == KEY
        and payload.get("sub") == "1"
        and type(payload.get("exp")) is int
        and payload["exp"] > time.time() - LEEWAY
        and type(payload.get("iat")) is int
        and ("nbf" not in payload or _not_before_now(payload["nbf"]))
        and _for_this_api(payload.get("aud"))
        and payload.get("typ") == "access"
        and (isinstance(payload["sid"], str) if "sid" in payload else True)
        and (isinstance(payload["jti"], str) if "jti" in payload else True)
    )
    if response.status_code == 200:
        assert exactly_ours, repr(payload)
        STATS.count("GET /me (fuzzed claims accepted)")
    else:
        assert response.status_code == 401
