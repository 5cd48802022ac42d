"""Schemathesis against the app's own OpenAPI document: no generated request, valid or not,
may give a server error or an answer the document does not describe."""

import os
import tempfile

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from sqlalchemy import inspect

from app import db, fetch
from app.config import Settings
from app.main import create_app
from tests.fuzz.conftest import STATS
from tests.support.utils import UNTHROTTLED

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
USER = {"email": "fuzz-user@example.com", "password": "fuzz user password"}

# In-memory SQLite: schemathesis starts the app's lifespan (which migrates it) and may stop
# and restart it between operations, so each operation starts on a fresh database.
# No worker threads on the one shared in-memory connection: jobs just stay queued.
# Unthrottled: thousands of failed logins from one address are the fuzzer's job, not an attack.
MEDIA = tempfile.mkdtemp(prefix="fuzz-media-")
# A webhook endpoint's name is resolved when it is registered: never by a real DNS server here
# (traffic stays on loopback, and a lookup per generated URL would take minutes). Every name
# stands for one public documentation address, so valid URLs are accepted.
fetch.resolve_host = lambda host, port: ["93.184.215.14"]
app = create_app(
    Settings(
        database_url="sqlite://",
        bcrypt_rounds=4,
        embedded_worker=False,
        queue_url="memory://",
        media_root=MEDIA,
        **UNTHROTTLED,
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# Not `with`: this client must never start or stop the lifespan schemathesis owns.
_client = TestClient(app)


def valid_token() -> str:
    """A token of the fuzz user, registered in whatever database the app has now."""
    if not inspect(app.state.engine).has_table("users"):
        db.migrate(app.state.engine)  # before schemathesis (re)starts the migrating lifespan
    response = _client.post("/auth/login", json=USER)
    if response.status_code == 401:
        assert _client.post("/auth/register", json=USER).status_code == 201
        response = _client.post("/auth/login", json=USER)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case):
    STATS.count(f"{case.method} {case.path}")
    bearer = case.operation.definition.raw.get("security")
    headers = {"Authorization": f"Bearer {valid_token()}"} if bearer else None
    # Every other check runs (server errors, status codes, bodies, headers and content types
    # against the document, negative data rejected, auth not ignored, ...). Not this one: the
    # password rule is 72 bytes of UTF-8 without NUL, which JSON Schema cannot state (it says
    # maxLength 72 characters), so schema-valid passwords of 25+ multi-byte characters are
    # rightly refused with 422.
    case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
