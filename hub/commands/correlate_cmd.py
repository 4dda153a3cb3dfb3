"""``hub correlate``: the engine in-process over an interchange file (no Kafka, no Faust)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from hub.model.errors import ConfigError


def add_parser(sub: Any) -> None:
    """Register ``hub correlate`` and its flags; the flags' help texts are its reference."""
    p = sub.add_parser(
        "correlate",
        help="run the correlation rules over an events file",
        description="Run the correlation engine over interchange JSON lines, offline. "
        "building_identity lines load the registry; each emitted incident version is one line.",
    )
    p.add_argument("--rules", type=Path, default=None, help="rules directory (topology/rules)")
    p.add_argument("--in", dest="input", required=True,
                   help="events .jsonl ('-' for stdin), or a recording made by `hub record` "
                   "(its Kafka timestamps say when each event arrived)")
    p.add_argument("--out", default="-", help="incidents .jsonl ('-' for stdout, the default)")
    p.add_argument("--final", action="store_true",
                   help="only the last version of each incident (with --early: CONFIRMED, or "
                   "RETRACTED for a provisional incident that late lines disproved)")
    p.add_argument("--early", action="store_true",
                   help="take the line order as arrival order and also write what operators see "
                   "before the watermark: PROVISIONAL versions at arrival, RETRACTED ones when "
                   "later lines disprove them (CONFIRMED versions are the same as without it)")
    p.add_argument("--now", default=None,
                   help="when the file's events arrived, for lines that do not say (a "
                   "recording's do): epoch ms, ISO-8601 with an offset, 'now', or relative to "
                   "now like -15m / -2h / -1d. Event times "
                   "further past it than the source's `future` tolerance are corrected to it, as "
                   "the worker does with Kafka timestamps (docs/adr/0006)")
    p.add_argument("--rejected", type=Path, default=None,
                   help="also write rejected lines (bad or LATE) here as JSON lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when only LATE events were rejected, 1 when any other record was rejected, 2 on usage
    errors."""
    import json

    from hub.codec import incident_to_json, load_codec, rule_contracts
    from hub.commands.paths import (
        first_problem,
        input_problem,
        output_problem,
        rules_problem,
        same_file_problem,
    )
    from hub.core.rule_checks import lateness_warnings
    from hub.core.rule_loading import load_rules
    from hub.gc_policy import tune_for_throughput
    from hub.model.incidents import STATUSES
    from hub.offline.correlate import CorrelateSummary, correlate_file, final_versions
    from hub.replay.progress import Progress
    from hub.replay.record import RecordingError
    from hub.settings import Settings

    settings = Settings.from_env()
    problem = first_problem(
        rules_problem(args.rules) if args.rules else None, input_problem(args.input, "--in"),
        output_problem(args.out, "--out"),
        output_problem(args.rejected, "--rejected") if args.rejected else None,
        same_file_problem((args.input, "--in"), (args.out, "--out"), (args.rejected, "--rejected")))
    if problem:
        print(f"hub correlate: {problem}", file=sys.stderr)
        return 2
    codec = load_codec(settings.schemas_dir)
    try:
        pack = load_rules(args.rules or settings.rules_dir, *rule_contracts(codec))
    except ConfigError as exc:
        print(f"hub correlate: {exc}", file=sys.stderr)
        return 2
    for warning in lateness_warnings(pack):  # advice only: the exit status does not change
        print(f"hub correlate: warning: {warning}", file=sys.stderr)
    now = None
    if args.now is not None:
        import time

        from hub.model.events import MAX_TIME_MS, MIN_TIME_MS
        from hub.replay.record import parse_time
        try:
            now = parse_time(args.now, int(time.time() * 1000))
        except ValueError as exc:
            print(f"hub correlate: --now: {exc}", file=sys.stderr)
            return 2
        if not MIN_TIME_MS <= now < MAX_TIME_MS:  # every event would be "ahead" of it
            hint = (f"; {args.now} reads as epoch seconds: give milliseconds "
                    f"({now * 1000})" if MIN_TIME_MS <= now * 1000 < MAX_TIME_MS else "")
            print(f"hub correlate: --now {args.now}: not a plausible arrival time (between "
                  f"2000-01-01 and 2100-01-01 UTC){hint}; give when the file's events reached "
                  "the hub, e.g. 2025-03-03T08:00:00+08:00, or leave --now out", file=sys.stderr)
            return 2
    tune_for_throughput()
    summary = CorrelateSummary()
    progress = Progress(sys.stderr, "hub correlate", unit="lines", tty_only=True,
                        total=_line_count(args.input) if sys.stderr.isatty() else None)
    stream = correlate_file(
        args.input, pack, pseudonym_key=settings.pseudonym_key, codec=codec, summary=summary,
        early=args.early, now=now, on_lines=progress.update,
    )
    written = Counter[str]()
    statuses = Counter[str]()
    writing = False  # an OSError while True (or at the close that flushes) is --out's, not --in's
    try:
        with contextlib.ExitStack() as stack:
            out = sys.stdout if args.out == "-" else stack.enter_context(
                open(args.out, "w", encoding="utf-8")
            )
            incidents = final_versions(stream) if args.final else stream
            for inc in incidents:
                writing = True
                out.write(incident_to_json(inc, codec=codec) + "\n")
                writing = False
                written[inc.rule_id] += 1
                statuses[inc.status] += 1
            writing = True
    except RecordingError as exc:  # a recording cut short: found only where it stops
        progress.close()
        if args.out != "-":
            Path(args.out).unlink(missing_ok=True)
        print(f"hub correlate: --in {exc}{'' if args.out == '-' else f'; {args.out} removed'}",
              file=sys.stderr)
        return exc.status
    except OSError as exc:
        if not writing or (isinstance(exc, BrokenPipeError) and args.out == "-"):
            raise  # a closed stdout (`| head`) is the reader's choice: 141, as for `cat`
        progress.close()
        print(f"hub correlate: --out {args.out}: cannot write ({exc.strerror or exc}); the "
              "incidents written so far are incomplete", file=sys.stderr)
        return 1
    progress.close()
    for device, n in sorted(summary.future.items()):
        print(f"hub correlate: device {device or '?'}: {n} event times past their arrival by more "
              "than the source allows (a clock running ahead?); taken as the arrival",
              file=sys.stderr)
    for rej in summary.rejected[:20]:
        print(f"{args.input}:{rej.lineno}: {rej.reason}: {rej.detail}", file=sys.stderr)
    if len(summary.rejected) > 20:
        print(f"... and {len(summary.rejected) - 20} more rejected lines", file=sys.stderr)
    if args.rejected:
        try:
            with open(args.rejected, "w", encoding="utf-8") as fh:
                for rej in summary.rejected:
                    fh.write(json.dumps(rej.__dict__, ensure_ascii=False) + "\n")
        except OSError as exc:
            # 1, not 2: a full disk shows only when written, after --out was (failed delivery)
            print(f"hub correlate: --rejected {args.rejected}: cannot write ({exc.strerror or exc}"
                  f"); {args.out} was written, the rejected lines were not", file=sys.stderr)
            return 1
    s = summary.stats
    print(
        f"hub correlate: {summary.lines} lines, {summary.buildings} buildings, "
        f"{summary.events} events ({s.duplicates} duplicates, {s.suppressed} suppressed, "
        f"{s.late} late), {len(summary.rejected)} rejected; "
        f"{s.incidents_opened} incidents in {s.incident_versions} versions "
        f"({s.unrouted} versions unrouted); written: "
        + (", ".join(f"{k}={v}" for k, v in sorted(written.items())) or "none")
        + ("; by status: " + ", ".join(f"{k}={statuses[k]}" for k in STATUSES)
           if args.early else ""),
        file=sys.stderr,
    )
    # Bad input is an error (as for `hub produce`); LATE lines are data, reported but not failing.
    return 1 if any(r.reason != "LATE" for r in summary.rejected) else 0


def _line_count(path: str) -> int | None:
    """Lines in ``path`` (for the progress line's ETA); None for stdin or a recording."""
    if path == "-" or not path.endswith((".jsonl", ".json")):
        return None
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
