"""The web app (frontend/, built by Vite into WEBAPP_DIR, `frontend/dist`), served by uvicorn
under /app/ on the API's own origin (docs/web-app.md).

- A file of the build is served as it is: `assets/` (names carry a content hash) cached for a
  year, anything else (index.html) revalidated on every use (`no-cache`, ETag/304).
- Any other path under /app/ is a client route (`/app/videos/12`): index.html, so a reload or a
  shared link opens the app there. A missing `/app/assets/...` is a 404, not index.html.
- Every answer under /app/ carries a Content-Security-Policy that allows scripts and styles from
  this origin only (no inline code, no eval), media and images from here or `blob:` (captions
  and thumbnails fetched with the token), and, with S3 storage, media from the store the
  playback URLs redirect to.
- Without a build the app answers 503 with a page that says how to build it (the log says it
  once); the API is served all the same.
- `GET /` from a browser (`Accept: text/html`) redirects to /app/; any other request to `/` gets
  the API's 404, as before.
"""

import logging
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from app.storage import Storage, video_key

logger = logging.getLogger("app")

PREFIX = "/app"
ASSETS = "assets"
INDEX = "index.html"
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:{media}; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HASHED = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Web app not built</title></head>
<body><h1>The web app is not built</h1>
<p>The API is running, but <code>{directory}</code> holds no <code>index.html</code>.
Build the app with <code>make run</code> (it builds it when Node.js 20.19+ is installed), or
<code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</code>, then reload this page.</p>
<p>The API's documentation is at <a href="/docs">/docs</a>.</p></body></html>
"""


async def media_origin(storage: Storage) -> str:
    """The origin the playback URLs redirect to (S3 storage), for the policy's media-src; ""
    when the API serves the files itself. Presigned locally: no request to the store."""
    url = await run_in_threadpool(
        storage.presign, video_key(0, "source"), expires_seconds=60, content_type="video/mp4"
    )
    if url is None:
        return ""
    parts = urlsplit(url)
    return f" {parts.scheme}://{parts.netloc}"


class WebApp:
    """The ASGI app mounted at /app."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = StaticFiles(directory=directory, check_dir=False)
        self._policy: str | None = None
        if not self.built():
            logger.warning(
                "The web app is not built (%s has no %s): /app/ answers 503, the API is served. "
                "Build it with make run (Node.js 20.19+) or npm ci && npm run build in frontend/.",
                directory,
                INDEX,
            )

    def built(self) -> bool:
        return (self.directory / INDEX).is_file()

    async def policy(self, scope: Scope) -> str:
        if self._policy is None:
            self._policy = POLICY.format(media=await media_origin(scope["app"].state.storage))
        return self._policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(scope)
        response.headers.update({**HEADERS, "Content-Security-Policy": await self.policy(scope)})
        await response(scope, receive, send)

    async def answer(self, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            return JSONResponse(
                {"detail": "Method Not Allowed"}, status_code=405, headers={"Allow": "GET, HEAD"}
            )
        if not self.built():
            page = NOT_BUILT.format(directory=self.directory)
            return HTMLResponse(page, status_code=503, headers={"Cache-Control": "no-store"})
        path = self.files.get_path(scope)  # normalised: "assets/x.js", "videos/12", "."
        asset = path.split("/", 1)[0] == ASSETS
        try:
            response = await self.files.get_response(path, scope)
        except HTTPException as missing:
            if missing.status_code != 404 or asset:
                return JSONResponse({"detail": missing.detail}, status_code=missing.status_code)
            response = await self.files.get_response(INDEX, scope)  # a client route
        response.headers["Cache-Control"] = HASHED if asset else REVALIDATE
        return response


class RootRedirect:
    """`/` for every method: a browser's GET goes to the app, anything else is the API's 404."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        accept = Headers(scope=scope).get("accept", "")
        if scope["method"] in ("GET", "HEAD") and "text/html" in accept:
            response: Response = RedirectResponse(f"{PREFIX}/", status_code=307)
            response.headers["Vary"] = "Accept"
        else:
            response = JSONResponse({"detail": "Not Found"}, status_code=404)
        await response(scope, receive, send)


def install(app: FastAPI, directory: Path) -> None:
    """Serve the build at /app/ (and /app, redirected by the router) and redirect browsers
    from `/`. Call after the API's routes are in place: these match only what they leave."""
    app.mount(PREFIX, WebApp(directory), name="webapp")
    app.router.add_route("/", RootRedirect(), include_in_schema=False)
