"""Area analytics, pure: dispute funnel, rising-case warnings, safety index.

Low-volume, long-window aggregations over the hub's own values (grid report ``Event``s,
``Incident`` versions, ``Building`` records). Each engine is an event-time accumulator: inputs
behind its watermark raise LateInput; ``close_until(watermark)`` emits what the watermark
finished, the same whatever the order of the inputs it accepted, so one class serves a file
offline and a worker online. Definitions: docs/analytics.md; thresholds and weights:
topology/analytics.yaml.
"""

from hub.core.analytics.areas import AREA_LEVELS, Area, AreaDirectory, areas_of
from hub.core.analytics.config import AnalyticsConfig, RiskConfig, SafetyConfig, load_analytics
from hub.core.analytics.disputes import DisputeFunnel, DisputeFunnelEngine, count_funnel
from hub.core.analytics.periods import LateInput, Period, period_of
from hub.core.analytics.risk import RiskWarning, RiskWarningEngine, poisson_tail
from hub.core.analytics.safety import SafetyIndex, SafetyIndexEngine, index_of

__all__ = [
    "AREA_LEVELS",
    "AnalyticsConfig",
    "Area",
    "AreaDirectory",
    "DisputeFunnel",
    "DisputeFunnelEngine",
    "LateInput",
    "Period",
    "RiskConfig",
    "RiskWarning",
    "RiskWarningEngine",
    "SafetyConfig",
    "SafetyIndex",
    "SafetyIndexEngine",
    "areas_of",
    "count_funnel",
    "index_of",
    "load_analytics",
    "period_of",
    "poisson_tail",
]
