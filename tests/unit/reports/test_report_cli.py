"""`hub report` end to end in a subprocess: tables on stdout, PNG charts, exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.reports.records import DISPUTES, write_dir

REPO = Path(__file__).resolve().parents[3]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def hub(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", "report", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def err_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    return lines[-1] if lines else ""


@pytest.fixture
def an(tmp_path: Path) -> Path:
    return write_dir(tmp_path / "an")


@pytest.mark.parametrize(("report", "level", "rows"), [
    ("disputes", "DISTRICT", 3),
    ("risk", "GRID", 1),
    ("safety", "TOWNSHIP", 3),
])
def test_each_report_prints_its_table_and_draws_a_png(an: Path, tmp_path: Path, report: str,
                                                      level: str, rows: int) -> None:
    chart = tmp_path / f"{report}.png"
    result = hub(report, "--level", level, "--in", str(an), "--chart", str(chart))
    assert result.returncode == 0, result.stderr
    assert err_line(result) == f"hub report: {rows} records -> {chart}"
    assert len(result.stdout.splitlines()) == rows + 1
    data = chart.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000  # axes, bars/lines and labels, not an empty canvas


def test_disputes_table_on_stdout_for_one_area_and_period(an: Path) -> None:
    result = hub("disputes", "--level", "district", "--area", "330102", "--period", "day",
                 "--in", str(an))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "period      area    reported  accepted(受理)  resolved(调处成功)  unresolved"
        "  in_progress  success_%  median_h",
        "2026-01-05  330102         4               2                   1           0"
        "            1       50.0       5.5",
    ]
    assert result.stderr == ""


def test_in_defaults_to_analytics_under_the_working_directory(tmp_path: Path) -> None:
    write_dir(tmp_path / "analytics")
    result = hub("risk", "--level", "DISTRICT", "--early", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == [
        "week", "2026-W01", "2026-W02"]


def test_missing_in_directory_is_usage_with_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = hub("disputes", "--level", "CITY", "--in", str(missing))
    assert result.returncode == 2
    assert err_line(result) == (f"hub report: --in {missing}: no such directory; "
                                f"run hub analytics --out {missing} first")
    assert result.stdout == ""


def test_default_in_directory_missing(tmp_path: Path) -> None:
    result = hub("safety", "--level", "CITY", cwd=tmp_path)
    assert result.returncode == 2
    assert err_line(result) == ("hub report: --in analytics: no such directory; "
                                "run hub analytics --out analytics first")


def test_directory_without_the_reports_file_is_usage(an: Path) -> None:
    (an / "risk_warnings.jsonl").unlink()
    result = hub("risk", "--level", "CITY", "--in", str(an))
    assert result.returncode == 2
    assert err_line(result) == (f"hub report: --in {an}: no risk_warnings.jsonl in it; "
                                f"run hub analytics --out {an} first")


@pytest.mark.parametrize(("args", "message"), [
    (["risk", "--level", "CITY", "--period", "MONTH"],
     "hub report: --period MONTH: risk is reported per WEEK only; leave --period out"),
    (["safety", "--level", "CITY", "--period", "WEEK"],
     "hub report: --period WEEK: safety is reported per DAY only; leave --period out"),
    (["disputes", "--level", "CITY", "--early"], "hub report: --early: only for hub report risk"),
])
def test_period_and_early_that_mean_nothing_are_refused(an: Path, args: list[str],
                                                        message: str) -> None:
    result = hub(*args, "--in", str(an))
    assert result.returncode == 2
    assert err_line(result) == message


def test_natural_period_is_accepted_for_risk_and_safety(an: Path) -> None:
    assert hub("risk", "--level", "GRID", "--period", "WEEK", "--in", str(an)).returncode == 0
    assert hub("safety", "--level", "GRID", "--period", "DAY", "--in", str(an)).returncode == 0


def test_chart_path_checked_before_anything_is_written(an: Path, tmp_path: Path) -> None:
    result = hub("safety", "--level", "GRID", "--in", str(an), "--chart", str(tmp_path))
    assert result.returncode == 2
    assert err_line(result) == (f"hub report: --chart {tmp_path}: is a directory; give a file "
                                f"path, e.g. {tmp_path / 'out.png'}")  # not out.jsonl
    assert result.stdout == ""
    bad = tmp_path / "no" / "c.png"
    result = hub("safety", "--level", "GRID", "--in", str(an), "--chart", str(bad))
    assert result.returncode == 2
    assert err_line(result) == (f"hub report: --chart {bad}: directory {bad.parent} does not "
                                "exist; create it first")
    svg = tmp_path / "c.svg"
    result = hub("safety", "--level", "GRID", "--in", str(an), "--chart", str(svg))
    assert result.returncode == 2 and not svg.exists()
    assert err_line(result) == (f"hub report: --chart {svg}: charts are PNG; give a name "
                                "ending in .png")


def test_wrong_level_is_an_argparse_usage_error(an: Path) -> None:
    result = hub("disputes", "--level", "STREET", "--in", str(an))
    assert result.returncode == 2
    assert "--level: invalid choice: 'STREET'" in result.stderr


def test_an_empty_area_is_a_usage_error(an: Path) -> None:
    """`--area ""` said "no records for GRID (all areas)", status 1 (an outside probe)."""
    result = hub("disputes", "--level", "GRID", "--in", str(an), "--area", "")
    assert result.returncode == 2
    assert "--area: give an area's code, or leave --area out" in result.stderr


def test_no_records_is_status_1_with_a_hint(an: Path, tmp_path: Path) -> None:
    chart = tmp_path / "c.png"
    result = hub("disputes", "--level", "GRID", "--area", "330102", "--in", str(an),
                 "--chart", str(chart))
    assert result.returncode == 1
    assert err_line(result) == ("hub report: no records for GRID 330102 (330102 is a DISTRICT "
                                f"code): no MONTH disputes in {an / 'disputes.jsonl'}")
    assert result.stdout == "" and not chart.exists()
    result = hub("risk", "--level", "CITY", "--in", str(an))
    assert result.returncode == 1
    assert err_line(result).startswith("hub report: no records for CITY (all areas): no final "
                                       "risk warnings (--early: early ones too)")


def test_a_bad_line_is_status_1_naming_file_and_line(an: Path) -> None:
    path = an / "disputes.jsonl"
    path.write_text(json.dumps(DISPUTES[0]) + "\n{oops\n", encoding="utf-8")
    result = hub("disputes", "--level", "DISTRICT", "--in", str(an))
    assert result.returncode == 1
    assert err_line(result).startswith(f"hub report: {path}:2: not JSON")


def test_tables_and_other_commands_do_not_import_matplotlib(an: Path) -> None:
    code = ("import sys; from hub.cli import build_parser, main; build_parser(); "
            f"rc = main(['report', 'disputes', '--level', 'CITY', '--in', {str(an)!r}]); "
            "print('matplotlib' in sys.modules, rc)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.splitlines()[-1] == "False 1", result.stderr
