"""The floor the project is measured against: bare FastAPI doing only the cryptography.

Served by bench/servers.py with the same uvicorn flags as the project:
    uvicorn reference:app --app-dir bench --workers 1 --no-access-log --host 127.0.0.1 --port N

- /health      a plain `def` returning {"status": "ok"}
- /me          a plain `def` that verifies an HS256 token with python-jose (the project's library)
               and returns a fixed body
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
    "created_at": "2026-01-01T00:00:00Z",
    "is_active": True,
    "credits": 0,
}

app = FastAPI()


class Login(BaseModel):
    email: str
    password: str


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/me")
def me(authorization: str = Header("")) -> dict[str, object]:
    _scheme, _, token = authorization.partition(" ")
    try:
        jwt.decode(token, SECRET_KEY, algorithms=["HS256"], audience=AUDIENCE)
    except JOSEError:
        raise HTTPException(401, detail="Could not validate credentials") from None
    return ME


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
