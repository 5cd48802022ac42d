"""Phase 3 search figures (issue 23), run by bench/run.sh after bench/transcribe.py (or alone:
bench/search.py; BENCH_SEARCH_TRANSCRIPTS=200 for a quick smaller library).

A generated library of TRANSCRIPTS (2,000) transcripts x SEGMENTS (200) segments, per engine:
SQLite (a file) and PostgreSQL (a throwaway cluster started here as
scripts/postgres-cluster.sh starts one, pinned to the driver's CPU, not the server's: a
database host of its own; skipped, and said so, when it cannot be started).

The text: English-like sentences of 8-20 words (one a segment, as Whisper's segments are about a
sentence) from a vocabulary of VOCABULARY words, Zipf-distributed (s = 1): about 130 real
function words first, then real content words, then made-up words; each transcript has a few
topic words it says more often, and a word is followed by one of its four usual next words 30%
of the time, so phrases recur as they do in speech.

The database: migrated (`app.db.migrate`, Alembic head), then rows written directly: users,
video_sources, processing_jobs, transcripts, transcript_segments (`search_text` =
`app.search.fold(text)`, built as `app.search.index_transcript` builds it). On SQLite the
segments go in one transaction per transcript and the migration's triggers fill the FTS5 index.
On PostgreSQL they are COPYed with the GIN index dropped, which is then created again from its
own `pg_get_indexdef` (checked equal), then VACUUM ANALYZE. The last SAMPLE transcripts go
through `index_transcript` (as the transcribe job writes them: add, flush, index, commit),
timed: the time to make a new 200-segment transcript searchable in a full library; their rows
are checked equal to what the bulk writer would have written.

Two ownerships per engine (a database each): the transcripts spread over USERS (20) users, the
searching user owning 100 of them; and one user owning all 2,000 (the user filter's worst case).

On each: the project (`uvicorn app.main:app`, EMBEDDED_WORKER=false, pinned as servers.py pins
it; this process on the other CPU) and `GET /search?q=...&limit=20` from one client, one request
at a time on a kept-alive connection, against the same SQL (`app.search`'s, with the parameters
`app.search.find` gives it: limit 21, as the endpoint asks one more than a page) run directly in
this process through the same driver and engine settings (`app.db.make_engine`), on a connection
of its own. The two alternate request by request (which goes first alternates too), REQUESTS
(200) of each per query kind after WARMUP; each kind cycles through 4 queries of similar
frequency; a fourth kind, a common word (rank 16-19, in about 7% of the segments), is a stress
case, with a quarter of the requests. Target: API p50 <= direct p50 + 5 ms, judged on the
median of the paired differences (each API request minus the direct run of the same query one
request apart: the API's added time, without the scatter of the query's own time). Printed
beside it, the literal differences of p50s: over a row's requests pooled (a kind's four queries
differ in cost, up to 3x with one user, so the pooled median falls between two of them and
jumps with any shift of either) and per query (50 requests each: on 30-90 ms queries whose own
p99 is twice their p50, a few ms of scatter). p99 recorded.
The API's hits are checked equal to the direct rows. Beside it: the hits (the user's, and all
users') of each query, the query plan (SQLite EXPLAIN QUERY PLAN, PostgreSQL EXPLAIN ANALYZE),
and the index's size on disk (SQLite: the FTS5 tables' pages, dbstat; PostgreSQL:
pg_relation_size of the GIN index).

The machine's load shows beside each row: the seconds the server was runnable but waited for a
CPU (/proc/<pid>/task/*/schedstat), and the load average before and after.

BENCH_SEARCH_BASELINE=<checkout>: the project of another checkout (e.g. `git worktree add
/tmp/old <commit>`, with `.venv` linked) serves the same database beside it, and its requests
join the alternation (baseline, API, direct): before/after in the same run, one request apart.

Prints a table and writes bench/results/search.json. About 5 minutes.
"""

import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from report import machine
from servers import (
    EMAIL,
    LOAD_PIN,
    PASSWORD,
    RESULTS,
    ROOT,
    SERVER_PIN,
    http,
    log,
    server,
    server_env,
    server_pid,
    stop_all,
)

sys.path.insert(0, str(ROOT))
from sqlalchemy import Engine, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app import db, search  # noqa: E402
from app.config import Settings  # noqa: E402
from app.models import ProcessingJob, Transcript, User, VideoSource  # noqa: E402
from app.reads import Reader, make_reads  # noqa: E402
from app.security import PasswordHasher  # noqa: E402

