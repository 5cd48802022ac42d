"""The OpenAPI document: what the generated clients, the linter and the docs pages read.

The committed openapi.json (the clients' source) must be what the app serves, and the rules
below hold for every operation and schema, so routes and models added later must follow them.
"""

import json
import re
from collections.abc import Iterator

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from app.api import router
from app.db import ROOT
from app.openapi import operation_id
from scripts.export_openapi import render

COMMITTED = ROOT / "openapi.json"
ERROR_DETAIL = {"$ref": "#/components/schemas/ErrorDetail"}
VALIDATION_ERROR = {"$ref": "#/components/schemas/HTTPValidationError"}
# The first word of an operation id. A new route whose name starts with another verb: add it.
VERBS = {
    "get", "list", "create", "register", "login", "logout", "upload", "delete", "cancel",
    "stream", "check", "update", "refresh", "change", "add", "link", "fetch", "retry", "reset",
    "grant", "request", "verify", "search", "rotate", "redeliver",
}  # fmt: skip
# Response fields that may be left out: a 422 problem's "ctx" appears only when it has values.
OPTIONAL_RESPONSE_FIELDS = {("ValidationError", "ctx")}


def operations(document: dict) -> dict[str, dict]:
    return {
        operation["operationId"]: operation
        for path in document["paths"].values()
        for operation in path.values()
    }


def error_schema(operation: dict, code: str) -> dict:
    return operation["responses"][code]["content"]["application/json"]["schema"]


def schema_name(ref: str) -> str:
    return ref.removeprefix("#/components/schemas/")


def refs(value: object) -> Iterator[str]:
    """Every $ref in a piece of the document, at any depth."""
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            yield schema_name(value["$ref"])
        for child in value.values():
            yield from refs(child)
    elif isinstance(value, list):
        for child in value:
            yield from refs(child)


def response_schemas(document: dict) -> set[str]:
    """The component schemas a response can contain, followed through nested references."""
    schemas = document["components"]["schemas"]
    found: set[str] = set()
    todo = [
        name for operation in operations(document).values() for name in refs(operation["responses"])
    ]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(refs(schemas[name]))
    return found


def test_committed_openapi_json_is_what_the_app_serves(client: TestClient):
    generated = client.app.openapi()
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == generated, (
        "openapi.json is stale: run `make openapi` and commit it"
    )
    assert COMMITTED.read_text(encoding="utf-8") == render(generated), "run `make openapi`"


def test_the_served_document_lists_this_server_first(client: TestClient):
    """So Swagger UI's "Try it out" calls the server that served the page, on any host."""
    served = client.get("/openapi.json").json()
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert served["servers"] == [{"url": "/", "description": "This server"}, *committed["servers"]]
    assert {**served, "servers": committed["servers"]} == committed


def test_info_has_servers_a_license_and_a_contact(client: TestClient):
    document = client.app.openapi()
    assert document["servers"][0]["url"] == "http://127.0.0.1:8000"
    assert document["info"]["license"]["name"]
    assert document["info"]["contact"]["name"]


