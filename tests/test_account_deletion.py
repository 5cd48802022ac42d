"""Deleting an account (issue 25): the personal data goes; the credit ledger stays for the
books, pseudonymised: no user id, no address, a random reference per deleted account."""

from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from app import crud
from app.models import CreditTransaction, User, metadata
from tests.support.utils import PASSWORD, bearer, login, register


def delete_account(client, email: str):
    token = login(client, email=email).json()["access_token"]
    return client.request("DELETE", "/me", json={"password": PASSWORD}, headers=bearer(token))


def user_id(session: Session, email: str) -> int:
    return session.exec(select(User.id).where(User.email == email)).one()


def every_value(session: Session) -> dict[str, list[tuple]]:
    """Every row of every table, as stored."""
    connection = session.connection()
    return {
        table.name: [tuple(row) for row in connection.execute(core_select(table))]
        for table in metadata.sorted_tables
    }


def ledger(session: Session) -> list[CreditTransaction]:
    session.expire_all()
    return list(session.exec(select(CreditTransaction).order_by(col(CreditTransaction.id))))


def test_deleting_an_account_keeps_its_ledger_rows_pseudonymised(make_client):
    client = make_client(default_credits=10)
    for email in ("alice@example.com", "bob@example.com", "carol@example.com"):
        assert register(client, email=email).status_code == 201
    with Session(client.app.state.engine) as session:
        alice, bob = user_id(session, "alice@example.com"), user_id(session, "bob@example.com")
        carol = user_id(session, "carol@example.com")
        crud.grant_credits(session, user_id=alice, amount=5, note="Goodwill for Alice@Example.com")
        crud.grant_credits(session, user_id=alice, amount=-3, note="Correction")
        crud.grant_credits(session, user_id=bob, amount=1, note="bob@example.com asked")
        before = {entry.id: entry.model_dump() for entry in ledger(session)}

    assert delete_account(client, "alice@example.com").status_code == 204
    assert delete_account(client, "carol@example.com").status_code == 204

    with Session(client.app.state.engine) as session:
        rows = ledger(session)
        stored = every_value(session)
    kept = {entry.id: entry for entry in rows}
    assert set(kept) == set(before)  # not one ledger row lost
    alices = [entry for entry in rows if before[entry.id]["user_id"] == alice]
    carols = [entry for entry in rows if before[entry.id]["user_id"] == carol]
    bobs = [entry for entry in rows if before[entry.id]["user_id"] == bob]
    # Alice's rows: no user, one random reference for all of them, the amounts as they were.
    assert len(alices) == 3 and all(entry.user_id is None for entry in alices)
    [reference] = {entry.account_ref for entry in alices}
    assert reference.startswith("deleted-") and len(reference) == 32
    for entry in alices:
        same = {"delta", "balance_after", "kind", "job_id", "created_at"}
        assert {k: v for k, v in entry.model_dump().items() if k in same} == {
            k: v for k, v in before[entry.id].items() if k in same
        }
    assert [entry.note for entry in alices] == [
        "Credits on registration",
        "Goodwill for [deleted account]",
        "Correction",
    ]
    assert sum(entry.delta for entry in alices) == alices[-1].balance_after == 12
    # Carol's rows have a reference of their own; Bob's are untouched.
    assert {entry.account_ref for entry in carols} != {reference}
    assert all(entry.user_id is None and entry.account_ref for entry in carols)
    assert [entry.model_dump() for entry in bobs] == [before[entry.id] for entry in bobs]
    # Nothing anywhere in the database names Alice or Carol any more.
    text = repr(stored).lower()
    assert "alice@example.com" not in text and "carol@example.com" not in text
    assert "bob@example.com" in text
    for table in metadata.sorted_tables:
        if "user_id" in table.c:
            position = list(table.c.keys()).index("user_id")
            owners = {row[position] for row in stored[table.name]}
            assert not owners & {alice, carol}, table.name
    assert [row for row in stored["users"] if row[0] in (alice, carol)] == []


def test_a_new_account_does_not_inherit_a_deleted_accounts_rows(make_client):
    """A new account with the old address (on SQLite even the old id, which is reused) starts
    with its own ledger only."""
    client = make_client(default_credits=10)
    register(client)
    assert delete_account(client, "alice@example.com").status_code == 204
    register(client)
    token = login(client).json()["access_token"]

    history = client.get("/me/credits", headers=bearer(token))

    assert history.status_code == 200
    assert [entry["note"] for entry in history.json()["data"]] == ["Credits on registration"]
