"""The web app's session: its refresh token in a cookie instead of the JSON body, when a route
is called with `?cookie=true` (docs/web-app.md#the-session-cookie).

The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page sends it),
`Path=/auth` (no other route receives it) and `Secure` over HTTPS. The access token never goes in
a cookie: bearer routes read only the `Authorization` header, so they have no CSRF surface. In
cookie mode a request a browser marks as not same-origin (`Sec-Fetch-Site`) is refused before
anything happens. Without `?cookie=true` the routes behave as they always did: the body carries
the token, and FastAPI's own 422s say when it is missing.
"""

from typing import Annotated

from fastapi import Body, Cookie, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from app.models import RefreshRequest, Token

COOKIE_NAME = "refresh_token"
COOKIE_PATH = "/auth"

CookieMode = Annotated[
    bool,
    Query(
        description="`true`: the refresh token travels in an HttpOnly cookie (Path=/auth), not "
        "in the JSON (the web app); the answer's `refresh_token` is then null."
    ),
]
# Optional for cookie mode; the document shows the body without cookie mode's "or nothing".
# (The routes give it the default None, for no body: not `RefreshRequest | None`, whose union
# would change the 422s of a bad body, nor a nullable body in the document.)
RefreshBody = Annotated[RefreshRequest, Body()]
RefreshCookie = Annotated[
    str | None,
    Cookie(
        alias=COOKIE_NAME,
        description="The refresh token, set by a login with `?cookie=true`; read only with "
        "`?cookie=true`.",
    ),
]


def refuse_cross_origin(request: Request) -> None:
    """403 for a cookie-mode request a browser sent from another origin (Fetch Metadata).
    SameSite=Strict already keeps other sites out; this also keeps out sibling subdomains
    (same site, other origin). Clients that send no `Sec-Fetch-Site` (curl) are not browsers."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Cross-origin request refused")


MISSING_BODY = {"type": "missing", "loc": ("body",), "msg": "Field required"}


async def refuse_null_body(request: Request) -> None:
    """A JSON `null` body, which FastAPI reads as no body (and the document does not allow):
    the 422 of a missing body, as before the body became optional. (The body was read already;
    this is its cached copy.)"""
    if (await request.body()).strip() == b"null":
        raise RequestValidationError([MISSING_BODY])


def presented_token(body: RefreshRequest | None) -> str:
    """The refresh token of a request without `?cookie=true`: the body must carry it, and a
    body without it gets the 422 FastAPI gave before the field became optional for cookie mode."""
    if body is None:
        raise RequestValidationError([MISSING_BODY])
    if body.refresh_token is None:  # left out (null is refused by RefreshRequest itself)
        missing = {"type": "missing", "loc": ("body", "refresh_token"), "msg": "Field required"}
        raise RequestValidationError([missing])
    return body.refresh_token


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def into_cookie(token: Token, request: Request, response: Response, *, max_age: int) -> Token:
    """Set the token's refresh token as the cookie; the answer carries it no more."""
    assert token.refresh_token is not None
    response.set_cookie(
        COOKIE_NAME,
        token.refresh_token,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
    return token.model_copy(update={"refresh_token": None})


def clear(request: Request, response: Response) -> None:
    """Remove the cookie (Max-Age=0)."""
    response.delete_cookie(
        COOKIE_NAME, path=COOKIE_PATH, secure=_secure(request), httponly=True, samesite="strict"
    )


def cleared(request: Request) -> dict[str, str]:
    """The headers that remove the cookie, for an error answer (HTTPException's headers)."""
    response = Response()
    clear(request, response)
    return {"Set-Cookie": response.headers["set-cookie"]}
