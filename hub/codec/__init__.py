"""Avro contracts, the single-object wire format, and the JSON-lines interchange form.

Where Avro lives: schemas are loaded from ``schemas/avro`` (``Settings.schemas_dir``); fastavro is
imported here and nowhere in ``hub.core``.
"""

from hub.codec.avro import (
    Codec,
    decode,
    encode,
    event_enums,
    event_fields,
    event_types,
    load_codec,
    rule_contracts,
)
from hub.codec.compat import full_problems, read_problems
from hub.codec.deadletter import DEAD_LETTER_KIND, dead_letter_record
from hub.codec.interchange import (
    LINE_KINDS,
    Line,
    error_lineno,
    format_error,
    incident_to_json,
    parse_line,
    parse_object,
    pii_fields,
    read_jsonl,
    record_to_json,
    to_building,
    to_event,
    topic_key,
)
from hub.codec.validate import check_rules, conform, validate_record

__all__ = [
    "DEAD_LETTER_KIND",
    "LINE_KINDS",
    "Codec",
    "Line",
    "check_rules",
    "conform",
    "dead_letter_record",
    "decode",
    "encode",
    "error_lineno",
    "event_enums",
    "event_fields",
    "event_types",
    "format_error",
    "full_problems",
    "incident_to_json",
    "load_codec",
    "parse_line",
    "parse_object",
    "pii_fields",
    "read_jsonl",
    "read_problems",
    "record_to_json",
    "rule_contracts",
    "to_building",
    "to_event",
    "topic_key",
    "validate_record",
]
