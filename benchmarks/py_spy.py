"""py-spy around one worker process: start a recording, then fold its collapsed stacks into the
hot spots worker_bench prints (``--py-spy S``).

Apart from the contender runs (benchmarks/contenders.py): reading a profile has nothing to do
with driving the broker.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
from pathlib import Path

from benchmarks.stack import REPO


def start_py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy")
    if exe is None:
        print("    (py-spy not installed: pip install py-spy)")
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                             "--rate", "200", "--format", "raw", "--output", str(out),
                             "--nonblocking"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def hot_spots(raw: Path, top: int = 18) -> str:
    """py-spy's collapsed stacks as two tables: own time per function, and time inside each
    hub/ function (inclusive), both as a share of all samples."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    try:
        text = raw.read_text()
    except OSError:
        return f"    (no py-spy output at {raw})"
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            if f.startswith("hub/"):
                incl[f] += n
    if not total:
        return "    (py-spy recorded nothing)"
    lines = [f"    py-spy, {total} samples of the single hub worker: own time"]
    lines += [f"      {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("    time inside hub/ functions (inclusive)")
    lines += [f"      {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``func (path/to/site-packages/faust/x.py:12)`` -> ``faust/x.py:func``."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{REPO}/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{func}"