TRANSCRIPTS = int(os.environ.get("BENCH_SEARCH_TRANSCRIPTS", "2000"))
SEGMENTS = 200
USERS = 20
SAMPLE = 5  # the last transcripts, written through index_transcript and timed
REQUESTS = int(os.environ.get("BENCH_SEARCH_REQUESTS", "200"))
WARMUP = 20
PAGE = 20  # the endpoint's default limit; it asks the database for one more
VOCABULARY = 5000
ZIPF_S = 1.0
FOLLOW = 0.3  # how often a word is followed by one of its usual next words
TOPIC_WORDS, TOPIC = 12, 0.06  # each transcript's topic words, and how often one is said
SEARCHER = 1  # the user whose searches are measured
STRESS = "common word"  # not one of the issue's kinds: a quarter of the requests
TARGET_MS = 5.0  # API p50 <= direct p50 + 5 ms
BASELINE = os.environ.get("BENCH_SEARCH_BASELINE")  # another checkout, measured beside
SEED = 23

# ---- the text


def _split(words: str) -> list[str]:
    return words.split()


FUNCTION_WORDS = _split(
    "the and to of a i you that it in is we this for so on was what with be have but are "
    "they not just like do know there can all about one if at as or will my me get our your "
    "going think from out up them would their he she his her an yeah right now some people "
    "go time no well here very because how also then these its said see want make really "
    "first other been into has new us back where could thing only over good year look need "
    "two way okay sure even much those any who when which more than were had by did should "
    "take come after still something let us lot use today every through work again same "
    "three few next last before many most"
)
CONTENT_WORDS = _split(
    "meeting budget customer project video team week month report question price service "
    "plan account product design server upload data page model number market sales money "
    "office email phone call contract manager review release version feature problem answer "
    "result change cost growth quarter company client partner screen camera sound music "
    "story picture game school student teacher class lesson health doctor patient hospital "
    "city street house room door window table chair kitchen coffee café water food dinner "
    "morning evening night weekend holiday summer winter spring autumn weather rain snow "
    "travel flight hotel train station ticket road car bike engine energy power light "
    "network internet website search button menu file folder document letter message note "
    "list order delivery package store shop price discount payment invoice bank loan tax "
    "law policy rule government vote election news paper article book chapter author "
    "editor writer reader audience speaker interview podcast episode channel stream show "
    "movie film actor scene script director producer studio record album song band guitar "
    "piano concert ticket festival party friend family mother father brother sister child "
    "baby garden flower tree forest river ocean beach island mountain valley desert field "
    "farm animal horse dog cat bird fish science research experiment theory evidence "
    "analysis method system process quality safety security risk issue error bug fix test "
    "launch deadline schedule calendar agenda minutes slide chart graph table résumé "
    "interview hiring salary bonus career skill training workshop conference keynote panel "
    "strategy vision mission goal target metric revenue profit loss investor board "
    "director founder startup platform mobile laptop tablet battery charger cable storage "
    "backup cloud privacy password login signup profile setting option feedback survey "
    "support ticket refund shipping warehouse supplier factory machine robot sensor "
    "naïve coordinate schedule transcript caption subtitle language translation accent"
)
ONSETS = _split("b c d f g h j k l m n p r s t v w z br cr dr fl gr pl pr sh st tr ch th")
VOWELS = _split("a e i o u ai ea ou oo")
CODAS = ["", "", "n", "r", "l", "s", "t", "m", "nd", "st", "ck", "ng"]


def vocabulary(rng: random.Random) -> list[str]:
    words = list(dict.fromkeys(FUNCTION_WORDS + CONTENT_WORDS))
    known = set(words)
    while len(words) < VOCABULARY:
        word = "".join(
            rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
            for _ in range(rng.choice((2, 2, 3)))
        )
        if word not in known:
            known.add(word)
            words.append(word)
    return words


