"""Full-text search across transcripts, on the database engine the app already runs.

SQLite: an FTS5 table (`transcript_segments_fts`, external content, the `unicode61` tokenizer)
that triggers keep in step with `transcript_segments`, ranked by `bm25`. PostgreSQL: a GIN index
on `to_tsvector('simple', search_text)`, ranked by `ts_rank`. Both are made by migration 0006;
no new server.

The index holds the newest transcript of each video, one row per segment, written in the
transaction that stores the transcript (`index_transcript`): a new transcript replaces the
older one's rows, a deleted video or account takes its rows (foreign-key cascades, and on
SQLite the triggers take the FTS rows).

Query language, the same on both engines: words (all must match), `"quoted phrases"` (the
words in that order), `prefix*` (two characters or more). Everything else is not syntax: it
is split into words like the text is (letters and digits; punctuation, `:`, `^`, `(` and SQL
are separators), so no input reaches the engine's own query parser. Matching ignores case and
accents on both engines (`Cafe` finds `café`): the index and the query are folded here, the
same way.
"""

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, delete, select, text
from sqlmodel import Session, col

from app.models import SearchHit, SearchSegment, Transcript, VideoSource
from app.reads import Reader

# SQLite's FTS5 table and its shadow tables: made by the migration, not by the models.
FTS_TABLE = "transcript_segments_fts"
FTS_TABLES = frozenset(
    {FTS_TABLE} | {f"{FTS_TABLE}_{part}" for part in ("data", "idx", "docsize", "config")}
)
SEARCH_INDEX = "ix_transcript_segments_search_text_gin"  # PostgreSQL's
MAX_TERMS = 16
MIN_PREFIX = 2
_WORD = re.compile(r"[^\W_]+")
# A quoted phrase (an unclosed quote runs to the end), or one word, each maybe followed by *.
_TERM = re.compile(r'"([^"]*)(?:"|$)(\*?)|([^\W_]+)(\*?)')


class InvalidQuery(ValueError):
    """A query with nothing to search for, or too much: the 422's message."""


def fold(value: str) -> str:
    """Case and accents dropped: what the index stores and the query looks for."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # folded; more than one: a phrase
    prefix: bool = False  # the last word is a prefix


def parse(query: str) -> list[Term]:
    """The terms of a query; InvalidQuery when it has no word, or more than MAX_TERMS."""
    terms = []
    for match in _TERM.finditer(query):
        phrase, phrase_star, word, word_star = match.groups()
        words = tuple(_WORD.findall(fold(phrase if phrase is not None else word)))
        if not words:
            continue
        star = bool(phrase_star if phrase is not None else word_star)
        terms.append(Term(words, prefix=star and len(words[-1]) >= MIN_PREFIX))
    if not terms:
        raise InvalidQuery("The query has no words to search for (letters or digits)")
    if len(terms) > MAX_TERMS:
        raise InvalidQuery(f"At most {MAX_TERMS} words or phrases")
    return terms


def fts5_match(terms: list[Term]) -> str:
    """The FTS5 MATCH expression: every term quoted (words are letters and digits only)."""
    return " ".join(f'"{" ".join(t.words)}"' + ("*" if t.prefix else "") for t in terms)


def tsquery(terms: list[Term]) -> str:
    """The PostgreSQL to_tsquery expression: terms ANDed, phrases with <->, prefixes :*."""
    parts = []
    for term in terms:
        words = [*term.words[:-1], term.words[-1] + (":*" if term.prefix else "")]
        parts.append(words[0] if len(words) == 1 else "(" + " <-> ".join(words) + ")")
    return " & ".join(parts)


def highlights(segment_text: str, terms: list[Term]) -> list[list[int]]:
    """`[from, to)` ranges of the text's words that a term matched, merged, in order."""
    if segment_text.isascii():
        # ASCII folds to its lower case, character for character: one pass, same offsets.
        tokens = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(segment_text.lower())]
    else:
        tokens = [(m.start(), m.end(), fold(m.group())) for m in _WORD.finditer(segment_text)]
    words = [token[2] for token in tokens]
    ranges = []
    for term in terms:
        *head, wanted = term.words
        size = len(term.words)
        for i in range(len(words) - size + 1):
            last = words[i + size - 1]
            if not (last.startswith(wanted) if term.prefix else last == wanted):
                continue
            if words[i : i + size - 1] == head:
                ranges.append([tokens[i][0], tokens[i + size - 1][1]])
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def index_transcript(session: Session, transcript: Transcript) -> None:
    """Make a new transcript searchable, in the caller's transaction: its segments replace
    those of the video's older transcripts, unless a newer one is already there."""
    # The video's row locked (PostgreSQL) so two transcripts of one video index one at a time.
    session.exec(
        select(VideoSource.id).where(VideoSource.id == transcript.video_id).with_for_update()
    )
    newer = session.exec(
        select(Transcript.id).where(
            Transcript.video_id == transcript.video_id, Transcript.job_id > transcript.job_id
        )
    ).first()
    if newer is not None:
        return
    session.exec(delete(SearchSegment).where(col(SearchSegment.video_id) == transcript.video_id))
    session.add_all(
        SearchSegment(
            transcript_id=transcript.id,
            video_id=transcript.video_id,
            user_id=transcript.user_id,
            job_id=transcript.job_id,
            position=position,
            start=segment["start"],
            end=segment["end"],
            text=segment["text"].strip(),
            search_text=fold(segment["text"]),
        )
        for position, segment in enumerate(transcript.segments)
        if segment["text"].strip()
    )


