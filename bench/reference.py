"""The floor the project is measured against: bare FastAPI doing only the cryptography.

Served by bench/servers.py with the same uvicorn flags as the project:
    uvicorn reference:app --app-dir bench --workers 1 --no-access-log --host 127.0.0.1 --port N

- /health      a plain `def` returning {"status": "ok"}
- /me          a plain `def` that verifies an HS256 token with python-jose (the project's library)
               and returns a fixed body
- /videos/{id}, /jobs/{id}
               the same check, an int path parameter, and a fixed body shaped like the project's
               answer for a ready video and its finished ingest job
- /auth/login  a plain `def` that parses the same JSON body and does one bcrypt verification
               with passlib's CryptContext at the project's cost (BCRYPT_ROUNDS, 12 by default)
- /upload      a bare Starlette route that streams `request.stream()` to a file (BENCH_UPLOAD_DIR)

SECRET_KEY must be the project's, so both servers accept the same token.
"""

import os
import tempfile

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from jose import JOSEError, jwt
from passlib.context import CryptContext
from pydantic import BaseModel
from starlette.routing import Route

SECRET_KEY = os.environ["SECRET_KEY"]
AUDIENCE = "video-ai-api"  # the project's access tokens carry it, and jose checks it when asked
ROUNDS = int(os.environ.get("BCRYPT_ROUNDS", "12"))
PASSWORD = os.environ.get("BENCH_PASSWORD", "bench password 123")

context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=ROUNDS)
PASSWORD_HASH = context.hash(PASSWORD)  # once, at import

ME = {
    "email": "bench@example.com",
    "id": 1,
    "created_at": "2026-01-01T00:00:00.000000Z",
    "is_active": True,
    "credits": 0,
    "email_verified": False,
}

VIDEO = {
    "origin": "upload",
    "filename": "big.mp4",
    "source_url": None,
    "status": "ready",
    "size_bytes": 20931,
    "sha256": "5f1d6c7b0d8e2e4f9a3b1c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012",
    "content_type": "video/mp4",
    "duration_seconds": 2.0,
    "width": 320,
    "height": 240,
    "fps": 25.0,
    "video_codec": "h264",
    "audio_codec": "aac",
    "has_audio": True,
    "id": 1,
    "error": None,
    "thumbnail_url": "/videos/1/thumbnail",
    "ingest_job_id": 1,
    "created_at": "2026-01-01T00:00:00.000000Z",
    "updated_at": "2026-01-01T00:00:01.000000Z",
}
JOB = {
    "kind": "ingest",
    "status": "succeeded",
    "stage": "thumbnail",
    "progress": 1.0,
    "attempts": 1,
    "credits_charged": 0,
    "options": None,
    "id": 1,
    "video_id": 1,
    "error": None,
    "result_url": None,
    "created_at": "2026-01-01T00:00:00.000000Z",
    "started_at": "2026-01-01T00:00:00.050000Z",
    "finished_at": "2026-01-01T00:00:01.000000Z",
}

app = FastAPI()


class Login(BaseModel):
    email: str
    password: str


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


def verify(authorization: str) -> None:
    _scheme, _, token = authorization.partition(" ")
    try:
        jwt.decode(token, SECRET_KEY, algorithms=["HS256"], audience=AUDIENCE)
    except JOSEError:
        raise HTTPException(401, detail="Could not validate credentials") from None


@app.get("/me")
def me(authorization: str = Header("")) -> dict[str, object]:
    verify(authorization)
    return ME


@app.get("/videos/{video_id}")
def video(video_id: int, authorization: str = Header("")) -> dict[str, object]:
    verify(authorization)
    return {**VIDEO, "id": video_id}


@app.get("/jobs/{job_id}")
def job(job_id: int, authorization: str = Header("")) -> dict[str, object]:
    verify(authorization)
    return {**JOB, "id": job_id}


@app.post("/auth/login")
def login(credentials: Login) -> dict[str, object]:
    if not context.verify(credentials.password, PASSWORD_HASH):
        raise HTTPException(401, detail="Incorrect email or password")
    return {"access_token": "x", "token_type": "bearer", "expires_in": 1800}


async def upload(request: Request) -> JSONResponse:
    """The floor for uploads: a bare Starlette route that streams the body to a file."""
    directory = os.environ.get("BENCH_UPLOAD_DIR", tempfile.gettempdir())
    with tempfile.NamedTemporaryFile(dir=directory, delete=True) as file:
        size = 0
        async for chunk in request.stream():
            file.write(chunk)
            size += len(chunk)
    return JSONResponse({"size": size}, status_code=201)


app.router.routes.append(Route("/upload", upload, methods=["POST"]))