class Corpus:
    """The library's text, the same for every database of a run."""

    def __init__(self) -> None:
        rng = random.Random(SEED)
        self.words = vocabulary(rng)
        weights = [1 / (rank + 1) ** ZIPF_S for rank in range(len(self.words))]
        total = 0.0
        self.cumulative = []
        for weight in weights:
            total += weight
            self.cumulative.append(total)
        n = len(self.words)
        # Each word's four usual next words, drawn as any word is.
        self.next_words = [
            rng.choices(range(n), cum_weights=self.cumulative, k=4) for _ in range(n)
        ]
        first_content = len(dict.fromkeys(FUNCTION_WORDS))
        self.transcripts = [self._transcript(rng, first_content) for _ in range(TRANSCRIPTS)]

    def _transcript(self, rng: random.Random, first_content: int) -> list[dict[str, Any]]:
        words, n = self.words, len(self.words)
        topic = rng.sample(range(first_content, first_content + 1500), TOPIC_WORDS)
        lengths = [rng.randint(8, 20) for _ in range(SEGMENTS)]
        draws = iter(rng.choices(range(n), cum_weights=self.cumulative, k=sum(lengths)))
        rolls = iter([rng.random() for _ in range(sum(lengths))])
        segments, clock = [], rng.uniform(0.0, 2.0)
        for length in lengths:
            sentence, previous = [], -1
            for _ in range(length):
                roll, word = next(rolls), next(draws)
                if previous >= 0 and roll < FOLLOW:
                    word = self.next_words[previous][int(roll / FOLLOW * 4)]
                elif roll > 1 - TOPIC:
                    word = topic[int((1 - roll) / TOPIC * TOPIC_WORDS) % TOPIC_WORDS]
                sentence.append(words[word])
                previous = word
            if len(sentence) > 10 and rng.random() < 0.4:
                cut = rng.randint(3, len(sentence) - 3)
                sentence[cut] += ","
            sentence[0] = sentence[0].capitalize()
            said = " ".join(sentence) + ("?" if rng.random() < 0.1 else ".")
            seconds = length * 0.38
            segments.append(
                {
                    "start": round(clock, 2),
                    "end": round(clock + seconds, 2),
                    "text": " " + said,
                    "words": None,
                }
            )
            clock += seconds + rng.uniform(0.2, 1.2)
        return segments

    def queries(self) -> dict[str, list[str]]:
        """Four queries per kind, of similar frequency (content words from rank ~130 on)."""
        words = self.words
        first_content = len(dict.fromkeys(FUNCTION_WORDS))
        mid = [first_content + 25 + 5 * i for i in range(4)]
        return {
            "one word": [words[i] for i in mid],
            "two words": [f"{words[i]} {words[i + 40]}" for i in mid],
            "phrase": [f'"{words[i]} {words[self.next_words[i][0]]}"' for i in mid],
            "common word": [words[i] for i in (15, 16, 17, 18)],
        }


