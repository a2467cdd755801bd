"""Engine and session factories and the ORM base (the request boundary is kit/deps.py)."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, event, exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from tunix_rt.config import Settings
from tunix_rt.kit import wal_checkpoint

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# JSONB on Postgres (indexable, compact), JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (4 << 76) | (0x8000 << 48)


def new_ids(count: int) -> list[uuid.UUID]:
    """``count`` random (version 4) UUIDs like ``uuid.uuid4()``, from one ``os.urandom``
    read instead of one per id (bulk inserts make thousands)."""
    raw = os.urandom(16 * count)
    return [
        uuid.UUID(int=(int.from_bytes(raw[i : i + 16]) & _UUID4_CLEAR) | _UUID4_SET)
        for i in range(0, 16 * count, 16)
    ]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Checkpoints run in a background thread (kit/wal_checkpoint.py); a commit runs one
    # inline only as a safety net, if the WAL grew far past SQLite's default 1,000 pages.
    cursor.execute(f"PRAGMA wal_autocheckpoint={wal_checkpoint.SAFETY_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={wal_checkpoint.JOURNAL_SIZE_LIMIT}")
    cursor.close()


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the async engine with the configured pool (Postgres) or WAL SQLite."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        if ":memory:" not in url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if engine.url.database and ":memory:" not in url:
            wal_checkpoint.attach(engine, engine.url.database)
        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
    )
    event.listen(engine.sync_engine, "checkin", _mark_used)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle(engine.dialect))
    return engine


# Pre-ping, but only connections that sat in the pool longer than this (HikariCP's
# "alive bypass window" does the same with 0.5 s). SQLAlchemy's pool_pre_ping pings on
# every checkout: one more round trip on every request and every enqueue, which on a busy
# machine was a measurable part of the queue's enqueue→start latency
# (docs/performance.md, "Durable run queue"). A connection that was working a moment ago
# is not worth a round trip; if it did die in that moment, the statement fails as a
# disconnect, which invalidates the pool like a failed ping would.
PING_AFTER_IDLE_SECONDS = 1.0
_LAST_USED = "tunix_rt_last_used"


def _mark_used(_dbapi_connection: Any, record: Any) -> None:
    record.info[_LAST_USED] = time.monotonic()


def _ping_if_idle(dialect: Dialect) -> Any:
    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_LAST_USED)
        if last is None or time.monotonic() - last <= PING_AFTER_IDLE_SECONDS:
            return  # fresh from connect(), or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_connection, None):
                # Like pool_pre_ping: drop every older connection and check out a new one.
                raise exc.InvalidatePoolError(f"pre-ping failed: {err}") from err
            raise

    return checkout


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
