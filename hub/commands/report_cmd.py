"""``hub report``: tables (and PNG charts) people read, from ``hub analytics --out DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

LEVELS = ("GRID", "TOWNSHIP", "DISTRICT", "CITY")
PERIODS = ("DAY", "WEEK", "MONTH", "YEAR")

DESCRIPTION = """\
Print a table of the area analytics that `hub analytics --out DIR` wrote, for one level (all its
areas, or one with --area), and optionally draw it as a PNG (--chart).

  disputes  矛盾纠纷 funnel: period, area, reported, accepted (受理), resolved (调处成功),
            unresolved, in progress, success rate %, median hours to resolve
  risk      案件风险管理 warnings: week, area, source, case type, count, baseline mean,
            p-value, level, final/early (final warnings only unless --early)
  safety    平安指数: day, area, index, incidents by level, open disputes, households

--period applies to disputes (DAY, WEEK, MONTH or YEAR; default MONTH). Risk warnings are
weekly and safety indexes daily, always: for them --period may be left out or given as WEEK
(risk) or DAY (safety); any other value is a usage error.

Exit status: 0 the table was printed (and the chart written); 1 no record matched ("no records
for LEVEL AREA") or a line of the input is not a record; 2 usage: a wrong flag, --in DIR missing
or without the report's file, --chart not writable (checked before anything is read or written).
"""


def _area_code(text: str) -> str:
    """An area's code: not empty (``--area ""`` said "no records for GRID (all areas)")."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give an area's code, or leave --area out for every area")
    return text


def add_parser(sub: Any) -> None:
    """Register ``hub report`` and its flags; the flags' help texts are its reference."""
    p = sub.add_parser(
        "report", help="tables and charts of the area analytics (hub analytics --out DIR)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("report", choices=("disputes", "risk", "safety"), help="which report")
    p.add_argument("--level", required=True, type=str.upper, choices=LEVELS,
                   help="area level: GRID, TOWNSHIP, DISTRICT or CITY")
    p.add_argument("--area", default=None, metavar="CODE", type=_area_code,
                   help="one area's code at that level (default: every area of the level)")
    p.add_argument("--period", default=None, type=str.upper, choices=PERIODS,
                   help="disputes: DAY, WEEK, MONTH (default) or YEAR; risk is always WEEK, "
                   "safety always DAY (another value is refused)")
    p.add_argument("--early", action="store_true",
                   help="risk: include the early warnings (final ones only by default)")
    p.add_argument("--in", dest="input", type=Path, default=Path("analytics"), metavar="DIR",
                   help="the directory hub analytics --out wrote (default: ./analytics)")
    p.add_argument("--chart", type=Path, default=None, metavar="FILE.png",
                   help="also draw the report as a PNG (matplotlib): disputes funnel bars per "
                   "period, risk weekly counts against the baseline band, safety index per day")
    p.set_defaults(func=run)


def _usage_problem(args: argparse.Namespace, file_name: str) -> str | None:
    import importlib.util
    import os

    from hub.commands.paths import output_problem

    natural = {"risk": "WEEK", "safety": "DAY"}.get(args.report)
    if natural and args.period not in (None, natural):
        return (f"--period {args.period}: {args.report} is reported per {natural} only; "
                f"leave --period out")
    if args.early and args.report != "risk":
        return "--early: only for hub report risk"
    d: Path = args.input
    hint = f"run hub analytics --out {d} first"
    if not d.exists():
        return f"--in {d}: no such directory; {hint}"
    if not d.is_dir():
        return f"--in {d}: is a file; give the directory hub analytics --out wrote"
    if not (d / file_name).is_file():
        return f"--in {d}: no {file_name} in it; {hint}"
    if not os.access(d / file_name, os.R_OK):
        return f"--in {d}: {file_name} is not readable (permissions)"
    if args.chart is not None:
        problem = output_problem(args.chart, "--chart", ".png")
        if problem:
            return problem
        if args.chart.suffix.lower() != ".png":
            return f"--chart {args.chart}: charts are PNG; give a name ending in .png"
        if importlib.util.find_spec("matplotlib") is None:
            return "--chart needs matplotlib; pip install 'matplotlib>=3.8,<4'"
    return None


def run(args: argparse.Namespace) -> int:
    """0 when written, 1 (EXIT_BAD_INPUT) when the analytics directory is unusable, 2 on usage
    errors."""
    from hub.commands.exits import EXIT_BAD_INPUT, EXIT_OK, EXIT_USAGE
    from hub.reports.tables import REPORTS, TABLES, BadLine, levels_of, parse_records, select

    report = REPORTS[args.report]
    problem = _usage_problem(args, report.file)
    if problem:
        print(f"hub report: {problem}", file=sys.stderr)
        return EXIT_USAGE
    path = args.input / report.file
    try:
        with open(path, encoding="utf-8") as fh:
            records = parse_records(fh, report)
    except BadLine as exc:
        print(f"hub report: {path}:{exc.lineno}: {exc.detail}; rerun hub analytics --out "
              f"{args.input}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (OSError, UnicodeDecodeError) as exc:
        print(f"hub report: --in {args.input}: cannot read {report.file}: {exc}",
              file=sys.stderr)
        return EXIT_USAGE
    chosen = select(args.report, records, level=args.level, area=args.area, period=args.period,
                    early=args.early)
    area = args.area or "(all areas)"
    if not chosen:
        elsewhere = [lv for lv in levels_of(records, args.area) if lv != args.level] \
            if args.area else []
        hint = f" ({args.area} is a {' and '.join(elsewhere)} code)" if elsewhere else ""
        what = {"disputes": f"{args.period or 'MONTH'} disputes",
                "risk": "risk warnings" if args.early else "final risk warnings (--early: "
                "early ones too)", "safety": "safety indexes"}[args.report]
        print(f"hub report: no records for {args.level} {area}{hint}: no {what} in {path}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        for line in TABLES[args.report](chosen):
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:  # `hub report ... | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet exit flush
        return EXIT_OK
    if args.chart is not None:
        from hub.reports.charts import CHARTS

        subtitle = f"{args.level} {area}"
        if args.report == "disputes":
            subtitle += f", {args.period or 'MONTH'}"
        CHARTS[args.report](chosen, args.chart, subtitle)
        print(f"hub report: {len(chosen)} records -> {args.chart}", file=sys.stderr)
    return EXIT_OK
