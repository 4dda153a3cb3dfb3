"""``hub correlate`` end to end on a small interchange file, in-process (no Kafka, no Faust)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.cli import main
from hub.model.incidents import incident_id

RULES = Path(__file__).resolve().parents[3] / "topology" / "rules"
T = 1_714_521_600_000  # 2024-05-01T00:00:00Z
MIN = 60_000


def _swipe(eid: str, t: int, result: str, **kw: Any) -> dict[str, Any]:
    return {
        "kind": "access_swipe",
        "event_id": eid,
        "vendor": "zkteco",
        "device_id": "door-1",
        "site_id": "S-1",
        "event_time": T + t,
        "building_id": "B-1",
        "door_id": "D-1",
        "method": "CARD",
        "result": result,
        **kw,
    }


LINES: list[Any] = [
    {
        "kind": "building_identity",
        "building_id": "B-1",
        "name": "3号楼",
        "address": "文三路100号",
        "site_id": "S-1",
        "grid_id": "G-1",
        "township_code": "330106001",
        "district_code": "330106",
        "city_code": "3301",
        "households": 96,
        "rental_units": 4,
        "updated_time": T - 86_400_000,
    },
    {
        "kind": "perimeter_alarm",
        "event_id": "pa-1",
        "vendor": "hik",
        "device_id": "pa-cam-1",
        "site_id": "S-1",
        "event_time": "2024-05-01T08:00:00+08:00",
        "zone_id": "fence-n",
        "alarm_type": "INTRUSION",
        "severity": 4,
    },  # = T
    _swipe("sw-1", MIN, "DENIED", card_no="0012345678"),  # line 3: breach v1
    _swipe("sw-2", 2 * MIN, "FORCED_OPEN"),  # line 4: breach v2, forced_door
    "{not json",  # line 5: DECODE_ERROR
    _swipe("sw-3", 3 * MIN, "OPENED_BY_MAGIC"),  # line 6: VALIDATION_ERROR (enum)
    _swipe("sw-4", 10 * MIN, "HELD_OPEN"),  # line 7: door_held_open
    _swipe("sw-5", 10 * MIN - 30_001, "DENIED"),  # line 8: LATE (30 s lateness exceeded)
    _swipe("sw-4", 10 * MIN, "HELD_OPEN"),  # line 9: exact duplicate of line 7
    "",  # blank lines are skipped
    {"kind": "incident", "incident_id": "x"},  # line 11: output, not input
]


def write_events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in LINES)
        + "\n",
        encoding="utf-8",
    )
    return path


def read_out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def correlate(tmp_path: Path, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    out = tmp_path / "incidents.jsonl"
    status = main(
        [
            "correlate",
            "--rules",
            str(RULES),
            "--in",
            str(write_events(tmp_path)),
            "--out",
            str(out),
            *extra,
        ]
    )
    return status, read_out(out)


def test_every_version_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, incidents = correlate(tmp_path)
    assert status == 1  # the file holds invalid lines: bad input is an error, as for hub produce
    got = sorted(
        (i["rule_id"], i["version"], [e["event_id"] for e in i["evidence"]]) for i in incidents
    )
    assert got == [
        ("door_held_open", 1, ["sw-4"]),
        ("forced_door", 1, ["sw-2"]),
        ("perimeter_breach_entry", 1, ["pa-1", "sw-1"]),
        ("perimeter_breach_entry", 2, ["pa-1", "sw-1", "sw-2"]),
    ]
    breach = [i for i in incidents if i["rule_id"] == "perimeter_breach_entry"]
    assert {i["incident_id"] for i in breach} == {
        incident_id("perimeter_breach_entry", "S-1", "perimeter_alarm", "pa-1", T)
    }
    assert breach[-1]["route"] == {"level": "DISTRICT", "department_id": "330106"}
    assert breach[-1]["building"]["name"] == "3号楼"  # the snapshot travels with the incident
    held = next(i for i in incidents if i["rule_id"] == "door_held_open")
    assert held["route"] == {"level": "GRID", "department_id": "G-1"}
    assert held["unrouted"] is False


def test_final_keeps_only_the_last_version(tmp_path: Path) -> None:
    status, incidents = correlate(tmp_path, "--final")
    assert status == 1  # the file holds invalid lines: bad input is an error, as for hub produce
    assert sorted((i["rule_id"], i["version"]) for i in incidents) == [
        ("door_held_open", 1),
        ("forced_door", 1),
        ("perimeter_breach_entry", 2),
    ]
    assert len({i["incident_id"] for i in incidents}) == 3


def test_rejected_lines_are_reported_with_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rejected = tmp_path / "rejected.jsonl"
    status, _ = correlate(tmp_path, "--rejected", str(rejected))
    assert status == 1  # the file holds invalid lines: bad input is an error, as for hub produce
    err = capsys.readouterr().err
    events = str(tmp_path / "events.jsonl")
    assert f"{events}:5: DECODE_ERROR" in err
    assert f"{events}:6: VALIDATION_ERROR" in err and "result" in err
    assert f"{events}:8: LATE" in err and "sw-5" in err
    assert f"{events}:11: VALIDATION_ERROR" in err
    assert "1 duplicates" in err and "1 late" in err and "4 rejected" in err
    rows = read_out(rejected)
    assert [(r["lineno"], r["reason"]) for r in rows] == [
        (5, "DECODE_ERROR"),
        (6, "VALIDATION_ERROR"),
        (8, "LATE"),
        (11, "VALIDATION_ERROR"),
    ]


def test_stdout_is_the_default_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["correlate", "--rules", str(RULES), "--in", str(write_events(tmp_path)), "--final"]
    )
    assert status == 1  # the file holds invalid lines: bad input is an error, as for hub produce
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3 and all(x["incident_id"].startswith("inc-") for x in lines)


def test_same_input_gives_byte_identical_output(tmp_path: Path) -> None:
    correlate(tmp_path)
    first = (tmp_path / "incidents.jsonl").read_bytes()
    correlate(tmp_path)
    assert (tmp_path / "incidents.jsonl").read_bytes() == first


def test_bad_rules_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "x.yaml").write_text(
        "rules:\n  - {id: r, type: single, title: t, by: door_id, within: soon, risk_level: LOW,"
        " match: {kind: access_swipe}}\n",
        encoding="utf-8",
    )
    status = main(["correlate", "--rules", str(rules), "--in", str(write_events(tmp_path))])
    assert status == 2
    err = capsys.readouterr().err
    assert "x.yaml" in err and "rule 'r'" in err and "field 'within'" in err


def test_missing_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["correlate", "--rules", str(RULES), "--in", str(tmp_path / "nope.jsonl")])
    assert status == 2
    assert "no such file" in capsys.readouterr().err


def test_a_clean_file_exits_zero_and_late_lines_do_not_fail(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[3] / "samples" / "scenario.jsonl"
    out = tmp_path / "out.jsonl"
    assert main(["correlate", "--rules", str(RULES), "--in", str(sample), "--out", str(out)]) == 0
    lines = sample.read_text(encoding="utf-8").splitlines()
    late = json.loads(next(x for x in lines if '"access_swipe"' in x))
    late["event_id"] = "late-one"
    late["event_time"] = int(late["event_time"]) - 86_400_000  # a day behind everything
    with_late = tmp_path / "late.jsonl"
    with_late.write_text("\n".join([*lines, json.dumps(late)]) + "\n", encoding="utf-8")
    rejected = tmp_path / "rejected.jsonl"
    assert main(["correlate", "--rules", str(RULES), "--in", str(with_late), "--out",
                 str(out), "--rejected", str(rejected)]) == 0
    reasons = [json.loads(x)["reason"] for x in rejected.read_text().splitlines()]
    assert reasons == ["LATE"]


def test_early_adds_provisional_versions_and_keeps_the_confirmed_lines(tmp_path: Path) -> None:
    """``--early``: line order is arrival order; the CONFIRMED lines are byte for byte those
    written without it, and each incident was provisional first."""
    plain = (tmp_path / "plain")
    plain.mkdir()
    _, without = correlate(plain)
    status, early = correlate(tmp_path, "--early")
    assert status == 1  # same input, same verdict on its bad lines
    confirmed = [i for i in early if "status" not in i]
    assert confirmed == without
    provisional = [i for i in early if i.get("status") == "PROVISIONAL"]
    assert {i["incident_id"] for i in provisional} == {i["incident_id"] for i in without}
    for i in provisional:  # a provisional version comes before the first confirmed one
        first_confirmed = next(n for n, c in enumerate(early)
                               if c["incident_id"] == i["incident_id"] and "status" not in c)
        assert early.index(i) < first_confirmed
    assert not [i for i in early if i.get("status") == "RETRACTED"]
    finals = correlate(tmp_path, "--early", "--final")[1]
    assert sorted((i["rule_id"], i["version"]) for i in finals) == sorted(
        (i["rule_id"], i["version"]) for i in correlate(plain, "--final")[1])


def _clean_lines() -> list[dict[str, Any]]:
    """LINES without its bad and LATE lines: a building, an alarm and three swipes."""
    return [x for x in LINES[:4] if isinstance(x, dict)] + [_swipe("sw-4", 10 * MIN, "HELD_OPEN")]


def _from_2099(eid: str, after: int) -> dict[str, Any]:
    """A swipe from a door whose clock says 2099, placed ``after`` in the file."""
    return _swipe(eid, 0, "GRANTED", device_id="door-2099", door_id="D-9",
                  event_time="2099-12-31T00:00:00Z")


def test_now_corrects_a_clock_in_2099_and_nothing_goes_late(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _clean_lines()
    lines.insert(3, _from_2099("sw-2099", 3))
    path = tmp_path / "skew.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    rejected, out = tmp_path / "rejected.jsonl", tmp_path / "out.jsonl"
    base = ["correlate", "--rules", str(RULES), "--in", str(path), "--final"]
    assert main([*base, "--out", str(out), "--rejected", str(rejected)]) == 0
    without = read_out(out)
    assert {json.loads(x)["reason"] for x in rejected.read_text().splitlines()} == {"LATE"}
    capsys.readouterr()
    now = "2024-05-01T00:15:00Z"  # when the file's events reached Kafka
    assert main([*base, "--out", str(out), "--rejected", str(rejected), "--now", now]) == 0
    assert rejected.read_text() == ""
    got = read_out(out)
    assert len(got) > len(without)
    assert {i["rule_id"] for i in got} >= {"perimeter_breach_entry", "door_held_open"}
    assert "device door-2099: 1 event times past their arrival" in capsys.readouterr().err
    assert main([*base, "--out", str(out), "--now", "yesterday-ish"]) == 2


def test_a_recording_gives_each_event_its_kafka_timestamp(tmp_path: Path) -> None:
    """A recording of the same lines, each stamped when it reached Kafka: the 2099 clock is
    corrected as the worker corrects it, and the result equals a plain file with --now."""
    from hub.codec import load_codec
    from hub.codec.interchange import parse_object
    from hub.replay.record import RecordedMessage, write_recording
    from hub.settings import REGISTRY_TOPIC, SOURCE_TOPICS

    codec = load_codec()
    lines = _clean_lines()
    lines.insert(3, _from_2099("sw-2099", 3))
    arrival = T + 15 * MIN
    messages = []
    for n, obj in enumerate(lines):
        kind, record = parse_object(obj, pseudonym_key="k", codec=codec)
        topic = REGISTRY_TOPIC if kind == "building_identity" else SOURCE_TOPICS[kind]
        messages.append(RecordedMessage(topic, 0, n, arrival, 1, b"S-1",
                                        codec.encode(kind, record)))
    messages.append(RecordedMessage("hub.incidents", 0, 0, arrival, 1, None, b"not input"))
    rec = tmp_path / "city.avro"
    write_recording(rec, messages)
    plain = tmp_path / "plain.jsonl"
    plain.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    out_rec, out_now = tmp_path / "rec.jsonl", tmp_path / "now.jsonl"
    assert main(["correlate", "--rules", str(RULES), "--in", str(rec), "--out", str(out_rec),
                 "--final"]) == 0
    assert main(["correlate", "--rules", str(RULES), "--in", str(plain), "--out", str(out_now),
                 "--final", "--now", str(arrival)]) == 0
    assert out_rec.read_text() == out_now.read_text() != ""


@pytest.mark.parametrize("now", ["0", "946684799999", "4102444800000", "2101-01-01T00:00:00Z"])
def test_an_implausible_now_is_refused(now: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """--now 0 took every event as ahead of its arrival: all times became 1970, incidents
    outside the contract's range, status 0."""
    out = tmp_path / "out.jsonl"
    status = main(["correlate", "--rules", str(RULES), "--in", str(write_events(tmp_path)),
                   "--out", str(out), "--now", now])
    assert status == 2
    err = capsys.readouterr().err
    assert f"--now {now}: not a plausible arrival time" in err
    assert "reads as epoch seconds" not in err  # not as seconds either
    assert not out.exists()


