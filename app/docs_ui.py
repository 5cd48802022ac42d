"""The interactive docs, served by the app itself: they work with no internet and under a strict
Content-Security-Policy.

/docs (Swagger UI) and /redoc (ReDoc) load their JavaScript, CSS and favicon from /docs/assets,
files shipped by the pinned `fastapi-offline` package (the only module that knows it), following
FastAPI's "self-serving JavaScript and CSS for docs" recipe. /openapi.json is the document with
this server first in `servers`, so "Try it out" and Authorize call the server that served the page.
"""

import base64
import hashlib
import re
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = files("fastapi_offline") / "static"
ASSETS_URL = "/docs/assets"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OPENAPI_URL = "/openapi.json"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"

SWAGGER_UI_PARAMETERS = {
    # No badge that sends the document to validator.swagger.io.
    "validatorUrl": None,
}

# Everything from this origin; inline code only when its hash is listed. ReDoc writes its CSS at
# run time (styled-components) and searches in a blob: worker, so its page allows both.
BASE_POLICY = (
    "default-src 'none'; connect-src 'self'; img-src 'self' data:; font-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _hashes(html: str) -> str:
    digests = (hashlib.sha256(body.encode()).digest() for body in INLINE_SCRIPT.findall(html))
    return " ".join(f"'sha256-{base64.b64encode(digest).decode()}'" for digest in digests)


def _with_policy(page: HTMLResponse, *, style: str, extra: str = "") -> HTMLResponse:
    """The page with a CSP that allows exactly its own inline scripts, and no caching."""
    html = bytes(page.body).decode()
    script = f"script-src 'self' {_hashes(html)}".rstrip()
    policy = f"{BASE_POLICY}; {script}; style-src {style}{extra}"
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return HTMLResponse(html, headers=headers)


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc, /openapi.json and the assets. Build the app with `docs_url=None,
    redoc_url=None, openapi_url=None` so that FastAPI's CDN-loading pages are not served."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS_DIR)), name="docs-assets")

    @app.get(OPENAPI_URL, include_in_schema=False)
    async def get_openapi_document(request: Request) -> JSONResponse:
        document: dict[str, Any] = app.openapi()
        here = {"url": request.scope.get("root_path") or "/", "description": "This server"}
        return JSONResponse({**document, "servers": [here, *document.get("servers", [])]})

    @app.get(DOCS_URL, include_in_schema=False)
    async def get_swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
        return _with_policy(page, style="'self'")

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def get_swagger_ui_redirect() -> HTMLResponse:
        return _with_policy(get_swagger_ui_oauth2_redirect_html(), style="'self'")

    @app.get(REDOC_URL, include_in_schema=False)
    async def get_redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        return _with_policy(page, style="'self' 'unsafe-inline'", extra="; worker-src blob:")
