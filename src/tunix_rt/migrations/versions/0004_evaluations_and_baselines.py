"""evaluations_and_baselines

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("job_run_id", sa.Uuid(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("detailed_metrics", JSON, nullable=False),
        sa.Column("judge_name", sa.String(length=64), nullable=False),
        sa.Column("judge_version", sa.String(length=32), nullable=False),
        sa.Column("eval_set_name", sa.String(length=128), nullable=True),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("predictions_path", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_evaluations_run_id_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["job_run_id"],
            ["runs.id"],
            name=op.f("fk_evaluations_job_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
    )
    op.create_index("ix_evaluations_run_id_evaluated_at", "evaluations", ["run_id", "evaluated_at"])
    op.create_index("ix_evaluations_job_run_id", "evaluations", ["job_run_id"])
    op.create_table(
        "regression_baselines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("metric", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("lower_is_better", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_regression_baselines_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regression_baselines")),
        sa.UniqueConstraint("name", name=op.f("uq_regression_baselines_name")),
    )
    op.create_index("ix_regression_baselines_run_id", "regression_baselines", ["run_id"])
    op.create_table(
        "eval_sets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("items", JSON, nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_sets")),
        sa.UniqueConstraint("name", name=op.f("uq_eval_sets_name")),
    )


def downgrade() -> None:
    op.drop_table("eval_sets")
    op.drop_index("ix_regression_baselines_run_id", table_name="regression_baselines")
    op.drop_table("regression_baselines")
    op.drop_index("ix_evaluations_job_run_id", table_name="evaluations")
    op.drop_index("ix_evaluations_run_id_evaluated_at", table_name="evaluations")
    op.drop_table("evaluations")
