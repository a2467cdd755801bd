from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from tunix_rt.db import Base


class MetricTombstone(Base):
    """What deleted rows had contributed to a ``/metrics`` counter or histogram sample.

    Counters are computed from the stored rows at scrape time; deleting a run or a trace
    would lower them, which Prometheus reads as a counter reset. Deletions add their
    share here in the same transaction, and ``/metrics`` reports rows + tombstones.
    """

    __tablename__ = "metric_tombstones"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    labels: Mapped[str] = mapped_column(String(255), primary_key=True)  # "k=v,k=v", sorted
    value: Mapped[float] = mapped_column(Float, nullable=False)
