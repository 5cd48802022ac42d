"""search: transcript_segments and its full-text index (FTS5 on SQLite, GIN on PostgreSQL)

Revision ID: 0006_search
Revises: 0005_transcripts
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_search"
down_revision: str | None = "0005_transcripts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# External content: FTS5 keeps only the index; the text stays in transcript_segments, which the
# triggers follow (a cascade from a deleted video or user fires them too).
SQLITE_FTS = [
    """CREATE VIRTUAL TABLE transcript_segments_fts USING fts5(
        search_text, content='transcript_segments', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER transcript_segments_ai AFTER INSERT ON transcript_segments BEGIN
        INSERT INTO transcript_segments_fts(rowid, search_text) VALUES (new.id, new.search_text);
    END""",
    """CREATE TRIGGER transcript_segments_ad AFTER DELETE ON transcript_segments BEGIN
        INSERT INTO transcript_segments_fts(transcript_segments_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
    END""",
    """CREATE TRIGGER transcript_segments_au AFTER UPDATE ON transcript_segments BEGIN
        INSERT INTO transcript_segments_fts(transcript_segments_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
        INSERT INTO transcript_segments_fts(rowid, search_text) VALUES (new.id, new.search_text);
    END""",
]


def upgrade() -> None:
    op.create_table(
        "transcript_segments",
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transcript_id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name=op.f("fk_transcript_segments_transcript_id_transcripts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_transcript_segments_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["video_sources.id"],
            name=op.f("fk_transcript_segments_video_id_video_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_segments")),
    )
    op.create_index(
        op.f("ix_transcript_segments_transcript_id"), "transcript_segments", ["transcript_id"]
    )
    op.create_index(op.f("ix_transcript_segments_user_id"), "transcript_segments", ["user_id"])
    op.create_index(
        "ix_transcript_segments_video_id_position", "transcript_segments", ["video_id", "position"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_transcript_segments_search_text_gin",
            "transcript_segments",
            [sa.text("to_tsvector('simple', search_text)")],
            postgresql_using="gin",
        )
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_transcript_segments_search_text_gin", table_name="transcript_segments")
    else:
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER transcript_segments_{trigger}")
        op.execute("DROP TABLE transcript_segments_fts")
    op.drop_index("ix_transcript_segments_video_id_position", table_name="transcript_segments")
    op.drop_index(op.f("ix_transcript_segments_user_id"), table_name="transcript_segments")
    op.drop_index(op.f("ix_transcript_segments_transcript_id"), table_name="transcript_segments")
    op.drop_table("transcript_segments")
