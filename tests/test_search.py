"""Search across transcripts (app/search.py): GET /search and GET /videos/{id}/transcript/search,
on SQLite's FTS5 (make test) and PostgreSQL's full-text search (make test-postgres). Transcripts
are stored here as a succeeded transcribe job would store them (search.index_transcript, in the
same transaction); tests/test_kind_transcribe.py finds a word the real model heard."""

import pytest
from sqlalchemy import event, make_url
from sqlmodel import Session, select

from app import search
from app.models import ProcessingJob, SearchSegment, Transcript, User, VideoSource
from tests.support.postgres import admin_engine, requires_postgres
from tests.support.utils import PASSWORD, bearer, data_statements, statements_sent
from tests.support.videos import user_token


@pytest.fixture
def alice(client) -> str:
    return user_token(client, "alice@example.com")


@pytest.fixture
def bob(client) -> str:
    return user_token(client, "bob@example.com")


def user_id(client, token: str) -> int:
    return client.get("/me", headers=bearer(token)).json()["id"]


def transcribed(client, token: str, lines: list[str], *, video_id: int | None = None) -> int:
    """A video (or another transcript of `video_id`) whose segments say `lines`, 5 s each."""
    owner = user_id(client, token)
    with Session(client.app.state.engine) as session:
        if video_id is None:
            video = VideoSource(
                user_id=owner, origin="upload", status="ready", filename="talk.mp4", has_audio=True
            )
            session.add(video)
            session.flush()
            video_id = video.id
        job = ProcessingJob(video_id=video_id, user_id=owner, kind="transcribe", status="succeeded")
        session.add(job)
        session.flush()
        segments = [
            {"start": 5.0 * i, "end": 5.0 * i + 4.5, "text": f" {line}", "words": None}
            for i, line in enumerate(lines)
        ]
        transcript = Transcript(
            video_id=video_id,
            job_id=job.id,
            user_id=owner,
            language="en",
            duration_seconds=5.0 * len(lines),
            text=" ".join(lines),
            provider="local",
            model="tiny.en",
            segments=segments,
        )
        session.add(transcript)
        session.flush()
        search.index_transcript(session, transcript)
        session.commit()
    return video_id


def find(client, token: str, q: str, **params) -> dict:
    response = client.get("/search", params={"q": q, **params}, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def texts(page: dict) -> list[str]:
    return [hit["text"] for hit in page["data"]]


def test_a_word_is_found_with_its_time_video_and_highlight(client, alice):
    video_id = transcribed(
        client, alice, ["Welcome to the weekly meeting.", "The budget is approved."]
    )

    page = find(client, alice, "budget")

    assert page == {
        "data": [
            {
                "video_id": video_id,
                "job_id": page["data"][0]["job_id"],
                "filename": "talk.mp4",
                "start": 5.0,
                "end": 9.5,
                "text": "The budget is approved.",
                "highlights": [[4, 10]],
            }
        ],
        "next_cursor": None,
    }


def test_only_the_callers_videos_are_searched(client, alice, bob):
    transcribed(client, alice, ["The secret launch date is Friday."])
    transcribed(client, bob, ["Nothing secret here."])

    assert texts(find(client, bob, "secret")) == ["Nothing secret here."]
    assert texts(find(client, bob, "launch")) == []
    assert texts(find(client, alice, "secret")) == ["The secret launch date is Friday."]


def test_all_words_must_match_and_phrases_keep_their_order(client, alice):
    transcribed(client, alice, ["red apple pie", "apple red wine", "green apple"])

    assert sorted(texts(find(client, alice, "apple red"))) == ["apple red wine", "red apple pie"]
    assert texts(find(client, alice, '"red apple"')) == ["red apple pie"]
    page = find(client, alice, '"apple red" wine')
    assert texts(page) == ["apple red wine"]
    assert page["data"][0]["highlights"] == [[0, 9], [10, 14]]  # the phrase, then "wine"


def test_prefixes_case_and_accents(client, alice):
    transcribed(client, alice, ["The Café opens at nine.", "Transcription is automatic."])

    assert texts(find(client, alice, "transcri*")) == ["Transcription is automatic."]
    assert find(client, alice, "transcri*")["data"][0]["highlights"] == [[0, 13]]
    assert texts(find(client, alice, "cafe")) == ["The Café opens at nine."]  # both engines
    assert texts(find(client, alice, "CAFÉ")) == ["The Café opens at nine."]
    assert texts(find(client, alice, "transcri")) == []  # a word, not a prefix


ODD_QUERIES = [
    '"unbalanced quote',
    "NEAR(apple pie)",
    "apple:pie",
    "^apple",
    "apple OR pie",
    "apple AND NOT pie",
    "'; DROP TABLE transcript_segments; --",
    "apple*pie**",
    "-apple +pie",
    "(apple",
    "apple\\",
    "🍎 apple 🥧",
    "\u0000apple",
    "a" * 500,
    "col:apple",
    "{apple pie}",
    "apple & pie | !wine",
    "apple <-> pie",
    "pie:*",
]


@pytest.mark.parametrize("q", ODD_QUERIES)
def test_odd_queries_are_matched_literally_never_a_500(client, alice, q):
    transcribed(client, alice, ["apple pie and wine"])

    response = client.get("/search", params={"q": q}, headers=bearer(alice))

    assert response.status_code == 200, response.text
    assert all(hit["text"] == "apple pie and wine" for hit in response.json()["data"])


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", None),
        ("!!! ??? ...", "The query has no words to search for (letters or digits)"),
        ("🍎🥧", "The query has no words to search for (letters or digits)"),
        ('""', "The query has no words to search for (letters or digits)"),
        ("*", "The query has no words to search for (letters or digits)"),
        (" ".join(f"w{i}" for i in range(17)), "At most 16 words or phrases"),
        ("x" * 501, None),
        ("a " * 1000, None),
    ],
)
def test_queries_with_nothing_to_search_or_too_much_are_422(client, alice, q, message):
    response = client.get("/search", params={"q": q}, headers=bearer(alice))

    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", "q"]
    if message:
        assert detail["msg"] == message