def segment_rows(
    transcript_id: int, video_id: int, user_id: int, segments: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """transcript_segments rows as index_transcript writes them (job_id = video_id here)."""
    return [
        (transcript_id, video_id, user_id, video_id, position, s["start"], s["end"],
         s["text"].strip(), search.fold(s["text"]))
        for position, s in enumerate(segments)
        if s["text"].strip()
    ]  # fmt: skip


SEGMENT_COLUMNS = (
    'transcript_id, video_id, user_id, job_id, position, start, "end", text, search_text'
)


# ---- PostgreSQL: a throwaway cluster, as scripts/postgres-cluster.sh starts one


def postgres_bindir() -> Path | None:
    if shutil.which("initdb") and shutil.which("pg_ctl"):
        return Path(os.path.realpath(shutil.which("initdb") or "")).parent
    for path in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


class Postgres:
    """initdb in a temporary directory, started on 127.0.0.1 on a free port; stopped by
    `pg_ctl stop`, or by the pid it recorded."""

    def __init__(self, bindir: Path) -> None:
        from servers import free_port

        self.bindir = bindir
        self.as_owner: list[str] = []
        self.work = Path(tempfile.mkdtemp(prefix="bench-search-postgres-"))
        self.work.chmod(0o700)
        if os.getuid() == 0:  # PostgreSQL refuses to run as root
            owner = "postgres"
            try:
                subprocess.run(["id", "-u", owner], check=True, capture_output=True)
            except subprocess.CalledProcessError:
                owner = "nobody"
            shutil.chown(self.work, owner)
            self.as_owner = ["runuser", "-u", owner, "--"]
        self.data = self.work / "data"
        self.port = free_port()
        self.started = False
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.work}"
            " -c max_connections=100 -c maintenance_work_mem=256MB"
        )
        # On the driver's CPUs, not the server's: PostgreSQL stands for a database host of its
        # own (as deployed), and its backends (parallel workers too) do not take the server's
        # CPU in the middle of the server's request. The server and this driver wait for it
        # alike: the driver's direct queries share its CPU, the server's do not.
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.work / "postgres.log"), "-w", "-t",
            "60", "start", "-o", options, pin=LOAD_PIN,
        )  # fmt: skip
        self.started = True
        self.version = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()

    def _run(self, program: str, *args: str, pin: list[str] | None = None) -> None:
        command = [*(pin or []), *self.as_owner, str(self.bindir / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.started:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            except RuntimeError:
                pid_file = self.data / "postmaster.pid"
                if pid_file.exists():
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
            self.started = False
        shutil.rmtree(self.work, ignore_errors=True)


# ---- loading a library


def owner_of(index: int, users: int) -> int:
    return index % users + 1


def load(engine: Engine, corpus: Corpus, users: int, password_hash: str) -> dict[str, Any]:
    """Migrate, write the library directly, then the SAMPLE through index_transcript."""
    postgres = engine.dialect.name == "postgresql"
    started = time.perf_counter()
    db.migrate(engine)
    indexdef = None
    if postgres:
        with engine.begin() as connection:
            indexdef = connection.execute(
                text("SELECT pg_get_indexdef(CAST(:name AS regclass))"),
                {"name": search.SEARCH_INDEX},
            ).scalar_one()
            connection.execute(text(f"DROP INDEX {search.SEARCH_INDEX}"))
    now = datetime.now(UTC) - timedelta(days=30)
    with Session(engine) as session:
        for user in range(1, USERS + 1):
            email = EMAIL if user == SEARCHER else f"user{user}@bench.example"
            session.add(
                User(id=user, email=email, password_hash=password_hash, email_verified=True)
            )
        session.flush()
        for i, segments in enumerate(corpus.transcripts):
            vid, owner, at = i + 1, owner_of(i, users), now + timedelta(minutes=i)
            duration = segments[-1]["end"] + 1.0
            session.add(
                VideoSource(
                    id=vid, user_id=owner, origin="upload", filename=f"talk-{vid:04d}.mp4",
                    status="ready", size_bytes=10_000_000, content_type="video/mp4",
                    duration_seconds=duration, has_audio=True, created_at=at, updated_at=at,
                )
            )  # fmt: skip
        session.flush()
        for i in range(len(corpus.transcripts)):
            vid, owner, at = i + 1, owner_of(i, users), now + timedelta(minutes=i)
            session.add(
                ProcessingJob(
                    id=vid, video_id=vid, user_id=owner, kind="transcribe", status="succeeded",
                    progress=1.0, attempts=1, options={"language": "en"}, created_at=at,
                    enqueued_at=at, started_at=at, finished_at=at + timedelta(seconds=60),
                )
            )  # fmt: skip
        session.flush()
        for i in range(len(corpus.transcripts) - SAMPLE):
            session.add(transcript_of(corpus, i, users))
        session.commit()
    if postgres:
        with engine.begin() as connection:
            for table in ("users", "video_sources", "processing_jobs", "transcripts"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    rows_started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if postgres:
            with cursor.copy(f"COPY transcript_segments ({SEGMENT_COLUMNS}) FROM STDIN") as copy:
                for i in range(len(corpus.transcripts) - SAMPLE):
                    for row in segment_rows(
                        i + 1, i + 1, owner_of(i, users), corpus.transcripts[i]
                    ):
                        copy.write_row(row)
            raw.commit()
        else:  # one transaction per transcript, as the jobs write them
            insert = f"INSERT INTO transcript_segments ({SEGMENT_COLUMNS}) VALUES ({'?, ' * 8}?)"
            for i in range(len(corpus.transcripts) - SAMPLE):
                cursor.executemany(
                    insert, segment_rows(i + 1, i + 1, owner_of(i, users), corpus.transcripts[i])
                )
                raw.commit()
        cursor.close()
    finally:
        raw.close()
    rows_seconds = time.perf_counter() - rows_started
    index_seconds = 0.0
    if postgres:
        index_started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(text(indexdef))
            again = connection.execute(
                text("SELECT pg_get_indexdef(CAST(:name AS regclass))"),
                {"name": search.SEARCH_INDEX},
            ).scalar_one()
            assert again == indexdef, (again, indexdef)
        index_seconds = time.perf_counter() - index_started
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    searchable = [index_one(engine, corpus, i, users) for i in sample_indexes(corpus)]
    check_equivalence(engine, corpus, users)
    return {
        "load_seconds": time.perf_counter() - started,
        "segment_rows_seconds": rows_seconds,
        "gin_index_build_seconds": index_seconds if postgres else None,
        "gin_indexdef": indexdef,
        "new_transcript": searchable,
    }


def sample_indexes(corpus: Corpus) -> range:
    return range(len(corpus.transcripts) - SAMPLE, len(corpus.transcripts))


def transcript_of(corpus: Corpus, i: int, users: int) -> Transcript:
    segments = corpus.transcripts[i]
    return Transcript(
        id=i + 1, video_id=i + 1, job_id=i + 1, user_id=owner_of(i, users), language="en",
        duration_seconds=segments[-1]["end"] + 1.0, provider="local", model="tiny.en",
        text=" ".join(s["text"].strip() for s in segments), segments=segments,
    )  # fmt: skip


def index_one(engine: Engine, corpus: Corpus, i: int, users: int) -> dict[str, float]:
    """One new transcript written as the transcribe job writes it: add, flush, index, commit."""
    transcript = transcript_of(corpus, i, users)
    with Session(engine, expire_on_commit=False) as session:
        started = time.perf_counter()
        session.add(transcript)
        session.flush()
        flushed = time.perf_counter()
        search.index_transcript(session, transcript)
        session.commit()
        done = time.perf_counter()
    return {"index_and_commit_ms": (done - flushed) * 1e3, "with_row_ms": (done - started) * 1e3}


def check_equivalence(engine: Engine, corpus: Corpus, users: int) -> None:
    """The sample's rows (index_transcript's) are the bulk writer's; both are searchable."""
    with engine.connect() as connection:
        for i in sample_indexes(corpus):
            stored = connection.execute(
                text(f"SELECT {SEGMENT_COLUMNS} FROM transcript_segments "
                     "WHERE transcript_id = :t ORDER BY position"),
                {"t": i + 1},
            ).all()  # fmt: skip
            expected = segment_rows(i + 1, i + 1, owner_of(i, users), corpus.transcripts[i])
            assert [tuple(r) for r in stored] == expected, f"transcript {i + 1} differs"
        if engine.dialect.name == "sqlite":
            counts = connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM transcript_segments), "
                    f"(SELECT count(*) FROM {search.FTS_TABLE}_docsize)"
                )
            ).one()
            assert counts[0] == counts[1] == TRANSCRIPTS * SEGMENTS, counts
    # A word of the first bulk transcript and of the last sample one: both found.
    reads = make_reads(
        engine,
        Settings(_env_file=None, database_url=engine.url.render_as_string(hide_password=False)),
    )

    async def first_hits(i: int) -> list[Any]:
        terms = search.parse(f'"{corpus.transcripts[i][0]["text"]}"')

        async def find(reader: Reader) -> list[Any]:
            return await search.find(
                reader, terms,
                user_id=owner_of(i, users), video_id=i + 1, limit=5, offset=0,
            )  # fmt: skip

        return await reads.run(find)

    async def check() -> None:
        await reads.open()
        try:
            for i in (0, len(corpus.transcripts) - 1):
                hits = await first_hits(i)
                assert hits and hits[0].start == corpus.transcripts[i][0]["start"], i
        finally:
            await reads.close()

    asyncio.run(check())


