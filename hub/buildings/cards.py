"""Registry exports -> validated BuildingIdentity records, one :class:`Row` per input row.

Two input forms (docs/buildings.md, "The file"):

- **CSV**: a header row naming BuildingIdentity fields, one building per row. Cells are text, so
  they are converted by the field's schema type: counts are whole numbers; an empty cell of an
  optional field (``police_station_id``, ``grid_worker_id``) is null; ``risk_tags`` is one cell
  of tags separated by ``;`` (empty: no tags); ``updated_time`` is ISO-8601 with an offset or
  epoch milliseconds, and an empty cell (or no such column) means "changed now", the load's
  time, because a registry export often has no such column and the card it describes is current.
- **JSON lines**: interchange objects (docs/contracts.md); ``"kind"`` may be left out (it can only
  be ``building_identity`` here).

Every row goes through the same validation as ``hub produce`` (:func:`hub.codec.parse_object`),
so a card loaded here is a card any reader accepts. A row that fails is reported with its line
number and field and the others go on; a file that cannot be read at all (not UTF-8, a header
naming no known field) raises :class:`CardFileError` before any row is taken. No I/O but reading
the file; the clock is a parameter.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.codec import Codec, json_names, parse_object
from hub.codec.limits import MAX_DEPTH, check_depth, check_line_size
from hub.model.errors import DecodeError, HubError, RecordError, ValidationError
from hub.model.events import REGISTRY_KIND

#: Input formats, chosen by the file's suffix unless given.
FORMATS = ("csv", "jsonl")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
#: What separates the tags of the ``risk_tags`` cell.
TAG_SEPARATOR = ";"
#: Fields a CSV file may leave out: the schema gives them a default, they are nullable, or
#: (updated_time) the load's time stands in.
_CLOCK_FIELD = "updated_time"


class CardFileError(HubError):
    """The file as a whole cannot be read (encoding, header, format): nothing of it is taken.

    ``line`` is kept apart from ``detail`` so that the reader of a named file reports
    ``FILE:LINE: detail`` as every row error is reported (:func:`format_row_error`), while
    :func:`parse_csv`, which knows no file name, says ``line N: detail``.
    """

    def __init__(self, detail: str, *, line: int | None = None) -> None:
        super().__init__(detail if line is None else f"line {line}: {detail}")
        self.detail, self.line = detail, line

    def in_file(self, source: Path | str) -> CardFileError:
        """The same error named after ``source``: ``FILE:LINE: detail`` (``FILE: detail``
        when it concerns no one line)."""
        where = str(source) if self.line is None else f"{source}:{self.line}"
        return CardFileError(f"{where}: {self.detail}")


@dataclass(frozen=True)
class Row:
    """One building of the file: its validated record, or the error that stopped it."""

    lineno: int
    record: dict[str, Any] | None
    error: RecordError | None

    @property
    def ok(self) -> bool:
        """True when the row validated; then ``record`` is set and ``error`` is None."""
        return self.error is None


def format_row_error(row: Row, source: str) -> str:
    """``FILE:LINE: field: message`` (the field left out when the error has none)."""
    assert row.error is not None
    parts = [f"{source}:{row.lineno}", row.error.field, row.error.detail]
    return ": ".join(p for p in parts if p)


def file_format(path: Path | str, given: str | None = None) -> str:
    """``csv`` or ``jsonl``: ``given`` when set, else from the suffix."""
    if given is not None:
        if given not in FORMATS:
            raise CardFileError(f"--format {given}: use one of {', '.join(FORMATS)}")
        return given
    fmt = _SUFFIXES.get(Path(str(path)).suffix.lower())
    if fmt is None:
        raise CardFileError(
            f"{path}: cannot tell the format from the name; name it .csv or .jsonl, or pass "
            "--format csv|jsonl")
    return fmt


def read_cards(path: Path | str, fmt: str, *, codec: Codec, pseudonym_key: bytes | str,
               now_ms: int) -> list[Row]:
    """Every row of the file at ``path`` (``-``: stdin). Raises :class:`CardFileError` or
    OSError for a file that cannot be read at all."""
    if str(path) == "-":
        import sys

        data = sys.stdin.buffer.read()
    else:
        data = Path(path).read_bytes()
    if fmt == "csv":
        text = _decode_whole(data, path)
        try:
            return list(parse_csv(text, codec=codec, pseudonym_key=pseudonym_key, now_ms=now_ms))
        except CardFileError as exc:  # the header's: FILE:LINE like every other error
            raise exc.in_file(path) from None
    return list(parse_jsonl(io.BytesIO(data), codec=codec, pseudonym_key=pseudonym_key))


def _decode_whole(data: bytes, path: Path | str) -> str:
    try:
        return data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CardFileError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8 "
            "(Excel: \"CSV UTF-8\"; iconv -f GBK -t UTF-8 for a GBK export)",
            line=line).in_file(path) from None


# -- CSV -----------------------------------------------------------------------------------------


def _field_kind(ftype: Any) -> str:
    """How a CSV cell becomes a value of this schema type: string, optional (nullable string),
    int, time, tags; anything else is not supported in CSV."""
    if isinstance(ftype, dict) and ftype.get("logicalType") == "timestamp-millis":
        return "time"
    if ftype == "string":
        return "string"
    if ftype in ("int", "long"):
        return "int"
    if isinstance(ftype, list) and sorted(map(str, ftype)) == ["null", "string"]:
        return "optional"
    if isinstance(ftype, dict) and ftype.get("type") == "array" and ftype.get("items") == "string":
        return "tags"
    return "unsupported"


def _columns(schema: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """field name -> (cell kind, whether a CSV file must have the column)."""
    out: dict[str, tuple[str, bool]] = {}
    for fld in schema["fields"]:
        kind = _field_kind(fld["type"])
        required = not ("default" in fld or kind == "optional" or fld["name"] == _CLOCK_FIELD)
        out[fld["name"]] = (kind, required)
    return out


def _check_header(header: list[str], columns: Mapping[str, tuple[str, bool]]) -> None:
    allowed = ", ".join(columns)
    seen: set[str] = set()
    for i, name in enumerate(header, start=1):
        if not name:
            raise CardFileError(f"column {i} has no name; the header row names each "
                                f"column with a field: {allowed}", line=1)
        if name in seen:
            raise CardFileError(f"column {name!r} appears twice; keep one", line=1)
        if name not in columns:
            raise CardFileError(f"column {name!r} is not a BuildingIdentity field; "
                                f"the columns are: {allowed}", line=1)
        if columns[name][0] == "unsupported":
            raise CardFileError(f"column {name!r} cannot be written in CSV; use JSON "
                                "lines for it", line=1)
        seen.add(name)
    missing = [n for n, (_, required) in columns.items() if required and n not in seen]
    if missing:
        raise CardFileError(f"required column(s) missing: {', '.join(missing)}; the "
                            "first row is the header and must name them", line=1)


#: A whole-number cell: ASCII digits (Python's int() also takes "１２" and float() "1e3", which
#: the file's readers would not), with an optional sign and a spreadsheet's ".0".
_WHOLE = re.compile(r"([-+]?[0-9]+)(?:\.0+)?")


def _cell(name: str, kind: str, text: str, now_ms: int) -> Any:
    """One cell's value for :func:`parse_object` (which then checks it like any interchange
    value). Raises ValidationError naming the column for what cannot be converted."""
    text = text.strip()
    if kind == "optional":
        return text or None
    if kind == "tags":
        return [t.strip() for t in text.split(TAG_SEPARATOR) if t.strip()]
    if kind == "time":
        if not text:
            return now_ms
        return int(text) if text.isdigit() else text  # ISO-8601: checked by the codec
    if kind == "int":
        if not text:
            raise ValidationError("empty; write a whole number (0 when there are none)",
                                  field=name)
        whole = _WHOLE.fullmatch(text)  # what a spreadsheet writes: 12, -3, or 12.0
        if whole is not None:
            return int(whole.group(1))
        raise ValidationError(f"{text!r} is not a whole number; write digits only, e.g. 12 "
                              "(no thousands separators, exponents or units)", field=name)
    return text


def _quote_left_open(text: str) -> bool:
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def parse_csv(text: str, *, codec: Codec, pseudonym_key: bytes | str,
              now_ms: int) -> Iterator[Row]:
    """The rows of a CSV document (header first). Raises :class:`CardFileError` for a header
    that is not usable, before the first row."""
    columns = _columns(codec.schema(REGISTRY_KIND))
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    # A quote never closed swallows the rest of the file into one cell of the last row, which
    # then read as a wrong cell count; the strict reader knows (the file is small: read twice).
    # (lines counted as the reader counts them: \r, \n and \r\n each end one)
    unclosed_from = sum(1 for _ in io.StringIO(text, newline="")) if _quote_left_open(text) \
        else None
    try:
        header = next(reader)
    except StopIteration:
        raise CardFileError("the file is empty; the first row names the columns") from None
    except csv.Error as exc:
        raise CardFileError(f"{exc}", line=1) from None
    header = [h.strip() for h in header]
    _check_header(header, columns)
    while True:
        start = reader.line_num + 1  # a quoted cell may span lines: report where the row starts
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Row(start, None, DecodeError(f"not valid CSV ({exc}); quote cells that hold "
                                               "commas, quotes or line breaks"))
            continue
        if not any(c.strip() for c in cells):
            continue  # blank line
        if unclosed_from is not None and reader.line_num >= unclosed_from:
            end = reader.line_num
            swallowed = f"lines {start}-{end} were read as one row" if end > start else \
                "the row runs to the end of the file"
            yield Row(start, None, DecodeError(
                f"a quote opened in this row is never closed ({swallowed}); close it "
                "(\"a, b\"), and write a quote inside a quoted cell twice (\"\")"))
            continue
        if len(cells) != len(header):
            yield Row(start, None, DecodeError(
                f"{len(cells)} cells, the header has {len(header)}; quote cells that hold "
                "commas (\"a, b\")"))
            continue
        try:
            obj: dict[str, Any] = {"kind": REGISTRY_KIND}
            for name, cell in zip(header, cells, strict=True):
                obj[name] = _cell(name, columns[name][0], cell, now_ms)
            obj.setdefault(_CLOCK_FIELD, now_ms)
            _, record = parse_object(obj, pseudonym_key=pseudonym_key, codec=codec,
                                     accept=(REGISTRY_KIND,))
        except RecordError as exc:
            yield Row(start, None, exc)
        else:
            yield Row(start, record, None)


# -- JSON lines ----------------------------------------------------------------------------------


def parse_jsonl(lines: Iterable[bytes | str], *, codec: Codec,
                pseudonym_key: bytes | str) -> Iterator[Row]:
    """The non-blank lines of a JSON-lines document; ``"kind"`` defaults to building_identity.

    Each line is read on its own, so a line that is not UTF-8 or not JSON is one rejected row."""
    for lineno, raw in enumerate(lines, start=1):
        try:
            check_line_size(len(raw))
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            if not text.strip():
                continue
            try:
                obj = json_names.loads_line(text)
            except ValueError as exc:
                raise DecodeError(f"not valid JSON: {exc}; write one JSON object per "
                                  "line") from None
            except RecursionError:
                raise DecodeError(f"JSON nested deeper than {MAX_DEPTH} levels; records are "
                                  "flat") from None
            check_depth(obj)
            if not isinstance(obj, dict):
                raise DecodeError(f"expected a JSON object, got {type(obj).__name__}")
            obj.setdefault("kind", REGISTRY_KIND)
            _, record = parse_object(obj, pseudonym_key=pseudonym_key, codec=codec,
                                     accept=(REGISTRY_KIND,))
        except UnicodeDecodeError as exc:
            yield Row(lineno, None, DecodeError(
                f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8"))
        except RecordError as exc:
            yield Row(lineno, None, exc)
        else:
            yield Row(lineno, record, None)
