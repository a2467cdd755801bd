"""runs_notify_trigger

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

Postgres only: a row that becomes ``pending`` (insert, retry, re-queue) sends
``NOTIFY tunix_rt_runs`` from the database itself, delivered when its transaction
commits. It replaces the ``SELECT pg_notify(...)`` that ``runs.queue.enqueue`` sent as a
separate round trip before every commit (docs/performance.md, "Durable run queue").
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION tunix_rt_runs_notify() RETURNS trigger AS $$
BEGIN
    -- Identical notifications of one transaction are delivered once, at commit.
    PERFORM pg_notify('tunix_rt_runs', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

TRIGGER = """
CREATE TRIGGER tunix_rt_runs_notify
AFTER INSERT OR UPDATE OF status ON runs
FOR EACH ROW WHEN (NEW.status = 'pending')
EXECUTE FUNCTION tunix_rt_runs_notify()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS tunix_rt_runs_notify ON runs")
    op.execute("DROP FUNCTION IF EXISTS tunix_rt_runs_notify()")