_SQLITE = """
SELECT s.video_id, s.job_id, s.start, s."end", s.text, v.filename
FROM transcript_segments_fts
JOIN transcript_segments s ON s.id = transcript_segments_fts.rowid
JOIN video_sources v ON v.id = s.video_id
WHERE transcript_segments_fts MATCH :query AND s.user_id = :user_id {video}
ORDER BY bm25(transcript_segments_fts), s.video_id DESC, s.position
LIMIT :limit OFFSET :offset
"""
_POSTGRESQL = """
SELECT s.video_id, s.job_id, s.start, s."end", s.text, v.filename
FROM transcript_segments s
JOIN video_sources v ON v.id = s.video_id
WHERE to_tsvector('simple', s.search_text) @@ to_tsquery('simple', :query)
  AND s.user_id = :user_id {video}
ORDER BY ts_rank(to_tsvector('simple', s.search_text), to_tsquery('simple', :query)) DESC,
         s.video_id DESC, s.position
LIMIT :limit OFFSET :offset
"""


def statement(dialect: str, *, in_video: bool) -> TextClause:
    """The search's SQL on this engine ("sqlite" or "postgresql"), within one video or not."""
    return _STATEMENTS[dialect == "postgresql", in_video]


_STATEMENTS = {
    (postgres, in_video): text(
        (_POSTGRESQL if postgres else _SQLITE).format(
            video="AND s.video_id = :video_id" if in_video else ""
        )
    )
    for postgres in (False, True)
    for in_video in (False, True)
}


def parameters(
    dialect: str, terms: list[Term], *, user_id: int, video_id: int | None, limit: int, offset: int
) -> dict[str, Any]:
    postgres = dialect == "postgresql"
    values: dict[str, Any] = {
        "query": tsquery(terms) if postgres else fts5_match(terms),
        "user_id": user_id,
        "limit": limit,
        "offset": offset,
    }
    if video_id is not None:
        values["video_id"] = video_id
    return values


async def find(
    reader: Reader,
    terms: list[Term],
    *,
    user_id: int,
    video_id: int | None,
    limit: int,
    offset: int,
) -> list[SearchHit]:
    """Up to `limit` hits after `offset`, best first (ties: newest video first, then in the
    order they were said), from this user's videos (and this video, if given)."""
    dialect = reader.dialect.name
    rows = await reader.all(
        statement(dialect, in_video=video_id is not None),
        parameters(dialect, terms, user_id=user_id, video_id=video_id, limit=limit, offset=offset),
        # Never a server-side prepared statement: psycopg prepares a query after 5 runs on a
        # connection, and PostgreSQL's generic plan for a tsquery parameter was several times
        # slower than the plan it makes for the actual query (bench/README.md, "Phase 3:
        # search").
        prepare=False,
    )
    return [
        SearchHit.model_construct(
            video_id=video,
            job_id=job,
            start=start,
            end=end,
            text=said,
            filename=filename,
            highlights=highlights(said, terms),
        )
        for video, job, start, end, said, filename in rows
    ]
