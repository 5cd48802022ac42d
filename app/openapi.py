"""The OpenAPI document as generators read it: FastAPI's, with what FastAPI leaves out.

Operation ids are the camelCase of the route function's name (`get_me` -> `getMe`), so route
functions are named as verb phrases and ids stay stable. Operations without a security
requirement say `security: []` (public). FastAPI's hard-coded validation-error schemas are
replaced by ones with descriptions and without `input`, which the 422 body never carries.
Error responses are documented as the JSON they are, and a server-sent event stream without
OpenAPI 3.2's `itemSchema`, which a 3.1 document may not contain: its schema is the type of each
event's data where the route names one (app/openapi_responses.py JOB_EVENTS), a string
otherwise. A request body written out
by hand with a `title` (the multipart upload) becomes a named schema, so generated clients get
that name rather than one made up from the operation's.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

SERVERS = [{"url": "http://127.0.0.1:8000", "description": "Local development server (make run)"}]
CONTACT = {"name": "Video AI backend maintainers"}
# An SPDX expression: `LicenseRef-` names a licence outside SPDX's list, as proprietary terms are
# (OpenAPI 3.1 asks for an `identifier` or a `url`; client generators such as orval check it).
LICENSE = {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"}
# Every tag a route uses, in the order the docs pages show them (tests/test_openapi.py checks).
TAGS = [
    {"name": "health", "description": "Whether the service and its database answer."},
    {"name": "auth", "description": "Accounts and access tokens."},
    {"name": "users", "description": "The account the bearer token belongs to."},
    {"name": "videos", "description": "Your videos: upload, list, read, delete, thumbnail."},
    {"name": "jobs", "description": "The work done on your videos: follow it or cancel it."},
    {"name": "credits", "description": "Your credit balance's history: grants, charges, refunds."},
    {"name": "search", "description": "Where words were said: full-text search of transcripts."},
    {
        "name": "webhooks",
        "description": "Events pushed to your server (video ready, job ended), signed per the "
        "Standard Webhooks spec; deliveries retried, listed and replayable.",
    },
    {"name": "admin", "description": "Operators (superusers only): users and their credits."},
]

VALIDATION_SCHEMAS: dict[str, dict[str, Any]] = {
    "ValidationError": {
        "title": "ValidationError",
        "description": "One problem found in the request.",
        "type": "object",
        "properties": {
            "loc": {
                "title": "Location",
                "description": 'Where the problem is, e.g. `["body", "email"]`.',
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {
                "title": "Message",
                "description": "What is wrong, for a person to read.",
                "type": "string",
            },
            "type": {
                "title": "Error Type",
                "description": "A code a program can switch on, e.g. `missing`, `string_too_long`.",
                "type": "string",
            },
            "ctx": {
                "title": "Context",
                "description": 'Values of the rule that failed, e.g. `{"max_length": 254}`; '
                "left out when there are none.",
                "type": "object",
            },
        },
        "required": ["loc", "msg", "type"],
    },
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "description": "The request was malformed or broke a rule of its schema.",
        "type": "object",
        "properties": {
            "detail": {
                "title": "Detail",
                "description": "Every problem found, at least one.",
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationError"},
            }
        },
        "required": ["detail"],
    },
}


EVENT_STREAM_SCHEMA = {
    "type": "string",
    "description": "Server-sent events (`event`, `id` and `data` lines, a blank line after each).",
}


def operation_id(route: APIRoute) -> str:
    """`get_me` -> `getMe`, `login_with_form` -> `loginWithForm`."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def install(app: FastAPI) -> None:
    """Make `app.openapi()` return the completed document (generated once, then cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas.update(VALIDATION_SCHEMAS)
            for path in document["paths"].values():
                for operation in path.values():
                    operation.setdefault("security", [])
                    for code, response in operation["responses"].items():
                        _fix_content(code, response.get("content", {}))
                    for media in operation.get("requestBody", {}).get("content", {}).values():
                        _name_schema(media, schemas)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _name_schema(media: dict[str, Any], schemas: dict[str, Any]) -> None:
    schema = media.get("schema", {})
    if "$ref" not in schema and "title" in schema:
        if schemas.setdefault(schema["title"], schema) != schema:
            raise ValueError(f"two different schemas are named {schema['title']}")
        media["schema"] = {"$ref": f"#/components/schemas/{schema['title']}"}


def _fix_content(code: str, content: dict[str, Any]) -> None:
    # An error is always JSON, even from a route whose success is a stream or a file.
    if code[0] in "45" and "application/json" in content:
        for media_type in [name for name in content if name != "application/json"]:
            del content[media_type]
    for media in content.values():
        if "itemSchema" in media:
            del media["itemSchema"]
            media.setdefault("schema", EVENT_STREAM_SCHEMA)
        schema = media.get("schema", {})
        if "$ref" in schema and len(schema) > 1:
            # A documented schema merged over FastAPI's default for a streamed answer
            # ({"type": "string"}, GET /jobs/{id}/events): the reference alone.
            media["schema"] = {"$ref": schema["$ref"]}
