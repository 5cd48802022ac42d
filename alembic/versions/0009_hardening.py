"""hardening (issue 25): revoked sessions looked up by index; ledger rows outlive their account

- `refresh_tokens`: the index on `family_id` becomes one on (`family_id`, `revoked_at`), so
  the check that an access token's session was not ended is one index probe inside the user
  lookup every bearer request makes.
- `credit_transactions`: `user_id` may be null (`ON DELETE SET NULL`, was CASCADE) and
  `account_ref` names a deleted account's rows: deleting an account keeps its ledger,
  pseudonymised.

Revision ID: 0009_hardening
Revises: 0008_webhooks
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_hardening"
down_revision: str | None = "0008_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_FK = "fk_credit_transactions_user_id_users"


def upgrade() -> None:
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")
    op.create_index(
        "ix_refresh_tokens_family_id_revoked_at", "refresh_tokens", ["family_id", "revoked_at"]
    )
    with op.batch_alter_table("credit_transactions") as batch_op:
        batch_op.add_column(sa.Column("account_ref", sa.String(length=32), nullable=True))
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.drop_constraint(USER_FK, type_="foreignkey")
        batch_op.create_foreign_key(USER_FK, "users", ["user_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    # The rows of deleted accounts have no user to go back to: they go.
    op.execute("DELETE FROM credit_transactions WHERE user_id IS NULL")
    with op.batch_alter_table("credit_transactions") as batch_op:
        batch_op.drop_constraint(USER_FK, type_="foreignkey")
        batch_op.create_foreign_key(USER_FK, "users", ["user_id"], ["id"], ondelete="CASCADE")
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("account_ref")
    op.drop_index("ix_refresh_tokens_family_id_revoked_at", table_name="refresh_tokens")
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