def test_a_now_in_epoch_seconds_is_told_to_be_milliseconds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["correlate", "--rules", str(RULES), "--in", str(write_events(tmp_path)),
                   "--out", str(tmp_path / "out.jsonl"), "--now", "1740967260"])
    assert status == 2
    assert ("1740967260 reads as epoch seconds: give milliseconds (1740967260000)"
            in capsys.readouterr().err)


@pytest.mark.parametrize("command", ["correlate", "analytics"])
def test_a_recording_cut_short_is_one_line_and_status_2_with_nothing_left(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found only where it stops (the commands stream): one line naming where, status 2, and
    no partial output (stop 39's probe: a traceback, status 1 and an empty --out file)."""
    import os

    from hub.replay.record import RecordedMessage, write_recording
    from hub.settings import SOURCE_TOPICS

    whole = tmp_path / "whole.avro"
    write_recording(whole, [RecordedMessage(SOURCE_TOPICS["grid_report"], 0, i, T + i, 1, None,
                                            os.urandom(200)) for i in range(2000)])
    cut = tmp_path / "cut.avro"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out = tmp_path / ("out.jsonl" if command == "correlate" else "out")
    argv = ([command, "--rules", str(RULES)] if command == "correlate" else [command])
    assert main([*argv, "--in", str(cut), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "after message" in err, err
    if command == "correlate":
        assert not out.exists()  # the partial file is removed
    else:
        assert not out.exists() or not any(out.iterdir())  # nothing written into the directory
