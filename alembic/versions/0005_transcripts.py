"""transcripts, the options of a job, AI usage per job (Phase 3)

Revision ID: 0005_transcripts
Revises: 0003_accounts
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_transcripts"
down_revision: str | None = "0003_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["processing_jobs.id"],
            name=op.f("fk_transcripts_job_id_processing_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_transcripts_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["video_sources.id"],
            name=op.f("fk_transcripts_video_id_video_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcripts")),
        sa.UniqueConstraint("job_id", name=op.f("uq_transcripts_job_id")),
    )
    op.create_index(op.f("ix_transcripts_user_id"), "transcripts", ["user_id"])
    op.create_index("ix_transcripts_video_id_job_id", "transcripts", ["video_id", "job_id"])

    # Batch mode: SQLite adds a foreign key only by rebuilding the table, which nothing refers to.
    with op.batch_alter_table("ai_usage_logs") as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("audio_seconds", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_ai_usage_logs_created_at"), ["created_at"])
        batch_op.create_index("ix_ai_usage_logs_user_id_id", ["user_id", "id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_ai_usage_logs_job_id_processing_jobs"),
            "processing_jobs",
            ["job_id"],
            ["id"],
            ondelete="SET NULL",
        )

    # Plain ADD COLUMN: a rebuild of processing_jobs would cascade to the rows that refer to it.
    op.add_column("processing_jobs", sa.Column("options", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("processing_jobs", "options")
    with op.batch_alter_table("ai_usage_logs") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ai_usage_logs_job_id_processing_jobs"), type_="foreignkey"
        )
        batch_op.drop_index("ix_ai_usage_logs_user_id_id")
        batch_op.drop_index(batch_op.f("ix_ai_usage_logs_created_at"))
        batch_op.drop_column("audio_seconds")
        batch_op.drop_column("job_id")
    op.drop_index("ix_transcripts_video_id_job_id", table_name="transcripts")
    op.drop_index(op.f("ix_transcripts_user_id"), table_name="transcripts")
    op.drop_table("transcripts")
