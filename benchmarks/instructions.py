"""Instructions per event on the worker's hot path, counted, this checkout against a revision.

    python -m benchmarks.instructions --in preload.jsonl --vs HEAD~1
    python -m benchmarks.instructions --in preload.jsonl --vs main --lines 20000
    python -m benchmarks.instructions --in city.jsonl --vs HEAD~1 --engine   # the engine alone

On this shared 2-core machine the wall and CPU time of one run move by 10-30 % from one minute
to the next (BENCHMARKS.md §3): a change worth 3-5 % cannot be seen in benchmarks.hotpath's
µs/event, even alternating. The number of instructions executed hardly moves: valgrind's
callgrind counts them, and the same code over the same input (PYTHONHASHSEED fixed) counted
332,722 and 333,025 instructions per event in one run against itself (``--vs HEAD``), 0.09 %
apart where wall time moves 10-30 %. Instructions are not time (a cache miss costs more than
an add), but in Python code, where the interpreter's dispatch dominates, they follow CPU time.

benchmarks.hotpath (the Ingestor and Correlator the worker runs, Kafka replaced by lists) runs
under callgrind twice per checkout, with ``--repeat 1`` and ``--repeat 2``: the difference of
the two counts is one pass of ingest and correlation over the events, the set-up (reading the
file, encoding the messages, imports) cancelling out. Both checkouts' four runs go at once; each
takes ~50x its plain time (about 2 minutes for the default 10,000 lines on this machine).

It prints, per checkout, the instructions per source event and the ratio of this checkout to
the other. Needs valgrind (Debian: ``apt-get install valgrind``); the other revision is checked
out in a temporary git worktree, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_COLLECTED = re.compile(r"Collected : (\d+)")
_MESSAGES = re.compile(r"^([\d,]+) source (?:messages|events)", re.MULTILINE)


def count(checkout: Path, path: Path, repeat: int, out_dir: Path,
          program: str = "benchmarks.hotpath") -> tuple[int, int]:
    """(instructions, source messages) of ``program`` (benchmarks.hotpath, or
    benchmarks.engine_pass) in ``checkout``, ``repeat`` passes."""
    env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONHASHSEED="0")
    out = out_dir / f"callgrind.{checkout.name}.{repeat}"
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
         "-m", program, "--in", str(path), "--repeat", str(repeat)],
        cwd=checkout, env=env, capture_output=True, text=True, check=False)
    collected, messages = _COLLECTED.search(proc.stderr), _MESSAGES.search(proc.stdout)
    if proc.returncode != 0 or collected is None or messages is None:
        raise SystemExit(f"{program} under callgrind in {checkout} failed "
                         f"(status {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return int(collected.group(1)), int(messages.group(1).replace(",", ""))


def per_event(counts: dict[int, tuple[int, int]]) -> float:
    """Instructions of one pass over the events, per source event, from the counts of the runs
    with one pass and with two."""
    (ir1, n), (ir2, _) = counts[1], counts[2]
    return (ir2 - ir1) / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--in", dest="path", type=Path, required=True,
                   help="interchange JSON lines (registry first), e.g. a worker_bench preload")
    p.add_argument("--vs", required=True, metavar="REV", help="the revision to compare with")
    p.add_argument("--lines", type=int, default=10_000,
                   help="the file's first LINES lines (default 10,000)")
    p.add_argument("--engine", action="store_true",
                   help="the engine alone (benchmarks.engine_pass, as engine_bench runs it) "
                        "instead of the worker's hot path; --vs a revision that has it")
    args = p.parse_args(argv)
    program = "benchmarks.engine_pass" if args.engine else "benchmarks.hotpath"
    if shutil.which("valgrind") is None:
        print("valgrind not found: this benchmark counts instructions with valgrind's callgrind "
              "(Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    rev = subprocess.run(["git", "rev-parse", "--short", args.vs], cwd=ROOT, text=True,
                         capture_output=True, check=False)
    if rev.returncode != 0:
        print(f"--vs {args.vs}: not a revision of {ROOT}: {rev.stderr.strip()}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hub-instructions-") as tmp:
        tmp_dir = Path(tmp)
        sample = tmp_dir / "events.jsonl"
        with open(args.path, encoding="utf-8") as src, open(sample, "w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i >= args.lines:
                    break
                dst.write(line)
        other = tmp_dir / "other"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(other), args.vs],
                       cwd=ROOT, check=True)
        try:
            with ThreadPoolExecutor(max_workers=4) as pool:
                runs = {(tree, r): pool.submit(count, tree, sample, r, tmp_dir, program)
                        for tree in (ROOT, other) for r in (1, 2)}
                here = per_event({r: runs[(ROOT, r)].result() for r in (1, 2)})
                there = per_event({r: runs[(other, r)].result() for r in (1, 2)})
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT,
                           check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           text=True, capture_output=True, check=False).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                          capture_output=True, check=False).stdout.strip()
    what = "the engine alone" if args.engine else "ingest + correlation"
    print(f"instructions per source event, one pass of {what} "
          f"({args.lines:,} lines of {args.path.name}):")
    print(f"  this checkout ({head}{'-dirty' if dirty else ''}) {here:12,.0f}")
    print(f"  {args.vs} ({rev.stdout.strip()}){'':>{max(0, 13 - len(args.vs))}} {there:12,.0f}")
    print(f"ratio this/{args.vs}: {here / there:.4f} ({100 * (here / there - 1):+.2f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
