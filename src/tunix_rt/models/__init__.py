"""ORM models; importing this package registers every table on ``Base.metadata``."""

from tunix_rt.models import dataset, evaluation, metric, run  # noqa: F401  (one module per domain)
from tunix_rt.models.trace import Trace
from tunix_rt.models.trace_score import TraceScore

__all__ = ["Trace", "TraceScore"]
