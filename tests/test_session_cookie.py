"""The web app's session cookie (`?cookie=true` on /auth/login, /auth/refresh, /auth/logout):
the refresh token in an HttpOnly, SameSite=Strict, Path=/auth cookie, rotated, cleared on logout
and on a refused refresh; clients that do not ask for it see the API exactly as before."""

from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from sqlmodel import select

from app.models import RefreshToken, User
from app.security import hash_opaque_token
from tests.support.utils import PASSWORD, bearer, login, register

CREDENTIALS = {"email": "alice@example.com", "password": PASSWORD}
THIRTY_DAYS = str(30 * 86400)


def set_cookie(response) -> SimpleCookie:
    """The response's Set-Cookie headers, parsed (attributes included)."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


def post(client, path: str, cookie: str | None = None, **kwargs):
    """A POST that sends exactly this cookie (the test client's own jar is emptied first)."""
    client.cookies.clear()
    headers = kwargs.pop("headers", {})
    if cookie is not None:
        headers["Cookie"] = f"refresh_token={cookie}"
    return client.post(path, headers=headers, **kwargs)


def cookie_login(client) -> tuple[dict, str]:
    """Log in with ?cookie=true: (the answer's body, the refresh token cookie's value)."""
    response = post(client, "/auth/login?cookie=true", json=CREDENTIALS)
    assert response.status_code == 200, response.text
    return response.json(), set_cookie(response)["refresh_token"].value


@pytest.fixture
def user(client) -> None:
    assert register(client).status_code == 201


def assert_cleared(response) -> None:
    morsel = set_cookie(response)["refresh_token"]
    assert morsel.value == ""
    assert morsel["max-age"] == "0"
    assert morsel["path"] == "/auth"


def test_login_with_cookie_sets_an_httponly_strict_cookie_scoped_to_auth(client, user, session):
    response = post(client, "/auth/login?cookie=true", json=CREDENTIALS)
    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] is None
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert client.get("/me", headers=bearer(body["access_token"])).status_code == 200

    [header] = response.headers.get_list("set-cookie")
    morsel = set_cookie(response)["refresh_token"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "strict"
    assert morsel["path"] == "/auth"
    assert morsel["max-age"] == THIRTY_DAYS
    assert not morsel["secure"]  # plain HTTP (the test client's http://testserver)
    assert "Domain" not in header  # host-only
    # The cookie is the session's refresh token, stored only as its hash.
    row = session.exec(select(RefreshToken)).one()
    assert row.token_hash == hash_opaque_token(morsel.value)


def test_over_https_the_cookie_is_secure(make_client):
    client = make_client()
    client.base_url = client.base_url.copy_with(scheme="https")
    assert register(client).status_code == 201
    response = post(client, "/auth/login?cookie=true", json=CREDENTIALS)
    assert response.status_code == 200
    assert set_cookie(response)["refresh_token"]["secure"] is True
    refreshed = post(
        client, "/auth/refresh?cookie=true", set_cookie(response)["refresh_token"].value
    )
    assert set_cookie(refreshed)["refresh_token"]["secure"] is True


@pytest.mark.parametrize("body", [None, {}], ids=["no body", "empty object"])
def test_refresh_with_the_cookie_rotates_it(client, user, body):
    _, first = cookie_login(client)
    response = post(client, "/auth/refresh?cookie=true", first, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"] is None
    assert client.get("/me", headers=bearer(response.json()["access_token"])).status_code == 200
    second = set_cookie(response)["refresh_token"]
    assert second.value and second.value != first
    assert second["httponly"] is True and second["samesite"] == "strict"
    assert second["path"] == "/auth" and second["max-age"] == THIRTY_DAYS
    # The rotated cookie refreshes again.
    assert post(client, "/auth/refresh?cookie=true", second.value).status_code == 200


def refreshed_cookie(client, cookie: str) -> str:
    response = post(client, "/auth/refresh?cookie=true", cookie)
    assert response.status_code == 200, response.text
    return set_cookie(response)["refresh_token"].value


def test_a_reused_cookie_is_401_clears_it_and_ends_the_session(client, user):
    _, first = cookie_login(client)
    second = refreshed_cookie(client, first)
    third = refreshed_cookie(client, second)  # the successor was used: `first` is a copy

    reused = post(client, "/auth/refresh?cookie=true", first)
    assert reused.status_code == 401
    assert reused.json() == {"detail": "Invalid refresh token"}
    assert_cleared(reused)
    # Reuse detection: the newer cookie of that session is dead too.
    assert post(client, "/auth/refresh?cookie=true", third).status_code == 401


def test_a_reload_that_lost_the_refresh_answer_keeps_the_session(client, user, session):
    """The browser sent its cookie, the server rotated it, a reload cut the answer off: the
    browser still holds the old cookie. Within REFRESH_COOKIE_LOST_ANSWER_SECONDS it gets a new
    one; the lost successor is dead, and shown later it counts as a reuse."""
    body, first = cookie_login(client)
    lost = refreshed_cookie(client, first)  # its answer never reached the browser

    again = post(client, "/auth/refresh?cookie=true", first)

    assert again.status_code == 200, again.text
    third = set_cookie(again)["refresh_token"].value
    assert third not in (first, lost)
    assert client.get("/me", headers=bearer(again.json()["access_token"])).status_code == 200
    assert client.get("/me", headers=bearer(body["access_token"])).status_code == 200
    # The lost one presented later (a copy): the session ends, as for any reuse.
    assert post(client, "/auth/refresh?cookie=true", lost).status_code == 401
    assert post(client, "/auth/refresh?cookie=true", third).status_code == 401
    assert client.get("/me", headers=bearer(again.json()["access_token"])).status_code == 401


def test_a_cookie_reused_after_the_lost_answer_window_ends_the_session(client, user, session):
    _, first = cookie_login(client)
    second = refreshed_cookie(client, first)
    row = session.exec(
        select(RefreshToken).where(RefreshToken.token_hash == hash_opaque_token(first))
    ).one()
    row.used_at = row.used_at - timedelta(seconds=21)  # REFRESH_COOKIE_LOST_ANSWER_SECONDS: 20
    session.add(row)
    session.commit()

    assert post(client, "/auth/refresh?cookie=true", first).status_code == 401
    assert post(client, "/auth/refresh?cookie=true", second).status_code == 401


def test_without_cookie_mode_a_reuse_is_never_a_lost_answer(client, user):
    tokens = login(client).json()
    client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

    reused = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

    assert reused.status_code == 401


@pytest.mark.parametrize("cookie", [None, "", "not-a-token", "x" * 5000])
def test_a_refresh_without_a_valid_cookie_is_401_and_clears_it(client, user, cookie):
    response = post(client, "/auth/refresh?cookie=true", cookie)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid refresh token"}
    assert_cleared(response)


def test_the_body_token_does_not_count_in_cookie_mode(client, user):
    pair = login(client).json()  # a token in the body, none in a cookie
    response = post(
        client, "/auth/refresh?cookie=true", json={"refresh_token": pair["refresh_token"]}
    )
    assert response.status_code == 401
    # ... and it was not used up.
    assert (
        post(client, "/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code
        == 200
    )


def test_logout_with_the_cookie_ends_the_session_and_clears_it(client, user, session):
    body, cookie = cookie_login(client)
    response = post(client, "/auth/logout?cookie=true", cookie)
    assert response.status_code == 204
    assert response.content == b""
    assert_cleared(response)
    assert session.exec(select(RefreshToken)).one().revoked_at is not None
    assert post(client, "/auth/refresh?cookie=true", cookie).status_code == 401


def test_logout_without_a_cookie_still_clears_it(client, user):
    response = post(client, "/auth/logout?cookie=true", json={})
    assert response.status_code == 204
    assert_cleared(response)


def test_a_refused_refresh_of_a_deactivated_user_is_403_and_clears_the_cookie(
    client, user, session
):
    _, cookie = cookie_login(client)
    account = session.exec(select(User)).one()
    account.is_active = False
    session.add(account)
    session.commit()
    response = post(client, "/auth/refresh?cookie=true", cookie)
    assert response.status_code == 403
    assert response.json() == {"detail": "Inactive user"}
    assert_cleared(response)


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
@pytest.mark.parametrize("path", ["/auth/login", "/auth/refresh", "/auth/logout"])
def test_a_browser_request_from_another_origin_is_refused_in_cookie_mode(
    client, user, session, site, path
):
    _, cookie = cookie_login(client)
    before = session.exec(select(RefreshToken.id, RefreshToken.used_at, RefreshToken.revoked_at))
    before = before.all()
    response = post(
        client,
        f"{path}?cookie=true",
        cookie,
        json=CREDENTIALS if path == "/auth/login" else None,
        headers={"Sec-Fetch-Site": site},
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "Cross-origin request refused"}
    assert "set-cookie" not in response.headers
    session.expire_all()
    after = session.exec(select(RefreshToken.id, RefreshToken.used_at, RefreshToken.revoked_at))
    assert after.all() == before  # no session started, used up or ended


def test_a_same_origin_browser_request_is_served(client, user):
    _, cookie = cookie_login(client)
    headers = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
    assert post(client, "/auth/refresh?cookie=true", cookie, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_login_an_html_form_could_send_sets_no_cookie(client, user, content_type):
    """What another site's form can send without a CORS preflight: not JSON, so refused."""
    body = f'{{"email": "{CREDENTIALS["email"]}", "password": "{PASSWORD}"}}'
    client.cookies.clear()
    response = client.post(
        "/auth/login?cookie=true", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 422
    assert "set-cookie" not in response.headers


def test_the_cookie_is_not_a_bearer_token(client, user):
    _, cookie = cookie_login(client)
    client.cookies.clear()
    response = client.get("/me", headers={"Cookie": f"refresh_token={cookie}"})
    assert response.status_code == 401


# ---- Clients that do not ask for the cookie: the API as before


def test_a_login_without_cookie_mode_sets_no_cookie_and_returns_the_token(client, user):
    response = post(client, "/auth/login", json=CREDENTIALS)
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert isinstance(response.json()["refresh_token"], str)
    form = client.post("/auth/token", data={"username": CREDENTIALS["email"], "password": PASSWORD})
    assert "set-cookie" not in form.headers
    assert isinstance(form.json()["refresh_token"], str)


def test_refresh_and_logout_without_cookie_mode_ignore_a_cookie(client, user):
    _, cookie = cookie_login(client)
    pair = login(client).json()
    refreshed = post(client, "/auth/refresh", cookie, json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200
    assert "set-cookie" not in refreshed.headers
    assert isinstance(refreshed.json()["refresh_token"], str)
    # The cookie's session was not touched by either call.
    logout = post(
        client, "/auth/logout", cookie, json={"refresh_token": refreshed.json()["refresh_token"]}
    )
    assert logout.status_code == 204
    assert "set-cookie" not in logout.headers
    assert post(client, "/auth/refresh?cookie=true", cookie).status_code == 200


JSON = {"Content-Type": "application/json"}
MISSING_BODY = {"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required"}]}
MISSING_TOKEN = {
    "detail": [{"type": "missing", "loc": ["body", "refresh_token"], "msg": "Field required"}]
}
NULL_TOKEN = {
    "detail": [
        {
            "type": "string_type",
            "loc": ["body", "refresh_token"],
            "msg": "Input should be a valid string",
        }
    ]
}


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, MISSING_BODY),
        ("null", MISSING_BODY),
        ({}, MISSING_TOKEN),
        ({"refresh_token": None}, NULL_TOKEN),
    ],
    ids=["no body", "JSON null", "empty object", "null token"],
)
def test_without_cookie_mode_the_body_token_is_required_as_before(
    client, user, path, body, expected
):
    _, cookie = cookie_login(client)  # a cookie does not stand in for the body
    if body == "null":
        response = post(client, path, cookie, content=b"null", headers=JSON)
    else:
        response = post(client, path, cookie, json=body)
    assert response.status_code == 422
    assert response.json() == expected
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("cookie_mode", [False, True])
@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
@pytest.mark.parametrize(
    ("body", "error_type"),
    [({"refresh_token": "x" * 257}, "string_too_long"), ({"refresh_token": 5}, "string_type")],
)
def test_a_malformed_body_gets_the_422_it_always_got(
    client, user, path, cookie_mode, body, error_type
):
    query = "?cookie=true" if cookie_mode else ""
    response = post(client, f"{path}{query}", json=body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["type"], error["loc"]) == (error_type, ["body", "refresh_token"])


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
def test_in_cookie_mode_a_json_null_is_not_a_body(client, user, path):
    """The document allows no body or a RefreshRequest, not null (nor a null token)."""
    _, cookie = cookie_login(client)
    response = post(client, f"{path}?cookie=true", cookie, content=b" null ", headers=JSON)
    assert response.status_code == 422
    assert response.json() == MISSING_BODY
    assert "set-cookie" not in response.headers
    response = post(client, f"{path}?cookie=true", cookie, json={"refresh_token": None})
    assert response.status_code == 422
    assert response.json() == NULL_TOKEN
    assert post(client, "/auth/refresh?cookie=true", cookie).status_code == 200  # untouched


def test_cookie_mode_must_be_a_boolean(client, user):
    response = post(client, "/auth/login?cookie=maybe", json=CREDENTIALS)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cookie"]