def test_the_matrix_of_odd_queries_never_shows_the_engines_error(client, alice):
    transcribed(client, alice, ["apple pie"])
    for q in ODD_QUERIES + ['"', "*", "NEAR(", '"a" "b" "c"']:
        response = client.get("/search", params={"q": q}, headers=bearer(alice))
        assert response.status_code in (200, 422), (q, response.text)
        assert "fts5" not in response.text.lower() and "syntax" not in response.text.lower()


def test_a_newer_transcript_replaces_the_older_ones_hits(client, alice):
    video_id = transcribed(client, alice, ["the first version"])
    transcribed(client, alice, ["the second version"], video_id=video_id)

    assert texts(find(client, alice, "version")) == ["the second version"]
    assert texts(find(client, alice, "first")) == []


def test_an_older_transcript_finishing_late_does_not_replace_the_newer(client, alice):
    video_id = transcribed(client, alice, ["the newest words"])
    with Session(client.app.state.engine) as session:
        older = Transcript(
            video_id=video_id,
            job_id=0,  # an earlier job than the indexed one
            user_id=user_id(client, alice),
            language="en",
            duration_seconds=5,
            text="stale words",
            provider="local",
            model="tiny.en",
            segments=[{"start": 0, "end": 1, "text": "stale words", "words": None}],
        )
        search.index_transcript(session, older)
        session.rollback()

    assert texts(find(client, alice, "words")) == ["the newest words"]


def test_deleting_the_video_or_the_account_leaves_nothing_searchable(client, alice):
    gone = transcribed(client, alice, ["delete me please"])
    transcribed(client, alice, ["keep me please"])

    assert client.delete(f"/videos/{gone}", headers=bearer(alice)).status_code == 204

    assert texts(find(client, alice, "please")) == ["keep me please"]
    with Session(client.app.state.engine) as session:
        assert session.exec(select(SearchSegment.text)).all() == ["keep me please"]
    deleted = client.request("DELETE", "/me", json={"password": PASSWORD}, headers=bearer(alice))
    assert deleted.status_code == 204
    with Session(client.app.state.engine) as session:
        assert session.exec(select(SearchSegment.text)).all() == []
        if session.get_bind().dialect.name == "sqlite":  # the FTS5 index followed, by trigger
            count = (
                "SELECT count(*) FROM transcript_segments_fts"
                " WHERE transcript_segments_fts MATCH 'please'"
            )
            assert session.connection().exec_driver_sql(count).scalar() == 0


def test_pages_follow_the_cursor_and_ties_come_newest_video_first(client, alice):
    first = transcribed(client, alice, ["hello there"] * 3)
    second = transcribed(client, alice, ["hello there"] * 3)

    page = find(client, alice, "hello", limit=4)
    rest = find(client, alice, "hello", limit=4, cursor=page["next_cursor"])

    assert [h["video_id"] for h in page["data"]] == [second] * 3 + [first]
    assert [h["start"] for h in page["data"][:3]] == [0.0, 5.0, 10.0]
    assert [h["video_id"] for h in rest["data"]] == [first] * 2 and rest["next_cursor"] is None
    bad = client.get("/search", params={"q": "hello", "cursor": "nope"}, headers=bearer(alice))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_search_within_one_video(client, alice, bob):
    one = transcribed(client, alice, ["alpha beta", "gamma"])
    transcribed(client, alice, ["alpha again"])

    response = client.get(f"/videos/{one}/transcript/search?q=alpha", headers=bearer(alice))

    assert response.status_code == 200
    assert [(h["video_id"], h["text"]) for h in response.json()["data"]] == [(one, "alpha beta")]
    other = client.get(f"/videos/{one}/transcript/search?q=alpha", headers=bearer(bob))
    assert (other.status_code, other.json()) == (404, {"detail": "Video not found"})
    with Session(client.app.state.engine) as session:
        bare = VideoSource(user_id=user_id(client, alice), origin="upload", status="ready")
        session.add(bare)
        session.commit()
        bare_id = bare.id
    none = client.get(f"/videos/{bare_id}/transcript/search?q=alpha", headers=bearer(alice))
    assert (none.status_code, none.json()) == (404, {"detail": "Transcript not found"})


