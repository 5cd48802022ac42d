"""Builds the app: `uvicorn app.main:app` serves it."""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import announce, db, docs_ui, openapi, playback, webapp
from app.api import router
from app.body_limit import BodySizeLimit
from app.config import Settings
from app.events import JobWatcher
from app.mail import Mailer
from app.pipeline.worker import Worker
from app.reads import make_reads
from app.security import PasswordHasher
from app.storage import FULL_MESSAGE, StorageFull, StorageUnavailable, make_storage
from app.throttle import AuthLimits, Throttle

logger = logging.getLogger("app")


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("Unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)


def _without_input(error: dict[str, Any]) -> dict[str, Any]:
    """One error as the document's ValidationError: no "input", and a "ctx" only with plain
    values (its "error" is the exception object, whose message "msg" already carries)."""
    context = {key: value for key, value in error.get("ctx", {}).items() if key != "error"}
    error = {key: value for key, value in error.items() if key not in ("input", "ctx")}
    return {**error, "ctx": context} if context else error


SEND_JSON = "Send the body as JSON, with the header Content-Type: application/json"


def _is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _unread_body(error: dict[str, Any], request: Request) -> dict[str, Any]:
    """A JSON route's body sent without a JSON Content-Type (curl -d says form-urlencoded)
    reaches the model as bytes: say what to send, not "Input should be a valid dictionary"."""
    content_type = request.headers.get("content-type", "")
    if tuple(error["loc"]) != ("body",) or error["type"] != "model_attributes_type":
        return error
    if _is_json(content_type):
        return error  # JSON indeed, but not an object: the schema's message says so
    sent = f"Content-Type: {content_type[:100]}" if content_type else "no Content-Type"
    message = f"{SEND_JSON} (this request had {sent})"
    return {"type": "content_type", "loc": ["body"], "msg": message}


async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's 422 without each error's "input", which echoed the submitted password and
    made a 500 of input JSON cannot carry back (a lone surrogate "\\ud800", NaN, 1e999).
    A body that was not sent as JSON says so."""
    errors = [_unread_body(_without_input(error), request) for error in exc.errors()]
    # ensure_ascii: a message quoting a lone surrogate still renders (as an escape).
    body = json.dumps({"detail": jsonable_encoder(errors)}, ensure_ascii=True, allow_nan=False)
    return Response(body, status_code=422, media_type="application/json")


async def storage_full(request: Request, exc: StorageFull) -> JSONResponse:
    """No room left (disk, quota, bucket): an operational condition, not a bug, so one log
    line without a traceback, and 507 Insufficient Storage. Nothing was kept (the upload's
    pending object is aborted on the way out). Connection: close, as for a 413."""
    logger.error("Storage full on %s %s: %s", request.method, request.url.path, exc)
    headers = {"Connection": "close"}
    return JSONResponse({"detail": FULL_MESSAGE}, status_code=507, headers=headers)


async def storage_unavailable(request: Request, exc: StorageUnavailable) -> JSONResponse:
    """The object store is down: the client tries again later; nothing was kept half-way.
    Connection: close, as for a 413: an upload may be refused before its body was read."""
    logger.warning("Object store unavailable on %s %s: %s", request.method, request.url.path, exc)
    detail = "The object store is unavailable; try again later"
    headers = {"Retry-After": "10", "Connection": "close"}
    return JSONResponse({"detail": detail}, status_code=503, headers=headers)


FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """FastAPI's handler, except that a body it cannot even decode (JSON that is not UTF-8,
    a broken form) is the documented 422 for a malformed body, not an undocumented 400."""
    if exc.status_code == 400 and exc.detail == FASTAPI_BODY_PARSE_ERROR:
        error = {"type": "body_unparsable", "loc": ["body"], "msg": str(exc.detail)}
        return JSONResponse({"detail": [error]}, status_code=422)
    # Starlette's Allow names the methods of the first route with this path only; a path
    # served by several routes (GET and DELETE /videos/{id}) needs all of them.
    # (Routes outside app.api, such as /docs, keep Starlette's own Allow.)
    if exc.status_code == 405 and (methods := allowed_methods(request)):
        exc.headers = {"Allow": ", ".join(methods)}
    return await http_exception_handler(request, exc)


def allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in router.routes:  # app.api's: the app holds it as one included router
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
            methods |= route.methods
    return sorted(methods)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.ensure_secret_key()
    engine = db.make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_startup:
            db.migrate(engine)
        # Built here, not at import: the queue creates its file, and importing app.main
        # touches nothing on disk.
        # A mailer per run of the lifespan: a stopped one takes no more jobs.
        app.state.mailer = mailer = Mailer(settings)
        storage = make_storage(settings)
        app.state.storage = storage
        app.state.worker = worker = Worker(engine, settings, storage)
        app.state.queue = worker.queue  # what the routes enqueue on
        # The event streams' watcher (app/events.py); this process's worker wakes it at once,
        # and with Redis (QUEUE_URL) the other processes' changes are announced to it.
        app.state.job_watcher = watcher = JobWatcher(
            engine, announce_url=announce.redis_url(settings.queue_url)
        )
        worker.on_change = watcher.notify
        if settings.embedded_worker:
            worker.start()
        # The search routes' connections (app/reads.py), per run of the lifespan too.
        app.state.reads = reads = make_reads(engine, settings)
        await reads.open()
        try:
            async with watcher.running():  # its end ends every open event stream
                yield
        finally:
            await reads.close()
            if settings.embedded_worker:
                worker.stop()
            mailer.close()  # the queued emails go out before the engine closes
            engine.dispose()

    app = FastAPI(
        title="Video AI backend",
        version="0.1.0",
        summary="Accounts, JWT auth and credits; videos by upload, probed and thumbnailed by jobs.",
        servers=openapi.SERVERS,
        contact=openapi.CONTACT,
        license_info=openapi.LICENSE,
        openapi_tags=openapi.TAGS,
        lifespan=lifespan,
        # app.api's routes, served directly by the app's router: an included router would
        # match every request twice through FastAPI's include machinery, about a sixth of
        # an authenticated GET's CPU (bench/README.md).
        routes=router.routes,
        generate_unique_id_function=openapi.operation_id,
        # Served by docs_ui from the app itself, not from a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.hasher = PasswordHasher(settings.bcrypt_rounds)
    app.state.limits = AuthLimits(Throttle(settings.rate_limit_storage_uri), settings)
    openapi.install(app)
    docs_ui.install(app)
    webapp.install(app, settings.webapp_dir)
    playback.hide_from_access_log()  # its URLs' signatures stay out of the access log
    app.add_exception_handler(Exception, unexpected_error)
    app.add_exception_handler(StorageUnavailable, storage_unavailable)
    app.add_exception_handler(StorageFull, storage_full)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_middleware(BodySizeLimit, streamed=frozenset({"/videos/upload"}))
    if settings.cors_origins:  # outermost, so even a 413 carries CORS headers
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "Idempotency-Key"],
            expose_headers=["Location", "Retry-After", "Idempotent-Replayed"],
        )
    return app


app = create_app()
