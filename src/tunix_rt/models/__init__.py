"""ORM models; importing this package registers every table on ``Base.metadata``."""

from tunix_rt.models import (  # noqa: F401  (one module per domain)
    auth,
    dataset,
    evaluation,
    metric,
    registry,
    run,
    tuning,
    webhook,
)
from tunix_rt.models.trace import Trace
from tunix_rt.models.trace_score import TraceScore

__all__ = ["Trace", "TraceScore"]
