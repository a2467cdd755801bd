"""run_metrics_grpo: per-step GRPO metrics (reward mean/std, KL, accuracy)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("reward_mean", "reward_std", "kl", "accuracy")


def upgrade() -> None:
    with op.batch_alter_table("run_metrics") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_metrics") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
