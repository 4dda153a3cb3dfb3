"""``hub evaluate``: precision and recall of incidents against labels; the CI gate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hub.replay.evaluate import (
    EvaluationInputError,
    evaluate,
    format_report,
    read_incidents,
    read_labels,
)
from hub.replay.evaluate_trends import (
    evaluate_trends,
    format_trend_report,
    read_trend_labels,
    read_warnings,
)


def add_parser(subparsers: Any) -> None:
    """Register ``hub evaluate`` and its flags; the flags' help texts are its reference."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate",
        help="score incidents against ground-truth labels (precision/recall per rule)",
        description=(
            "Match incidents (highest version of each incident_id) to labels: same rule_id and "
            "overlapping evidence event ids, one to one. Prints precision and recall per rule and "
            "overall, what was missed and what was extra. With --warnings, scores final risk "
            "warnings against the planted trends (risk_trend labels): recall and precision. "
            "Exit 1 below the thresholds, 2 on unreadable input."
        ),
    )
    p.add_argument("--expected", type=Path, required=True, help="labels .jsonl (hub simulate)")
    p.add_argument("--actual", type=Path, help="incidents .jsonl (hub correlate)")
    p.add_argument("--warnings", type=Path,
                   help="risk_warnings.jsonl (hub analytics): score the planted trends")
    p.add_argument("--min-recall", type=_fraction, help="fail (exit 1) below this overall recall")
    p.add_argument(
        "--min-precision", type=_fraction, help="fail (exit 1) below this overall precision"
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value


def run(args: argparse.Namespace) -> int:
    """0 when every gate passes, 1 when any precision/recall gate fails (CI), 2 on usage errors."""
    from hub.commands.paths import first_problem, input_problem, utf8_problem

    if args.actual is None and args.warnings is None:
        print("hub evaluate: give --actual INCIDENTS.jsonl, --warnings RISK_WARNINGS.jsonl or "
              "both", file=sys.stderr)
        return 2
    problem = first_problem(
        input_problem(args.expected, "--expected"),
        input_problem(args.actual, "--actual") if args.actual is not None else None,
        input_problem(args.warnings, "--warnings") if args.warnings is not None else None,
        utf8_problem(args.expected, "--expected"),
        utf8_problem(args.actual, "--actual") if args.actual is not None else None,
        utf8_problem(args.warnings, "--warnings") if args.warnings is not None else None)
    if problem:
        print(f"hub evaluate: {problem}", file=sys.stderr)
        return 2
    try:
        with open(args.expected, encoding="utf-8") as handle:
            label_lines = handle.readlines()
        ev = trends = None
        if args.actual is not None:
            labels = read_labels(label_lines, str(args.expected))
            with open(args.actual, encoding="utf-8") as handle:
                incidents = read_incidents(handle, str(args.actual))
            ev = evaluate(labels, incidents)
        if args.warnings is not None:
            planted = read_trend_labels(label_lines, str(args.expected))
            with open(args.warnings, encoding="utf-8") as handle:
                warnings = read_warnings(handle, str(args.warnings))
            trends = evaluate_trends(planted, warnings)
    except (OSError, EvaluationInputError) as exc:
        print(f"hub evaluate: {exc}", file=sys.stderr)
        return 2
    failures = []
    if ev is not None:
        failures += ev.failures(args.min_recall, args.min_precision)
    if trends is not None:
        failures += trends.failures(args.min_recall, args.min_precision)
    if args.json:
        record = ev.to_record() if ev is not None else {}
        if trends is not None:
            record["trends"] = trends.to_record()
        record["passed"] = not failures
        record["failures"] = failures
        print(json.dumps(record, ensure_ascii=False, indent=2))
    else:
        parts = [format_report(ev)] if ev is not None else []
        if trends is not None:
            parts.append(format_trend_report(trends))
        print("\n\n".join(parts))
        for reason in failures:
            print(f"FAIL: {reason}")
        if not failures and (args.min_recall is not None or args.min_precision is not None):
            print("PASS: thresholds met")
    return 1 if failures else 0
