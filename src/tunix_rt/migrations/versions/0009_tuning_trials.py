"""tuning_trials

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tuning_trials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("trial_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("params", JSON, nullable=False),
        sa.Column("metric_value", sa.Float(), nullable=True),
        sa.Column("stopped_early", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["runs.id"], name=op.f("fk_tuning_trials_job_id_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_tuning_trials_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tuning_trials")),
        sa.UniqueConstraint("job_id", "trial_id", name="uq_tuning_trials_job_trial"),
    )
    op.create_index("ix_tuning_trials_run_id", "tuning_trials", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_tuning_trials_run_id", table_name="tuning_trials")
    op.drop_table("tuning_trials")
