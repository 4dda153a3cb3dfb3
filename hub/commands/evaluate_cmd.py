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


def add_parser(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate",
        help="score incidents against ground-truth labels (precision/recall per rule)",
        description=(
            "Match incidents (highest version of each incident_id) to labels: same rule_id and "
            "overlapping evidence event ids, one to one. Prints precision and recall per rule and "
            "overall, what was missed and what was extra. Exit 1 below the thresholds, 2 on "
            "unreadable input."
        ),
    )
    p.add_argument("--expected", type=Path, required=True, help="labels .jsonl (hub simulate)")
    p.add_argument("--actual", type=Path, required=True, help="incidents .jsonl (hub correlate)")
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
    from hub.commands.paths import first_problem, input_problem

    problem = first_problem(input_problem(args.expected, "--expected"),
                            input_problem(args.actual, "--actual"))
    if problem:
        print(f"hub evaluate: {problem}", file=sys.stderr)
        return 2
    try:
        with open(args.expected, encoding="utf-8") as handle:
            labels = read_labels(handle, str(args.expected))
        with open(args.actual, encoding="utf-8") as handle:
            incidents = read_incidents(handle, str(args.actual))
    except (OSError, EvaluationInputError) as exc:
        print(f"hub evaluate: {exc}", file=sys.stderr)
        return 2
    ev = evaluate(labels, incidents)
    failures = ev.failures(args.min_recall, args.min_precision)
    if args.json:
        record = ev.to_record()
        record["passed"] = not failures
        record["failures"] = failures
        print(json.dumps(record, ensure_ascii=False, indent=2))
    else:
        print(format_report(ev))
        for reason in failures:
            print(f"FAIL: {reason}")
        if not failures and (args.min_recall is not None or args.min_precision is not None):
            print("PASS: thresholds met")
    return 1 if failures else 0
