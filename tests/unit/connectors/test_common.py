"""connectors.common: times, ids, personal values, the error type, safe XML."""

from __future__ import annotations

import pytest

from connectors.common import (
    MappingError,
    Site,
    hash_personal,
    parse_time,
    parse_xml,
    stable_id,
)
from hub.core.pseudonym import is_pseudonym
from hub.model.errors import RecordError

SHANGHAI = Site("S-1")


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-05-01T08:00:00+08:00", 1714521600000),
    ("2024-05-01T00:00:00Z", 1714521600000),
    ("2024-05-01T08:00:00", 1714521600000),  # no offset: Asia/Shanghai
    ("2024-05-01 08:00:00", 1714521600000),
    ("20240501080000", 1714521600000),  # GA/T 1400 compact form
    ("20240501080000123", 1714521600123),
    ("2024-05-01T08:00:00.250+08:00", 1714521600250),
])
def test_parse_time(value: str, expected: int) -> None:
    assert parse_time(value, "f", SHANGHAI) == expected


@pytest.mark.parametrize("value", [None, "", "soon", 5, "2024-02-30T00:00:00", "20241301000000",
                                   "1970-01-01T00:00:00Z", "2150-01-01T00:00:00+08:00"])
def test_parse_time_errors_name_the_field(value: object) -> None:
    with pytest.raises(MappingError) as caught:
        parse_time(value, "Vendor.when", SHANGHAI)
    assert caught.value.field == "Vendor.when"


def test_mapping_error_is_a_record_error_with_field_and_reason() -> None:
    error = MappingError("a.b", "broken; fix it", reason="DECODE_ERROR")
    assert isinstance(error, RecordError)
    assert (error.field, error.detail, error.reason) == ("a.b", "broken; fix it", "DECODE_ERROR")
    assert str(error) == "a.b: broken; fix it"


def test_stable_id_is_deterministic_and_separates_parts() -> None:
    assert stable_id("x", "a", 1) == stable_id("x", "a", 1)
    assert stable_id("x", "ab", "c") != stable_id("x", "a", "bc")


def test_hash_personal() -> None:
    assert hash_personal(None, "k", "f") is None
    assert hash_personal("  ", "k", "f") is None
    assert hash_personal(12345, "k", "f") == hash_personal("12345", "k", "f")
    assert is_pseudonym(hash_personal("card", "k", "f"))
    with pytest.raises(MappingError):
        hash_personal(["card"], "k", "f")


def test_parse_xml_nests_and_lists_repeated_elements() -> None:
    xml = ("<r xmlns='urn:x'><a>1</a><b><c> 2 </c><c>3</c></b><empty/></r>")
    assert parse_xml(xml, "r") == {"a": "1", "b": {"c": ["2", "3"]}, "empty": ""}


def test_parse_xml_refuses_oversized_payloads() -> None:
    with pytest.raises(MappingError, match="limit"):
        parse_xml(b"<r>" + b"x" * (1 << 20) + b"</r>", "r")


def test_connectors_is_a_package_with_the_three_vendors() -> None:
    import connectors
    import connectors.dahua.mapping
    import connectors.gat1400.mapping
    import connectors.hikvision_isapi.mapping

    assert connectors.__doc__
    assert {connectors.dahua.mapping.VENDOR, connectors.gat1400.mapping.VENDOR,
            connectors.hikvision_isapi.mapping.VENDOR} == {"dahua", "gat1400", "hikvision"}


def test_mappings_are_pure_no_io_library_imported() -> None:
    """Mappings take payloads and return records: no Kafka, Redis, HTTP, sockets or settings."""
    import ast
    from pathlib import Path

    forbidden = {"faust", "mode", "confluent_kafka", "aiokafka", "redis", "fastavro",
                 "prometheus_client", "socket", "requests", "httpx", "urllib", "os", "xml",
                 "lxml", "hub.settings", "hub.adapters", "hub.runtime"}
    root = Path(__file__).resolve().parents[3] / "connectors"
    for path in [root / "common.py", *sorted(root.glob("*/mapping.py"))]:
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        bad = {n for n in names if n in forbidden or n.split(".")[0] in forbidden
               or any(n.startswith(f + ".") for f in forbidden)}
        bad.discard("xml.etree.ElementTree")  # only Element/ParseError types; parsing is defused
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_a_lone_surrogate_is_refused_in_a_personal_value_and_kept_out_of_ids() -> None:
    """JSON can carry half a surrogate pair; hashing it raised UnicodeEncodeError, a 500 at the
    gateway. A personal value holding one is the vendor field's error; an id made of one is
    still an id (the record's own fields are validated after)."""
    with pytest.raises(MappingError, match="surrogate") as caught:
        hash_personal("6222\ud800", "k", "AccessControllerEvent.cardNo")
    assert caught.value.field == "AccessControllerEvent.cardNo"
    assert stable_id("hik", "\ud800") != stable_id("hik", "\ud801")


def test_parse_xml_refuses_nesting_deeper_than_the_limit() -> None:
    """50,000 nested elements ran into Python's recursion limit: a 500 at the gateway."""
    deep = "<r>" + "<a>" * 50_000 + "x" + "</a>" * 50_000 + "</r>"
    with pytest.raises(MappingError, match="nested deeper") as caught:
        parse_xml(deep, "r")
    assert caught.value.reason == "DECODE_ERROR"
    ok = "<r>" + "<a>" * 30 + "x" + "</a>" * 30 + "</r>"
    assert isinstance(parse_xml(ok, "r"), dict)
