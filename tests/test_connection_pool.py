"""Connections go back to the pool before a route waits for a thread, so a small pool
serves many concurrent requests instead of blocking the event loop until it times out."""

import asyncio

import httpx
from fastapi import APIRouter
from fastapi.testclient import TestClient

from app.api import CurrentUser
from app.config import Settings
from app.db import SessionDep
from app.main import create_app
from tests.support.utils import bearer, login, register


def test_sync_routes_taking_the_current_user_do_not_starve_a_small_pool(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'pool.db'}",
        bcrypt_rounds=4,
        db_pool_size=2,
        db_max_overflow=0,
        db_pool_timeout_seconds=3,
    )
    app = create_app(settings)
    extra = APIRouter()

    @extra.get("/credits")
    def credits(user: CurrentUser, session: SessionDep) -> int:  # the Phase 2 route style
        return user.credits

    app.include_router(extra)

    async def forty_at_once(token: str) -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            requests = [client.get("/credits", headers=bearer(token)) for _ in range(40)]
            responses = await asyncio.wait_for(asyncio.gather(*requests), timeout=30)
        return [response.status_code for response in responses]

    with TestClient(app) as client:  # runs the start-up migration
        register(client)
        token = login(client).json()["access_token"]

        statuses = asyncio.run(forty_at_once(token))

    assert statuses == [200] * 40