# ---- measuring


def direct_sql(engine: Engine) -> str:
    return search.statement(engine.dialect.name, in_video=False).text


def direct_parameters(engine: Engine, query: str, user_id: int) -> dict[str, Any]:
    """The parameters app.search.find gives its SQL for the endpoint's first page."""
    return search.parameters(
        engine.dialect.name, search.parse(query),
        user_id=user_id, video_id=None, limit=PAGE + 1, offset=0,
    )  # fmt: skip


def hit_counts(engine: Engine, query: str, user_id: int) -> tuple[int, int]:
    """Segments matching the query: the user's, and all users'."""
    params = direct_parameters(engine, query, user_id)
    if engine.dialect.name == "postgresql":
        sql = (
            "SELECT count(*) FILTER (WHERE user_id = :user_id), count(*) FROM transcript_segments"
            " WHERE to_tsvector('simple', search_text) @@ to_tsquery('simple', :query)"
        )
    else:
        sql = (
            "SELECT count(*) FILTER (WHERE s.user_id = :user_id), count(*) FROM "
            f"{search.FTS_TABLE} JOIN transcript_segments s ON s.id = {search.FTS_TABLE}.rowid "
            f"WHERE {search.FTS_TABLE} MATCH :query"
        )
    with engine.connect() as connection:
        mine, everyone = connection.execute(text(sql), params).one()
    return mine, everyone


def plan(engine: Engine, query: str, user_id: int) -> list[str]:
    params = direct_parameters(engine, query, user_id)
    if engine.dialect.name == "postgresql":
        prefix = "EXPLAIN (ANALYZE, BUFFERS) "
    else:
        prefix = "EXPLAIN QUERY PLAN "
    with engine.connect() as connection:
        rows = connection.execute(text(prefix + direct_sql(engine)), params).all()
    return [str(row[-1]) for row in rows]