def test_the_license_has_an_spdx_identifier():
    """OpenAPI 3.1: `identifier` (an SPDX expression) or `url`; orval warns without either.
    Read from the committed document, the one generators are given."""
    license_ = json.loads(COMMITTED.read_text(encoding="utf-8"))["info"]["license"]
    assert license_ == {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"}
    # SPDX: a licence outside its list is `LicenseRef-` and letters, digits, "." and "-".
    assert re.fullmatch(r"LicenseRef-[A-Za-z0-9.-]+", license_["identifier"])


def test_operation_ids_are_the_camel_case_of_the_route_function_names(client: TestClient):
    # The documented ones (GET /playback/{id}'s URLs come whole from createPlaybackUrl).
    routes = [r for r in router.routes if isinstance(r, APIRoute) and r.include_in_schema]
    ids = {route.name: operation_id(route) for route in routes}
    assert ids == {
        "get_health": "getHealth",
        "register": "register",
        "login": "login",
        "login_with_form": "loginWithForm",
        "get_me": "getMe",
        "upload_video": "uploadVideo",
        "create_video_from_link": "createVideoFromLink",
        "list_videos": "listVideos",
        "get_video": "getVideo",
        "delete_video": "deleteVideo",
        "get_video_thumbnail": "getVideoThumbnail",
        "create_playback_url": "createPlaybackUrl",
        "list_video_jobs": "listVideoJobs",
        "get_job": "getJob",
        "cancel_job": "cancelJob",
        "stream_job_events": "streamJobEvents",
        "create_video_job": "createVideoJob",
        "get_job_result": "getJobResult",
        "list_credit_transactions": "listCreditTransactions",
        "grant_credits": "grantCredits",
        "list_users": "listUsers",
        "update_user": "updateUser",
        "refresh_session": "refreshSession",
        "logout": "logout",
        "logout_everywhere": "logoutEverywhere",
        "change_password": "changePassword",
        "request_password_reset": "requestPasswordReset",
        "reset_password": "resetPassword",
        "request_email_verification": "requestEmailVerification",
        "verify_email": "verifyEmail",
        "delete_account": "deleteAccount",
        "list_job_kinds": "listJobKinds",
        "get_video_transcript": "getVideoTranscript",
        "get_video_captions": "getVideoCaptions",
        "list_ai_usage": "listAiUsage",
        "get_ai_usage_totals": "getAiUsageTotals",
        "search_transcripts": "searchTranscripts",
        "search_video_transcript": "searchVideoTranscript",
        "get_video_summary": "getVideoSummary",
        "create_webhook": "createWebhook",
        "list_webhooks": "listWebhooks",
        "update_webhook": "updateWebhook",
        "delete_webhook": "deleteWebhook",
        "rotate_webhook_secret": "rotateWebhookSecret",
        "list_webhook_deliveries": "listWebhookDeliveries",
        "redeliver_webhook": "redeliverWebhook",
    }
    document = client.app.openapi()
    # A list, not a set: two routes with one function name would merge two SDK functions.
    served = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert sorted(served) == sorted(ids.values())


def test_every_operation_id_is_a_camel_case_verb_phrase(client: TestClient):
    for name in operations(client.app.openapi()):
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", name), name
        assert re.match(r"[a-z]+", name).group() in VERBS, f"{name} does not start with a verb"


def test_every_operation_has_a_summary_and_a_declared_tag(client: TestClient):
    document = client.app.openapi()
    declared = {tag["name"] for tag in document["tags"] if tag.get("description")}
    for operation in operations(document).values():
        assert operation.get("summary") and operation.get("tags"), operation["operationId"]
        assert set(operation["tags"]) <= declared, "add the tag to app/openapi.py's TAGS"


PUBLIC_OPERATIONS = {
    "getHealth",
    "register",
    "login",
    "loginWithForm",
    "refreshSession",
    "logout",
    "requestPasswordReset",
    "resetPassword",
    "verifyEmail",
}
BEARER_OPERATIONS = {
    "getMe",
    "deleteAccount",
    "logoutEverywhere",
    "changePassword",
    "requestEmailVerification",
}


def test_get_me_requires_the_bearer_token_and_the_others_are_public(client: TestClient):
    document = client.app.openapi()
    ops = operations(document)
    assert ops["getMe"]["security"] == [{"OAuth2PasswordBearer": []}]
    scheme = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "auth/token"
    for name, operation in ops.items():
        if name in PUBLIC_OPERATIONS:
            assert operation["security"] == [], name
        else:
            assert operation["security"] == [{"OAuth2PasswordBearer": []}], name
    assert BEARER_OPERATIONS.isdisjoint(PUBLIC_OPERATIONS)


def test_errors_are_documented_with_their_body(client: TestClient):
    ops = operations(client.app.openapi())
    expected = {
        "register": {"409", "413"},
        "login": {"401", "403", "413", "429"},
        "loginWithForm": {"401", "403", "413", "429"},
        "getMe": {"401", "403"},
        "refreshSession": {"401", "403", "413"},
        "logout": {"413"},
        "logoutEverywhere": {"401", "403"},
        "changePassword": {"400", "401", "403", "413", "429"},
        "requestPasswordReset": {"413", "429"},
        "resetPassword": {"400", "413"},
        "requestEmailVerification": {"401", "403", "429"},
        "verifyEmail": {"400", "413"},
        "deleteAccount": {"400", "401", "403", "413", "429"},
    }
    for name, codes in expected.items():
        for code in codes:
            assert error_schema(ops[name], code) == ERROR_DETAIL, (name, code)
    for name in set(expected) - {"getMe", "logoutEverywhere", "requestEmailVerification"}:
        assert error_schema(ops[name], "422") == VALIDATION_ERROR, name
    assert error_schema(ops["getHealth"], "503") == {"$ref": "#/components/schemas/HealthStatus"}


def test_every_schema_field_and_parameter_has_a_description(client: TestClient):
    """Generated clients and docs show these; a title alone only repeats the name."""
    document = client.app.openapi()
    for name, schema in document["components"]["schemas"].items():
        assert schema.get("description"), f"schema {name}: give the model a docstring"
        for field, spec in schema.get("properties", {}).items():
            assert spec.get("description"), f"{name}.{field}: add Field(description=...)"
    for name, operation in operations(document).items():
        for parameter in operation.get("parameters", []):
            assert parameter.get("description"), f"{name}: parameter {parameter['name']}"


def test_every_response_field_that_is_always_sent_is_required(client: TestClient):
    """Else generators type it optional (`token_type?: 'bearer'`)."""
    document = client.app.openapi()
    schemas = document["components"]["schemas"]
    names = response_schemas(document)
    assert {"Token", "UserRead", "ErrorDetail", "HealthStatus", "ValidationError"} <= names
    for name in names:
        properties = set(schemas[name].get("properties", {}))
        optional = {field for schema, field in OPTIONAL_RESPONSE_FIELDS if schema == name}
        assert properties - optional <= set(schemas[name].get("required", [])), name
    assert schemas["Token"]["required"] == [
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
    ]


def test_the_oauth2_form_is_a_named_well_typed_schema(client: TestClient):
    document = client.app.openapi()
    body = operations(document)["loginWithForm"]["requestBody"]["content"]
    assert body == {
        "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/LoginForm"}}
    }
    form = document["components"]["schemas"]["LoginForm"]
    assert form["required"] == ["username", "password"]
    assert set(form["properties"]) == {"grant_type", "username", "password"}
    assert form["properties"]["grant_type"]["const"] == "password"
    # A default makes openapi-typescript require the field; optional fields simply have none.
    assert not [field for field in form["properties"].values() if "default" in field]
    assert not [name for name in document["components"]["schemas"] if name.startswith("Body_")]


