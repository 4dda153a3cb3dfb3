"""hub evaluate: matching, precision/recall arithmetic, thresholds, exit codes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.cli import main
from hub.replay.evaluate import EvaluationInputError, evaluate, read_incidents, read_labels


def label(rule: str, key: str, *ids: str, risk: str = "HIGH", t: int = 0) -> str:
    return json.dumps(
        {
            "rule_id": rule,
            "key": key,
            "event_ids": list(ids),
            "risk_level": risk,
            "first_event_time": t,
        }
    )


def incident(
    iid: str, rule: str, *ids: str, version: int = 1, risk: str = "HIGH", t: int = 0
) -> str:
    return json.dumps(
        {
            "kind": "incident",
            "incident_id": iid,
            "version": version,
            "rule_id": rule,
            "key": "k",
            "risk_level": risk,
            "first_event_time": t,
            "evidence": [{"kind": "access_swipe", "event_id": i, "event_time": t} for i in ids],
        }
    )


def test_precision_and_recall_per_rule_and_overall() -> None:
    labels = read_labels(
        [label("a", "k1", "e1", "e2"), label("a", "k2", "e3"), label("b", "k3", "e9")]
    )
    incidents = read_incidents(
        [incident("i1", "a", "e2"), incident("i2", "a", "e7"), incident("i3", "c", "e9")]
    )
    ev = evaluate(labels, incidents)
    a, b, c = ev.per_rule["a"], ev.per_rule["b"], ev.per_rule["c"]
    assert (a.expected, a.actual, a.matched) == (2, 2, 1)
    assert a.precision == 0.5 and a.recall == 0.5
    assert b.recall == 0.0 and b.precision == 1.0  # nothing claimed, nothing false
    assert c.precision == 0.0 and c.recall == 1.0  # same event, wrong rule: no match
    assert (ev.overall.expected, ev.overall.actual, ev.overall.matched) == (3, 3, 1)
    assert [m.key for m in ev.missed] == ["k2", "k3"]
    assert [x.incident_id for x in ev.extra] == ["i2", "i3"]


def test_highest_version_counts_and_matching_is_one_to_one() -> None:
    incidents = read_incidents(
        [
            incident("i1", "a", "e1", version=1, risk="MEDIUM"),
            incident("i1", "a", "e1", "e2", version=2, risk="HIGH"),
        ]
    )
    assert len(incidents) == 1 and incidents[0].version == 2
    # one incident covering two labels' events matches only one of them
    ev = evaluate(read_labels([label("a", "k", "e1", t=1), label("a", "k", "e2", t=2)]), incidents)
    assert ev.overall.matched == 1 and len(ev.missed) == 1
    # the matching is maximal, not greedy: label 1 could take either, label 2 only i2
    labels = read_labels([label("a", "k", "e1", "e2", t=1), label("a", "k", "e2", t=2)])
    incs = read_incidents([incident("i1", "a", "e1", t=5), incident("i2", "a", "e2", t=1)])
    assert evaluate(labels, incs).overall.matched == 2


def test_risk_level_differences_are_listed_not_missed() -> None:
    ev = evaluate(
        read_labels([label("a", "k", "e1", risk="HIGH")]),
        read_incidents([incident("i1", "a", "e1", risk="MEDIUM")]),
    )
    assert ev.overall.recall == 1.0
    assert [(lab.risk_level, inc.risk_level) for lab, inc in ev.risk_mismatches] == [
        ("HIGH", "MEDIUM")
    ]


def test_thresholds() -> None:
    ev = evaluate(
        read_labels([label("a", "k", "e1"), label("a", "j", "e2")]),
        read_incidents([incident("i1", "a", "e1")]),
    )
    assert ev.failures(None, None) == []
    assert ev.failures(0.5, 1.0) == []
    assert ev.failures(0.51, None) and "recall" in ev.failures(0.51, None)[0]
    assert evaluate([], []).failures(1.0, 1.0) == []


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("{not json", "labels:2: not valid JSON"),
        ('["a"]', "labels:2: expected a JSON object"),
        ('{"rule_id": "a", "event_ids": []}', "labels:2: event_ids"),
        ('{"event_ids": ["x"]}', "labels:2: rule_id"),
        (
            '{"rule_id": "a", "event_ids": ["x"], "first_event_time": "soon"}',
            "labels:2: first_event_time",
        ),
        ('{"rule_id": "a", "event_ids": ["x"], "risk_level": "EXTREME"}',
         "labels:2: risk_level: 'EXTREME' is not a risk level"),
        ('{"rule_id": "a", "event_ids": ["x"], "rule_id": "b"}',
         "labels:2: rule_id: given more than once"),
        ("[" * 100_000, "labels:2: JSON nested too deeply"),
        ('{"rule_id": "a", "event_ids": ["x"], "risk_levle": "LOW"}',
         "labels:2: risk_levle: not a label field"),
    ],
)
def test_malformed_labels_name_file_and_line(text: str, where: str) -> None:
    with pytest.raises(EvaluationInputError, match=where):
        read_labels([label("a", "k", "e1"), text])


def test_malformed_incidents_name_file_and_line() -> None:
    with pytest.raises(EvaluationInputError, match="inc:1: version"):
        read_incidents(['{"incident_id": "i", "rule_id": "a", "evidence": []}'], "inc")
    with pytest.raises(EvaluationInputError, match=r"inc:1: evidence\[0\].event_id"):
        read_incidents(
            ['{"incident_id": "i", "rule_id": "a", "version": 1, "evidence": [{}]}'], "inc"
        )
    with pytest.raises(EvaluationInputError, match="inc:2: kind"):
        read_incidents(["", '{"kind": "access_swipe"}'], "inc")


def test_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp, act = tmp_path / "l.jsonl", tmp_path / "i.jsonl"
    exp.write_text(label("a", "k", "e1") + "\n" + label("a", "j", "e2") + "\n")
    act.write_text(incident("i1", "a", "e1") + "\n")
    assert main(["evaluate", "--expected", str(exp), "--actual", str(act)]) == 0
    out = capsys.readouterr().out
    assert "overall" in out and "missed (1)" in out and "key=j" in out
    assert (
        main(["evaluate", "--expected", str(exp), "--actual", str(act), "--min-recall", "0.9"]) == 1
    )
    assert "FAIL: recall 0.5000 < --min-recall 0.9" in capsys.readouterr().out
    assert (
        main(
            [
                "evaluate",
                "--expected",
                str(exp),
                "--actual",
                str(act),
                "--min-recall",
                "0.5",
                "--min-precision",
                "1",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] and result["overall"]["recall"] == 0.5
    act.write_text("garbage\n")
    assert main(["evaluate", "--expected", str(exp), "--actual", str(act)]) == 2
    assert f"{act}:1: not valid JSON" in capsys.readouterr().err


def test_only_confirmed_versions_are_evaluated(tmp_path: Path) -> None:
    """`hub correlate --early` output: PROVISIONAL and RETRACTED lines are not results."""
    base = {"kind": "incident", "incident_id": "inc-1", "rule_id": "r", "key": "k",
            "risk_level": "HIGH", "evidence": [{"event_id": "e1"}], "first_event_time": 1}
    lines = [json.dumps({**base, "version": 1, "status": "PROVISIONAL"}),
             json.dumps({**base, "version": 1}),
             json.dumps({**base, "incident_id": "inc-2", "version": 2, "status": "RETRACTED"})]
    got = read_incidents(lines)
    assert [(i.incident_id, i.version) for i in got] == [("inc-1", 1)]
    with pytest.raises(EvaluationInputError, match="status"):
        read_incidents([json.dumps({**base, "version": 1, "status": "MAYBE"})])
