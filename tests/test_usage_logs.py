"""ai_usage_logs: written through crud, tied to its user by the database itself."""

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app import crud
from app.models import AIUsageLog, AIUsageLogCreate, User
from tests.support.utils import register

USAGE = AIUsageLogCreate(provider="openai", model="gpt-4o-mini", tokens_input=120, tokens_output=30)


def test_recorded_usage_is_stored_for_the_user(client, session):
    user_id = register(client).json()["id"]

    log = crud.record_ai_usage(session, user_id=user_id, usage=USAGE)

    stored = session.exec(select(AIUsageLog)).one()
    assert (stored.id, stored.user_id, stored.provider, stored.model) == (
        log.id,
        user_id,
        "openai",
        "gpt-4o-mini",
    )
    assert (stored.tokens_input, stored.tokens_output) == (120, 30)
    assert stored.created_at.utcoffset() == timedelta(0)


def test_negative_token_counts_are_refused_by_the_model():
    with pytest.raises(ValidationError):
        AIUsageLogCreate(provider="openai", model="m", tokens_input=-1, tokens_output=0)


def test_negative_token_counts_are_refused_by_the_database(client, session):
    user_id = register(client).json()["id"]
    session.add(
        AIUsageLog(user_id=user_id, provider="openai", model="m", tokens_input=-5, tokens_output=0)
    )

    with pytest.raises(IntegrityError):
        session.commit()


def test_usage_of_an_unknown_user_is_refused(session):
    with pytest.raises(IntegrityError):
        crud.record_ai_usage(session, user_id=999, usage=USAGE)


def test_deleting_a_user_deletes_their_usage_logs(client):
    user_id = register(client).json()["id"]
    with Session(client.app.state.engine) as session:
        crud.record_ai_usage(session, user_id=user_id, usage=USAGE)
        session.delete(session.get(User, user_id))
        session.commit()

        assert session.exec(select(AIUsageLog)).all() == []
