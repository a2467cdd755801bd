"""Alembic environment. Tunix RT hands it an open connection (see ``migrations``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import tunix_rt.models  # noqa: F401  (registers tables)
from tunix_rt.db import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Run migrations through `tunix-rt db upgrade|downgrade`, which opens the connection."
    )
_configure(connection)
