"""/docs and /redoc in a real headless Chromium against a live server, as a person uses them:
Authorize through the OAuth2 form route, "Try it out" on GET /me, ReDoc's rendered operations.

Every request the pages make must go to the live server (no CDN), and the pages' strict
Content-Security-Policy must block nothing they need. Screenshots go to .artifacts/browser/.
"""

from collections.abc import Iterator

import httpx
import pytest

from app.db import ROOT
from tests.browser.cdp import Page, chromium, chromium_path
from tests.support.live import live_server

ARTIFACTS = ROOT / ".artifacts" / "browser"
EMAIL = "browser-user@example.com"
PASSWORD = "browser user password"
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("browser") / "app.db"
    with live_server(f"sqlite:///{database}") as url:
        body = {"email": EMAIL, "password": PASSWORD}
        assert httpx.post(f"{url}/auth/register", json=body).status_code == 201
        yield url


@pytest.fixture
def page() -> Iterator[Page]:
    executable = chromium_path()
    if executable is None:
        pytest.fail("no chromium on PATH: run `make test-browser`, which installs it")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium(executable) as page:
        yield page


def assert_only_the_server_was_asked(page: Page, base_url: str) -> None:
    """Every request went to the live server; the one foreign URL a page tries (ReDoc's sidebar
    logo, hard-coded in its bundle) was blocked by the CSP, never sent."""
    foreign = {
        url: fate
        for url, fate in page.requests().items()
        if not url.startswith((f"{base_url}/", "data:", "blob:", "about:"))
    }
    assert set(foreign) <= {REDOC_LOGO}, f"the page asked other hosts: {foreign}"
    assert set(foreign.values()) <= {"blocked by csp"}, foreign
    errors = [error for error in page.console_errors() if REDOC_LOGO not in error]
    assert not errors, errors


def test_swagger_ui_logs_in_with_authorize_and_runs_get_me(page: Page, base_url: str):
    page.goto(f"{base_url}/docs")
    page.wait_for("document.querySelectorAll('.opblock').length >= 5", what="operations")
    page.screenshot(ARTIFACTS / "docs.png")
    assert "Video AI backend" in page.text(".info .title")

    page.click(".scheme-container button.authorize")
    page.type("#oauth_username", EMAIL)
    page.type("#oauth_password", PASSWORD)
    page.click(".auth-container .auth-btn-wrapper button.authorize")
    page.wait_for(
        "document.querySelector('.auth-container')?.innerText.includes('Logout')",
        what="Authorize to log in",
    )
    page.screenshot(ARTIFACTS / "docs-authorized.png")
    page.click(".auth-btn-wrapper button.btn-done")

    page.click("#operations-users-getMe .opblock-summary-control")
    page.click("#operations-users-getMe button.try-out__btn")
    page.click("#operations-users-getMe button.execute")
    response = page.wait_for(
        "document.querySelector('#operations-users-getMe .live-responses-table')?.innerText",
        what="GET /me to answer",
    )
    page.screenshot(ARTIFACTS / "docs-get-me.png")
    assert EMAIL in response
    assert "200" in response
    assert_only_the_server_was_asked(page, base_url)


def test_redoc_renders_every_operation(page: Page, base_url: str):
    summaries = [
        operation["summary"]
        for path in httpx.get(f"{base_url}/openapi.json").json()["paths"].values()
        for operation in path.values()
    ]
    page.goto(f"{base_url}/redoc")
    page.wait_for(
        "document.querySelectorAll('[data-section-id^=\"operation/\"]').length >= 5",
        what="ReDoc's operation sections",
    )
    page.screenshot(ARTIFACTS / "redoc.png")
    text = page.text("body")
    for summary in summaries:
        assert summary in text
    assert_only_the_server_was_asked(page, base_url)


def test_the_docs_pages_have_a_strict_content_security_policy(base_url: str):
    for path in ("/docs", "/redoc"):
        policy = httpx.get(f"{base_url}{path}").headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "'unsafe-eval'" not in policy
        script = next(part for part in policy.split("; ") if part.startswith("script-src"))
        assert "'unsafe-inline'" not in script