def test_the_validation_error_schema_matches_the_422_body(client: TestClient):
    schema = client.app.openapi()["components"]["schemas"]["ValidationError"]
    assert set(schema["properties"]) == {"loc", "msg", "type", "ctx"}  # never "input"
    response = client.post("/auth/register", json={"email": "bob@example.com", "password": "x"})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert set(problem) <= set(schema["properties"])


VIDEO_OPERATIONS = {
    "uploadVideo": {"401", "403", "413", "415", "429"},
    "createVideoFromLink": {"401", "403", "413", "429"},
    "listVideos": {"401", "403"},
    "getVideo": {"401", "403", "404"},
    "deleteVideo": {"401", "403", "404"},
    "getVideoThumbnail": {"401", "403", "404"},
    "createPlaybackUrl": {"401", "403", "404", "409"},
    "listVideoJobs": {"401", "403", "404"},
    "getJob": {"401", "403", "404"},
    "cancelJob": {"401", "403", "404", "409"},
    "streamJobEvents": {"401", "403", "404"},
}


def test_video_and_job_operations_need_the_bearer_and_document_their_errors(client: TestClient):
    ops = operations(client.app.openapi())
    for name, codes in VIDEO_OPERATIONS.items():
        assert ops[name]["security"] == [{"OAuth2PasswordBearer": []}], name
        for code in codes:
            assert error_schema(ops[name], code) == ERROR_DETAIL, (name, code)


def test_each_event_of_a_job_stream_is_documented_as_a_job(client: TestClient):
    """So generated clients type the events (OpenAPI 3.1 has no `itemSchema`)."""
    stream = operations(client.app.openapi())["streamJobEvents"]["responses"]["200"]
    assert stream["content"] == {
        "text/event-stream": {"schema": {"$ref": "#/components/schemas/ProcessingJobRead"}}
    }


def test_the_signed_playback_url_is_not_an_operation_and_cookie_mode_is_documented(
    client: TestClient,
):
    document = client.app.openapi()
    assert not [path for path in document["paths"] if path.startswith(("/playback", "/app"))]
    ops = operations(document)
    for name in ("login", "refreshSession", "logout"):
        cookie = [p for p in ops[name]["parameters"] if p["name"] == "cookie"]
        assert cookie and cookie[0]["in"] == "query" and cookie[0]["schema"]["type"] == "boolean"
    token = document["components"]["schemas"]["Token"]["properties"]["refresh_token"]
    assert {"type": "null"} in token["anyOf"]


def test_the_upload_documents_its_multipart_file_field(client: TestClient):
    document = client.app.openapi()
    upload = operations(document)["uploadVideo"]
    body = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body == {"$ref": "#/components/schemas/VideoUpload"}  # a name, for generated clients
    schema = document["components"]["schemas"]["VideoUpload"]
    assert schema["required"] == ["file"]
    assert schema["properties"]["file"]["format"] == "binary"
    assert error_schema(upload, "422") == VALIDATION_ERROR
    assert "VideoSourceRead" in str(upload["responses"]["201"])
