"""credits: the ledger, paid jobs and their results, idempotency keys, superusers

Revision ID: 0004_credits
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_credits"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_transactions",
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "balance_after >= 0", name=op.f("ck_credit_transactions_balance_after_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["processing_jobs.id"],
            name=op.f("fk_credit_transactions_job_id_processing_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_credit_transactions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_transactions")),
        sa.UniqueConstraint("job_id", "kind", name="uq_credit_transactions_job_id_kind"),
    )
    with op.batch_alter_table("credit_transactions", schema=None) as batch_op:
        batch_op.create_index("ix_credit_transactions_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_id_key"),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )

    # Plain ADD COLUMN, not batch mode: SQLite would rebuild `users` for a default that is an
    # expression, and dropping the old table would cascade to every row that refers to it.
    op.add_column(
        "processing_jobs",
        sa.Column("credits_charged", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("processing_jobs", sa.Column("result_key", sa.String(length=255), nullable=True))
    op.add_column("processing_jobs", sa.Column("result_type", sa.String(length=50), nullable=True))
    op.add_column(
        "users", sa.Column("is_superuser", sa.Boolean(), server_default=sa.false(), nullable=False)
    )

    # Balances from before the ledger get their opening row, so sum(delta) == credits holds.
    op.execute(
        "INSERT INTO credit_transactions (user_id, delta, balance_after, kind, note, created_at) "
        "SELECT id, credits, credits, 'grant', 'Opening balance', CURRENT_TIMESTAMP "
        "FROM users WHERE credits > 0"
    )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))
    op.drop_table("idempotency_keys")

    with op.batch_alter_table("credit_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_transactions_user_id_id")
    op.drop_table("credit_transactions")

    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+): no table rebuild, no cascade.
    op.drop_column("users", "is_superuser")
    op.drop_column("processing_jobs", "result_type")
    op.drop_column("processing_jobs", "result_key")
    op.drop_column("processing_jobs", "credits_charged")
