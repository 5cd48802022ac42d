"""/docs and /redoc come with their assets from the app itself, under a strict CSP.
(tests/browser runs them in Chromium; these check what the server sends.)"""

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

ASSET = re.compile(r'(?:src|href|spec-url)="([^"]+)"')


def inline_scripts(html: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", html, re.DOTALL)


def directives(policy: str) -> dict[str, set[str]]:
    return {name: set(values) for name, *values in (part.split() for part in policy.split("; "))}


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_page_loads_everything_from_the_app_itself(client: TestClient, path: str):
    page = client.get(path)
    assert page.status_code == 200
    urls = ASSET.findall(page.text)
    assert urls and all(url.startswith("/") for url in urls), urls
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0


def test_swagger_ui_assets_have_their_types(client: TestClient):
    expected = {
        "/docs/assets/swagger-ui-bundle.js": "text/javascript",
        "/docs/assets/swagger-ui.css": "text/css",
        "/docs/assets/redoc.standalone.js": "text/javascript",
        "/docs/assets/favicon.png": "image/png",
    }
    for url, media_type in expected.items():
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_csp_allows_only_the_pages_own_inline_scripts(client: TestClient, path: str):
    page = client.get(path)
    policy = directives(page.headers["content-security-policy"])
    assert policy["default-src"] == {"'none'"}
    assert policy["connect-src"] == {"'self'"}
    assert policy["frame-ancestors"] == {"'none'"}
    hashes = {
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in inline_scripts(page.text)
    }
    assert policy["script-src"] == {"'self'", *hashes}
    assert page.headers["x-content-type-options"] == "nosniff"


def test_swagger_ui_sends_no_document_to_an_online_validator(client: TestClient):
    assert '"validatorUrl": null' in client.get("/docs").text


def test_fastapis_cdn_pages_are_not_served(client: TestClient):
    for path in ("/docs", "/redoc"):
        assert "cdn.jsdelivr.net" not in client.get(path).text
        assert "fonts.googleapis.com" not in client.get(path).text