def test_search_needs_a_token(client):
    assert client.get("/search?q=hello").status_code == 401


# The search routes check the bearer token in the same database call as the search
# (deps.as_verified_user): every refusal of the other bearer routes holds here too.
SEARCH_ROUTES = ("/search?q=alpha", "/videos/{video}/transcript/search?q=alpha")


def test_the_search_routes_refuse_what_every_bearer_route_refuses(client, alice):
    video = transcribed(client, alice, ["alpha beta"])
    urls = [route.format(video=video) for route in SEARCH_ROUTES]
    for url in urls:
        assert client.get(url, headers=bearer(alice)).status_code == 200
        refused = client.get(url, headers=bearer(alice + "x"))
        assert (refused.status_code, refused.json()) == (
            401,
            {"detail": "Could not validate credentials"},
        )
        assert refused.headers["www-authenticate"] == "Bearer"

    pair = client.post(
        "/auth/token", data={"username": "alice@example.com", "password": PASSWORD}
    ).json()
    client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]})
    for url in urls:  # that session ended: its access token is refused at once
        assert client.get(url, headers=bearer(pair["access_token"])).status_code == 401
        assert client.get(url, headers=bearer(alice)).status_code == 200  # not alice's other

    with Session(client.app.state.engine) as session:
        user = session.exec(select(User).where(User.email == "alice@example.com")).one()
        user.is_active = False
        session.add(user)
        session.commit()
    for url in urls:
        refused = client.get(url, headers=bearer(alice))
        assert (refused.status_code, refused.json()) == (403, {"detail": "Inactive user"})


def test_an_unverified_user_cannot_search_while_verification_is_required(make_client):
    client = make_client(require_verified_email=True)
    token = user_token(client, "carol@example.com")
    for url in ("/search?q=alpha", "/videos/1/transcript/search?q=alpha"):
        refused = client.get(url, headers=bearer(token))
        assert (refused.status_code, refused.json()) == (403, {"detail": "Email not verified"})


def test_a_search_reads_on_one_connection_in_one_call(client, alice):
    """SQLite: one connection of the engine's pool (given back), the user's read and the
    search's on it; the video's search reads the video with the user. PostgreSQL: the read
    pool's async connections (app/reads.py), none of the engine's pool."""
    video = transcribed(client, alice, ["alpha beta"])
    engine = client.app.state.engine
    sqlite = engine.dialect.name == "sqlite"
    checkouts: list[object] = []
    checkins: list[object] = []

    def checkout(dbapi_connection, _record, _proxy) -> None:
        checkouts.append(dbapi_connection)

    def checkin(dbapi_connection, _record) -> None:
        checkins.append(dbapi_connection)

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        with statements_sent(engine) as statements:
            assert find(client, alice, "alpha")["data"][0]["text"] == "alpha beta"
            url = f"/videos/{video}/transcript/search?q=alpha"
            assert client.get(url, headers=bearer(alice)).json()["data"][0]["start"] == 0.0
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)
    if not sqlite:
        assert checkouts == checkins == []
        return
    assert len(checkouts) == len(checkins) == 2  # one a request, and back to the pool
    reads = data_statements(statements)
    assert ["FROM users" in read for read in reads] == [True, False, True, False, False]
    assert ["transcript_segments_fts" in read for read in reads] == [
        False,
        True,
        False,
        False,
        True,
    ]
    assert "JOIN video_sources" in reads[2] and "FROM transcripts" in reads[3]


@requires_postgres
def test_a_search_after_the_database_dropped_its_connections_is_answered(client, alice):
    """No pre-ping on the read pool: a connection found broken is dropped and the search runs
    again on a new one."""
    transcribed(client, alice, ["alpha beta"])
    assert texts(find(client, alice, "alpha")) == ["alpha beta"]
    name = make_url(client.app.state.settings.database_url).query["application_name"]
    with admin_engine().connect() as connection:
        ended = connection.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %(name)s",
            {"name": name},
        ).scalar_one()
    assert ended >= 1

    for _ in range(3):
        assert texts(find(client, alice, "alpha")) == ["alpha beta"]
