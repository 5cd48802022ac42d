"""The web app served under /app/ (app/webapp.py): files of the build, index.html for client
routes, 404 for a missing asset, cache headers, a strict Content-Security-Policy; a browser at
`/` is sent there; without a build, a 503 page that says so; the API unchanged."""

import logging
import re
from pathlib import Path

import pytest

from tests.support.services import s3_server

INDEX = '<!doctype html><html><head><script type="module" src="/app/assets/index-a1b2c3.js">\
</script></head><body><div id="root"></div></body></html>'
SCRIPT = b"console.log('app');"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def dist(tmp_path) -> Path:
    """A build as Vite lays it out: index.html, hashed assets, a public file."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-a1b2c3.js").write_bytes(SCRIPT)
    (root / "assets" / "index-d4e5f6.css").write_text("body { margin: 0 }")
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return root


@pytest.fixture
def app_client(make_client, dist):
    return make_client(webapp_dir=dist)


def policy(response) -> dict[str, str]:
    """The Content-Security-Policy as {directive: sources}."""
    directives = (
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    return {name: rest for name, rest in directives}


def assert_strict_policy(response) -> None:
    csp = policy(response)
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no hosts
    assert csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'self'"
    assert csp["img-src"] == "'self' blob: data:"
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_app_is_served_at_app_with_a_strict_policy(app_client):
    response = app_client.get("/app/")
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert_strict_policy(response)
    assert policy(response)["media-src"] == "'self' blob:"  # local storage: the API serves media


def test_app_without_its_slash_redirects_to_it(app_client):
    response = app_client.get("/app", follow_redirects=False)
    assert response.status_code in (307, 308)
    assert response.headers["location"].endswith("/app/")


@pytest.mark.parametrize(
    "path",
    [
        "/app/login",
        "/app/videos",
        "/app/videos/12",
        "/app/videos/12?t=31.5",
        "/app/search?q=a b",
        "/app/settings",
        "/app/signup",
        "/app/no/such/page",
    ],
)
def test_a_deep_link_gives_the_app(app_client, path):
    response = app_client.get(path, headers=BROWSER)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["cache-control"] == "no-cache"
    assert_strict_policy(response)


def test_hashed_assets_are_cached_for_a_year(app_client):
    response = app_client.get("/app/assets/index-a1b2c3.js")
    assert response.status_code == 200
    assert response.content == SCRIPT
    assert response.headers["content-type"].startswith(
        ("text/javascript", "application/javascript")
    )
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    css = app_client.get("/app/assets/index-d4e5f6.css")
    assert css.headers["content-type"].startswith("text/css")
    assert_strict_policy(css)


def test_other_files_of_the_build_are_revalidated(app_client):
    response = app_client.get("/app/favicon.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["cache-control"] == "no-cache"
    again = app_client.get("/app/favicon.svg", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path", ["/app/assets/index-000000.js", "/app/assets/", "/app/assets/sub/x.css"]
)
def test_a_missing_asset_is_404_not_the_app(app_client, path):
    response = app_client.get(path, headers=BROWSER)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert_strict_policy(response)


@pytest.mark.parametrize(
    "path", ["/app/%2e%2e/secret", "/app/assets/%2e%2e/%2e%2e/secret", "/app/..%2fsecret"]
)
def test_nothing_outside_the_build_is_served(app_client, dist, path):
    (dist.parent / "secret").write_text("not for you")
    response = app_client.get(path)
    assert "not for you" not in response.text
    assert response.status_code in (200, 404)
    if response.status_code == 200:
        assert response.text == INDEX


def test_the_app_takes_get_and_head_only(app_client):
    assert app_client.head("/app/videos").status_code == 200
    response = app_client.post("/app/login", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_a_browser_at_the_root_is_sent_to_the_app(app_client):
    response = app_client.get("/", headers=BROWSER, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/app/"
    followed = app_client.get("/", headers=BROWSER)
    assert followed.status_code == 200 and followed.text == INDEX


@pytest.mark.parametrize(
    "headers", [{}, {"Accept": "application/json"}, {"Accept": "*/*"}], ids=["none", "json", "any"]
)
def test_api_clients_at_the_root_get_the_404_they_always_got(app_client, headers):
    response = app_client.get("/", headers=headers, follow_redirects=False)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert app_client.post("/", json={}).status_code == 404


def test_the_api_answers_as_before(app_client):
    assert app_client.get("/health").json() == {"status": "ok"}
    me = app_client.get("/me", headers=BROWSER)
    assert me.status_code == 401
    assert "content-security-policy" not in me.headers  # API answers keep their own headers
    assert app_client.get("/openapi.json").status_code == 200
    assert "/app/" not in str(app_client.get("/openapi.json").json()["paths"])


def test_without_a_build_the_app_says_so_and_the_api_is_served(make_client, tmp_path, caplog):
    missing = tmp_path / "frontend" / "dist"
    with caplog.at_level(logging.WARNING, logger="app"):
        client = make_client(webapp_dir=missing)
    warnings = [r.getMessage() for r in caplog.records if "not built" in r.getMessage()]
    assert len(warnings) == 1 and str(missing) in warnings[0]

    for path in ("/app/", "/app/videos/3"):
        response = client.get(path, headers=BROWSER)
        assert response.status_code == 503
        assert "The web app is not built" in response.text
        assert "npm ci" in response.text
        assert_strict_policy(response)
    assert client.get("/health").status_code == 200
    caplog.clear()
    client.get("/app/")
    assert not [r for r in caplog.records if "not built" in r.getMessage()]  # said once

    # Built while the server runs: served without a restart.
    missing.mkdir(parents=True)
    (missing / "index.html").write_text(INDEX)
    assert client.get("/app/videos/3").text == INDEX


def test_with_s3_storage_media_may_come_from_the_store(make_client, dist, tmp_path):
    with s3_server() as s3:
        bucket = s3.new_bucket()
        client = make_client(
            webapp_dir=dist,
            storage_backend="s3",
            s3_bucket=bucket,
            s3_endpoint_url=s3.url,
            s3_access_key_id="testing",
            s3_secret_access_key="testing",
        )
        response = client.get("/app/")
    assert policy(response)["media-src"] == f"'self' blob: {s3.url}"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", s3.url)
