"""The committed openapi.json (the TypeScript client's source) must be what the app serves."""

import json

from fastapi.testclient import TestClient

from app.db import ROOT
from scripts.export_openapi import render

COMMITTED = ROOT / "openapi.json"
ERROR_DETAIL = {"$ref": "#/components/schemas/ErrorDetail"}


def operations(document: dict) -> dict[str, dict]:
    return {
        operation["operationId"]: operation
        for path in document["paths"].values()
        for operation in path.values()
    }


def error_schema(operation: dict, code: str) -> dict:
    return operation["responses"][code]["content"]["application/json"]["schema"]


def test_committed_openapi_json_is_what_the_app_serves(client: TestClient):
    served = client.app.openapi()
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == served, (
        "openapi.json is stale: run `make openapi` and commit it"
    )
    assert COMMITTED.read_text(encoding="utf-8") == render(served), "run `make openapi`"


def test_operation_ids_are_short_and_unique(client: TestClient):
    document = client.app.openapi()
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    # A list compared with a set's items: a duplicate id (two routes with one function name)
    # would merge two SDK functions, and fails here.
    assert sorted(ids) == sorted(
        {
            *("health", "register", "login", "token", "me"),
            *(
                "upload_video",
                "create_video_from_link",
                "list_videos",
                "get_video",
                "delete_video",
                "get_video_thumbnail",
            ),
            *("list_video_jobs", "get_job", "cancel_job", "stream_job_events"),
        }
    )


def test_every_operation_has_a_summary_and_a_tag(client: TestClient):
    for operation in operations(client.app.openapi()).values():
        assert operation.get("summary") and operation.get("tags"), operation["operationId"]


def test_me_requires_the_bearer_token(client: TestClient):
    document = client.app.openapi()
    assert operations(document)["me"]["security"] == [{"OAuth2PasswordBearer": []}]
    scheme = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "auth/token"
    for public in ("health", "register", "login", "token"):
        assert "security" not in operations(document)[public], public


def test_errors_are_documented_with_their_body(client: TestClient):
    ops = operations(client.app.openapi())
    expected = {
        "register": {"409", "413"},
        "login": {"401", "403", "413"},
        "token": {"401", "403", "413"},
        "me": {"401", "403"},
    }
    for operation_id, codes in expected.items():
        for code in codes:
            assert error_schema(ops[operation_id], code) == ERROR_DETAIL, (operation_id, code)
    for operation_id in ("register", "login", "token"):
        assert error_schema(ops[operation_id], "422") == {
            "$ref": "#/components/schemas/HTTPValidationError"
        }
    assert error_schema(ops["health"], "503") == {"$ref": "#/components/schemas/HealthStatus"}


VIDEO_OPERATIONS = {
    "upload_video": {"401", "403", "413", "415", "429"},
    "create_video_from_link": {"401", "403", "413", "429"},
    "list_videos": {"401", "403"},
    "get_video": {"401", "403", "404"},
    "delete_video": {"401", "403", "404"},
    "get_video_thumbnail": {"401", "403", "404"},
    "list_video_jobs": {"401", "403", "404"},
    "get_job": {"401", "403", "404"},
    "cancel_job": {"401", "403", "404", "409"},
    "stream_job_events": {"401", "403", "404"},
}


def test_video_and_job_operations_need_the_bearer_and_document_their_errors(client: TestClient):
    ops = operations(client.app.openapi())
    for operation_id, codes in VIDEO_OPERATIONS.items():
        assert ops[operation_id]["security"] == [{"OAuth2PasswordBearer": []}], operation_id
        for code in codes:
            assert error_schema(ops[operation_id], code) == ERROR_DETAIL, (operation_id, code)


def test_the_upload_documents_its_multipart_file_field(client: TestClient):
    upload = operations(client.app.openapi())["upload_video"]
    schema = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"]
    assert schema["properties"]["file"]["format"] == "binary"
    assert error_schema(upload, "422") == {"$ref": "#/components/schemas/HTTPValidationError"}
    assert "VideoSourceRead" in str(upload["responses"]["201"])