def sched(pid: int) -> tuple[float, float]:
    """Seconds all threads of a process have run on a CPU, and been runnable but waited for
    one (/proc/<pid>/task/*/schedstat): the wait is other work on its CPU."""
    ran = waited = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran / 1e9, waited / 1e9


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class Client:
    """One kept-alive HTTP/1.1 connection: a client that does not reconnect per request."""

    def __init__(self, url: str, token: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = HTTPConnection(host, int(port), timeout=60)
        self.headers = {"Authorization": f"Bearer {token}"}

    def search(self, query: str) -> tuple[float, bytes]:
        path = "/search?" + urllib.parse.urlencode({"q": query, "limit": PAGE})
        started = time.perf_counter()
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        seconds = time.perf_counter() - started
        assert response.status == 200, (response.status, body[:300])
        return seconds, body

    def close(self) -> None:
        self.connection.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def per_query(queries: list[str], api: list[float], direct: list[float]) -> list[dict[str, Any]]:
    """Each query's p50s: the requests cycle through the queries, so request n asked
    queries[n % len(queries)] of both."""
    rows = []
    for i, query in enumerate(queries):
        api_p50 = statistics.median(api[i :: len(queries)]) * 1e3
        direct_p50 = statistics.median(direct[i :: len(queries)]) * 1e3
        rows.append(
            {
                "query": query,
                "api_p50_ms": api_p50,
                "direct_p50_ms": direct_p50,
                "difference_p50_ms": api_p50 - direct_p50,
            }
        )
    return rows


def measure(
    url: str, token: str, engine: Engine, corpus: Corpus, baseline: str | None = None
) -> dict[str, Any]:
    client = Client(url, token)
    before = Client(baseline, token) if baseline else None
    pid = server_pid(url)
    assert pid is not None
    sql = text(direct_sql(engine))
    results: dict[str, Any] = {}
    try:
        with engine.connect() as connection:

            def direct(query: str) -> tuple[float, list[Any]]:
                params = direct_parameters(engine, query, SEARCHER)
                started = time.perf_counter()
                rows = connection.execute(sql, params).all()
                seconds = time.perf_counter() - started
                connection.rollback()  # each API request is a transaction of its own too
                return seconds, rows

            for kind, queries in corpus.queries().items():
                for query in queries:  # the same answers, and warm caches for both
                    _, body = client.search(query)
                    _, rows = direct(query)
                    hits = json.loads(body)["data"]
                    got = [(h["video_id"], h["start"], h["text"]) for h in hits]
                    want = [(r.video_id, r.start, r.text) for r in rows[:PAGE]]
                    assert got == want, (kind, query, got[:3], want[:3])
                for n in range(WARMUP):
                    client.search(queries[n % len(queries)])
                    direct(queries[n % len(queries)])
                    if before is not None:
                        before.search(queries[n % len(queries)])
                api, straight, old = [], [], []
                server_before, own_before = sched(pid), sched(os.getpid())
                requests = REQUESTS // 4 if kind == STRESS else REQUESTS
                names = ["api", "direct"] + (["baseline"] if before is not None else [])
                for n in range(requests):
                    query = queries[n % len(queries)]
                    first = n % len(names)  # which goes first rotates
                    for name in names[first:] + names[:first]:
                        if name == "api":
                            api.append(client.search(query)[0])
                        elif name == "direct":
                            straight.append(direct(query)[0])
                        else:
                            old.append(before.search(query)[0])  # type: ignore[union-attr]
                server_after, own_after = sched(pid), sched(os.getpid())
                counts = [hit_counts(engine, q, SEARCHER) for q in queries]
                row = {
                    "queries": queries,
                    "hits_user": [c[0] for c in counts],
                    "hits_all": [c[1] for c in counts],
                    "api_p50_ms": statistics.median(api) * 1e3,
                    "api_p99_ms": percentile(api, 0.99) * 1e3,
                    "direct_p50_ms": statistics.median(straight) * 1e3,
                    "direct_p99_ms": percentile(straight, 0.99) * 1e3,
                    "api_ms": [round(s * 1e3, 3) for s in api],
                    "direct_ms": [round(s * 1e3, 3) for s in straight],
                    "plan": plan(engine, queries[0], SEARCHER),
                    "requests": requests,
                    "server_cpu_ms_per_request": (server_after[0] - server_before[0])
                    / requests
                    * 1e3,
                    "server_wait_s": server_after[1] - server_before[1],
                    "bench_wait_s": own_after[1] - own_before[1],
                }
                row["difference_p50_ms"] = row["api_p50_ms"] - row["direct_p50_ms"]
                row["paired_p50_ms"] = (
                    statistics.median(a - b for a, b in zip(api, straight, strict=True)) * 1e3
                )
                row["per_query"] = per_query(queries, api, straight)
                row["worst_query_difference_ms"] = max(
                    q["difference_p50_ms"] for q in row["per_query"]
                )
                if old:
                    row["baseline_p50_ms"] = statistics.median(old) * 1e3
                    row["baseline_p99_ms"] = percentile(old, 0.99) * 1e3
                    row["baseline_ms"] = [round(s * 1e3, 3) for s in old]
                row["met"] = row["paired_p50_ms"] <= TARGET_MS
                results[kind] = row
                log(
                    f"    {kind:<12} API p50 {row['api_p50_ms']:.2f} p99 {row['api_p99_ms']:.2f}"
                    f" ms, direct p50 {row['direct_p50_ms']:.2f} p99 {row['direct_p99_ms']:.2f}"
                    f" ms, hits {row['hits_user']} of {row['hits_all']}; server CPU "
                    f"{row['server_cpu_ms_per_request']:.2f} ms/request, waited for a CPU "
                    f"{row['server_wait_s']:.2f} s (this process {row['bench_wait_s']:.2f} s)"
                )
    finally:
        client.close()
        if before is not None:
            before.close()
    return results


def index_size(engine: Engine, database_file: Path | None) -> dict[str, Any]:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            sizes = connection.execute(
                text(
                    "SELECT pg_relation_size(:index), pg_relation_size('transcript_segments'), "
                    "pg_total_relation_size('transcript_segments'), "
                    "pg_database_size(current_database())"
                ),
                {"index": search.SEARCH_INDEX},
            ).one()
            return {
                "index_bytes": sizes[0],
                "segments_table_bytes": sizes[1],
                "segments_total_bytes": sizes[2],
                "database_bytes": sizes[3],
            }
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        pages = dict(
            connection.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")).all()
        )
    fts = {name: pages.get(name, 0) for name in sorted(search.FTS_TABLES)}
    assert database_file is not None
    return {
        "index_bytes": sum(fts.values()),
        "fts_tables_bytes": fts,
        "segments_table_bytes": pages.get("transcript_segments", 0),
        "database_bytes": database_file.stat().st_size,
    }


@contextmanager
def project(url: str, tmp: Path) -> Iterator[tuple[str, str, str | None]]:
    """The project's server (and the baseline checkout's, if any) on this database."""
    env = {
        **server_env(url),
        "EMBEDDED_WORKER": "false",
        "MEDIA_ROOT": str(tmp / "media"),
        "QUEUE_URL": f"sqlite:///{tmp / 'queue.db'}",
        "MIGRATE_ON_STARTUP": "false",  # migrated by load(); a baseline may be older
    }
    with ExitStack() as stack:
        base = stack.enter_context(server("search", env))
        baseline = None
        if BASELINE:
            baseline = stack.enter_context(server("search-baseline", env, cwd=Path(BASELINE)))
        token = http(
            "POST", f"{base}/auth/login", json.dumps({"email": EMAIL, "password": PASSWORD})
        )["access_token"]
        yield base, token, baseline


def run_engine(
    name: str, urls: dict[str, str], corpus: Corpus, tmp: Path, password_hash: str
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for ownership, users in (("20 users", USERS), ("1 user", 1)):
        url = urls[ownership]
        log(f"{name}, {ownership}: loading {TRANSCRIPTS} x {SEGMENTS} segments")
        engine = db.make_engine(Settings(_env_file=None, database_url=url))
        try:
            loaded = load(engine, corpus, users, password_hash)
            times = [t["index_and_commit_ms"] for t in loaded["new_transcript"]]
            log(
                f"  loaded in {loaded['load_seconds']:.1f} s; a new transcript searchable in "
                f"{statistics.median(times):.1f} ms (median of {SAMPLE}: "
                + ", ".join(f"{t:.1f}" for t in times)
                + ")"
            )
            file = Path(url.removeprefix("sqlite:///")) if name == "sqlite" else None
            size = index_size(engine, file)
            log(f"  index {size['index_bytes'] / 2**20:.1f} MiB")
            with project(url, tmp) as (base, token, baseline):
                measured = measure(base, token, engine, corpus, baseline)
        finally:
            engine.dispose()
        results[ownership] = {"load": loaded, "size": size, "queries": measured}
    return results


def print_report(results: dict[str, Any], info: dict[str, str]) -> None:
    print(
        f"\nPhase 3: search, {TRANSCRIPTS} transcripts x {SEGMENTS} segments "
        f"({TRANSCRIPTS * SEGMENTS:,}) per database, vocabulary {VOCABULARY} words (Zipf), "
        f"{REQUESTS} sequential requests per row (the stress row fewer), API and direct "
        f"alternating; {info['pinning']}"
    )
    print(
        f"{'engine':<10}{'owner':<10}{'query':<13}{'hits (user/all)':>17}{'API p50':>9}"
        f"{'direct':>8}{'diff':>7}{'worst q':>8}{'paired':>7}  {'target':<16}{'API p99':>8}"
        f"{'direct':>8}"
        f"{'srv wait':>9}"
    )
    for engine, by_owner in results["engines"].items():
        if "skipped" in by_owner:
            print(f"{engine:<10}skipped: {by_owner['skipped']}")
            continue
        for owner, result in by_owner.items():
            for kind, row in result["queries"].items():
                hits = f"{statistics.median(row['hits_user']):.0f}/"
                hits += f"{statistics.median(row['hits_all']):.0f}"
                verdict = "met" if row["met"] else "MISSED"
                print(
                    f"{engine:<10}{owner:<10}{kind:<13}{hits:>17}{row['api_p50_ms']:>9.2f}"
                    f"{row['direct_p50_ms']:>8.2f}{row['difference_p50_ms']:>7.2f}"
                    f"{row['worst_query_difference_ms']:>8.2f}{row['paired_p50_ms']:>7.2f}  "
                    f"<= +{TARGET_MS:.0f} ms {verdict:<6}{row['api_p99_ms']:>8.2f}"
                    f"{row['direct_p99_ms']:>8.2f}"
                    f"{row['server_wait_s'] / row['requests'] * 1e3:>9.2f}"
                    + (
                        f"   baseline {row['baseline_p50_ms']:.2f} "
                        f"(+{row['baseline_p50_ms'] - row['direct_p50_ms']:.2f})"
                        if "baseline_p50_ms" in row
                        else ""
                    )
                )
    print(
        "(ms; API p50, direct, diff: over all the requests of a row (its 4 queries pooled); "
        "worst q: the largest of the 4 queries' own p50 differences; paired: the median of "
        "(API - direct) over the row's request pairs, one request apart, which the target is "
        "judged on; hits: medians over the 4 queries of a row, the searching user's and all "
        "users'; "
        "srv wait: ms per request the server was runnable but waited for a CPU; "
        f"{STRESS}: {REQUESTS // 4} requests)"
    )
    for engine, by_owner in results["engines"].items():
        if "skipped" in by_owner:
            continue
        for owner, result in by_owner.items():
            size, loaded = result["size"], result["load"]
            times = [t["index_and_commit_ms"] for t in loaded["new_transcript"]]
            whole = [t["with_row_ms"] for t in loaded["new_transcript"]]
            print(
                f"{engine:<10}{owner:<10}index {size['index_bytes'] / 2**20:.1f} MiB "
                f"(segments table {size['segments_table_bytes'] / 2**20:.1f} MiB, database "
                f"{size['database_bytes'] / 2**20:.1f} MiB); new 200-segment transcript "
                f"searchable: index_transcript + commit {statistics.median(times):.1f} ms "
                f"(max {max(times):.1f}), with its row {statistics.median(whole):.1f} ms; "
                f"loaded in {loaded['load_seconds']:.0f} s"
            )


def main() -> None:
    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    info = machine()  # before the pinning below: nproc counts the CPUs this process may use
    if SERVER_PIN:  # this process (client and direct queries) on the other CPU
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    RESULTS.mkdir(exist_ok=True)
    started = time.perf_counter()
    log(f"generating {TRANSCRIPTS} transcripts x {SEGMENTS} segments")
    corpus = Corpus()
    log(f"  {time.perf_counter() - started:.1f} s; queries: {corpus.queries()}")
    password_hash = PasswordHasher(int(os.environ.get("BCRYPT_ROUNDS", "12"))).hash(PASSWORD)
    results: dict[str, Any] = {"machine": info, "engines": {}, "loadavg_before": loadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-search-", dir=RESULTS) as name:
        tmp = Path(name)
        urls = {
            o: f"sqlite:///{tmp / ('search-' + o[:2].strip() + '.db')}"
            for o in ("20 users", "1 user")
        }
        results["engines"]["sqlite"] = run_engine("sqlite", urls, corpus, tmp, password_hash)
        for file in tmp.glob("search-*.db*"):
            file.unlink()  # the disk back before PostgreSQL's copies
        bindir = postgres_bindir()
        if bindir is None:
            reason = "PostgreSQL's initdb/pg_ctl not found (apt-get install postgresql)"
            log(reason)
            results["engines"]["postgresql"] = {"skipped": reason}
        else:
            cluster = None
            try:
                cluster = Postgres(bindir)
                log(f"{cluster.version} on 127.0.0.1:{cluster.port}")
                results["postgres_version"] = cluster.version
                urls = {
                    "20 users": cluster.create_database("search_20"),
                    "1 user": cluster.create_database("search_1"),
                }
                results["engines"]["postgresql"] = run_engine(
                    "postgresql", urls, corpus, tmp, password_hash
                )
            except RuntimeError as error:
                if cluster is not None and cluster.started:
                    raise
                log(f"PostgreSQL could not be started: {error}")
                results["engines"]["postgresql"] = {"skipped": f"could not start: {error}"}
            finally:
                if cluster is not None:
                    cluster.stop()
    results["seconds"] = time.perf_counter() - started
    results["loadavg_after"] = loadavg()
    results["settings"] = {
        "transcripts": TRANSCRIPTS, "segments": SEGMENTS, "users": USERS, "sample": SAMPLE,
        "requests": REQUESTS, "warmup": WARMUP, "vocabulary": VOCABULARY, "zipf_s": ZIPF_S,
        "page": PAGE, "target_ms": TARGET_MS,
    }  # fmt: skip
    print_report(results, info)
    print(
        f"({results['seconds']:.0f} s; load average (1 min) before {results['loadavg_before']}, "
        f"after {results['loadavg_after']})"
    )
    (RESULTS / "search.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
