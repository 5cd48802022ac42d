"""The HTTP routes. Each parses, calls crud, and shapes the answer; rules live elsewhere."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from sqlmodel import Session

from app import crud, db
from app.config import Settings
from app.db import SessionDep
from app.limits import MAX_BODY_BYTES
from app.models import ErrorDetail, HealthStatus, Token, User, UserCreate, UserLogin, UserRead
from app.security import PasswordHasher, create_access_token, user_id_from_token

BEARER = {"WWW-Authenticate": "Bearer"}


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorDetail, "description": description}


BAD_CREDENTIALS = {401: _error("Wrong email or password"), 403: _error("Inactive user")}
BAD_TOKEN = {401: _error("Missing, invalid or expired token"), 403: _error("Inactive user")}
TOO_LARGE = {413: _error(f"Request body larger than {MAX_BODY_BYTES // 1024} KiB")}


# async: they only read app.state, and FastAPI would run a plain `def` dependency in the
# threadpool, a thread hop per dependency per request (measured in bench/README.md).
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_hasher(request: Request) -> PasswordHasher:
    return request.app.state.hasher


SettingsDep = Annotated[Settings, Depends(get_settings)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
TokenDep = Annotated[str, Depends(OAuth2PasswordBearer(tokenUrl="auth/token"))]


def inactive_user() -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail="Inactive user")


def _current_user(session: Session, token: str, key: str) -> User:
    user_id = user_id_from_token(token, key=key)
    user = crud.get_user(session, user_id) if user_id is not None else None
    # End the read transaction here: its connection goes back to the pool now, not when the
    # session closes, so a sync route that waits for a thread never sits on a connection.
    session.commit()
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="Could not validate credentials", headers=BEARER
        )
    if not user.is_active:
        raise inactive_user()
    return user


async def get_current_user(session: SessionDep, token: TokenDep, settings: SettingsDep) -> User:
    return await db.call_database(
        session.get_bind(), _current_user, session, token, settings.jwt_key
    )


CurrentUser = Annotated[User, Depends(get_current_user)]

router = APIRouter()


@router.get(
    "/health",
    tags=["health"],
    summary="Report whether the service and its database answer",
    response_model=HealthStatus,
    responses={503: {"model": HealthStatus, "description": "The database does not answer"}},
)
async def health(request: Request) -> JSONResponse:
    if await db.database_answers(request.app.state.engine):
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "unavailable"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


@router.post(
    "/auth/register",
    tags=["auth"],
    summary="Create an account",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses={409: _error("Email already registered"), **TOO_LARGE},
)
def register(
    user_create: UserCreate, session: SessionDep, settings: SettingsDep, hasher: HasherDep
) -> User:
    user = crud.create_user(
        session, user_create=user_create, hasher=hasher, credits=settings.default_credits
    )
    if user is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="Email already registered")
    return user


def _issue_token(
    session: Session, settings: Settings, hasher: PasswordHasher, email: str, password: str
) -> Token:
    user = crud.authenticate(session, email=email, password=password, hasher=hasher)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="Incorrect email or password", headers=BEARER
        )
    # Checked only after the password matched, so a 403 never tells a stranger an account exists.
    if not user.is_active:
        raise inactive_user()
    access_token, expires_in = create_access_token(
        user.id, key=settings.jwt_key, expire_minutes=settings.access_token_expire_minutes
    )
    return Token(access_token=access_token, expires_in=expires_in)


@router.post(
    "/auth/login",
    tags=["auth"],
    summary="Log in with email and password",
    responses={**BAD_CREDENTIALS, **TOO_LARGE},
)
def login(
    credentials: UserLogin, session: SessionDep, settings: SettingsDep, hasher: HasherDep
) -> Token:
    return _issue_token(session, settings, hasher, credentials.email, credentials.password)


@router.post(
    "/auth/token",
    tags=["auth"],
    summary="Log in with the OAuth2 password form (username = email)",
    responses={**BAD_CREDENTIALS, **TOO_LARGE},
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
) -> Token:
    return _issue_token(session, settings, hasher, form.username, form.password)


@router.get(
    "/me", tags=["users"], summary="The current user", response_model=UserRead, responses=BAD_TOKEN
)
async def me(user: CurrentUser) -> User:
    return user
