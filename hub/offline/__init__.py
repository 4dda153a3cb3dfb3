"""The offline driver: the correlation engine over an interchange file, no Kafka, no Faust."""

from hub.offline.correlate import CorrelateSummary, correlate_file, correlate_lines

__all__ = ["CorrelateSummary", "correlate_file", "correlate_lines"]
