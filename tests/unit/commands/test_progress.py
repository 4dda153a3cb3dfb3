"""Long commands show progress on a terminal (count, rate, ETA where known), nothing in a pipe."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from hub.replay.progress import Progress

REPO = Path(__file__).resolve().parents[3]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_line_has_count_rate_and_eta() -> None:
    now = [0.0]
    out = Terminal()
    p = Progress(out, "hub correlate", unit="lines", total=1000, tty_only=True,
                 clock=lambda: now[0])
    now[0] = 2.0
    p.update(250)
    assert out.getvalue().endswith("hub correlate: 250 of 1,000 (25 %, ETA 6 s) lines (125/s)")
    p.close()
    assert out.getvalue().endswith("\n")


def test_in_a_pipe_a_tty_only_progress_says_nothing() -> None:
    now = [0.0]
    out = io.StringIO()
    p = Progress(out, "hub simulate", unit="lines", tty_only=True, clock=lambda: now[0])
    for i in range(1, 50):
        now[0] = float(i)
        p.update(i * 1000)
    p.close()
    assert out.getvalue() == ""


def test_simulate_and_correlate_into_a_pipe_print_only_their_summary(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    sim = subprocess.run([sys.executable, "-m", "hub", "simulate", "--buildings", "20", "--days",
                          "2", "--out", str(events)], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert sim.returncode == 0, sim.stderr
    assert len(sim.stderr.strip().splitlines()) == 1 and "hub simulate:" in sim.stderr
    cor = subprocess.run([sys.executable, "-m", "hub", "correlate", "--in", str(events),
                          "--out", str(tmp_path / "i.jsonl")], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert cor.returncode == 0, cor.stderr
    assert [x for x in cor.stderr.splitlines() if "lines (" in x and "/s)" in x] == []
