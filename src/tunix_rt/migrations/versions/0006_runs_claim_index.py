"""runs_claim_index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_runs_status_priority_queued_at", table_name="runs")
    op.create_index(
        "ix_runs_claim", "runs", ["status", sa.text("priority DESC"), "queued_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_runs_claim", table_name="runs")
    op.create_index(
        "ix_runs_status_priority_queued_at", "runs", ["status", "priority", "queued_at"]
    )
