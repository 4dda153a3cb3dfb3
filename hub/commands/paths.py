"""Checks every command makes on the paths it is given, before it reads or writes anything.

One message form for all commands: ``<flag> <path>: <what is wrong>; <the fix>``. The caller
prints it after ``hub <command>: `` and exits 2 (usage or missing file: README, "Exit status").
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path


def output_problem(path: Path | str, flag: str, suffix: str = ".jsonl") -> str | None:
    """Why ``path`` cannot be written as a file (None: it can). '-' (stdout) is always fine.
    ``suffix``: what the example name of a file in a directory given ends with."""
    if str(path) == "-":
        return None
    p = Path(path)
    if p.is_dir():
        return (f"{flag} {p}: is a directory; give a file path, e.g. "
                f"{p / ('out' + (p.suffix or suffix))}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        return f"{flag} {p}: directory {parent} does not exist; create it first"
    if not parent.is_dir():
        return f"{flag} {p}: {parent} is not a directory"
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        return f"{flag} {p}: not writable here; choose a path you may write"
    if p.is_symlink() and not p.exists():  # writing creates its target, if it can
        target = Path(os.path.realpath(p))
        if not target.parent.is_dir():
            return (f"{flag} {p}: is a symbolic link to {target}, whose directory does not "
                    "exist; create it or give another path")
    elif not p.exists():
        # Some directories refuse new files whatever their mode says (/proc, a read-only
        # mount): make the file and remove it again, so the run does not fail after its work.
        try:
            with open(p, "x", encoding="utf-8"):
                pass
            p.unlink()
        except OSError as exc:
            return f"{flag} {p}: cannot be created ({exc.strerror or exc}); choose another path"
    return None


def same_file_problem(*paths: tuple[Path | str | None, str]) -> str | None:
    """Why two of ``paths`` (path, flag) must not be the same file (None: all differ): opening
    an output truncates it, so ``--in x --out x`` erased its input before reading a line, and
    ``--out x --labels x`` kept only the labels. '-' and None are left out."""
    seen: list[tuple[Path, str]] = []
    for path, flag in paths:
        if path is None or str(path) == "-":
            continue
        p = Path(path)
        for other, other_flag in seen:
            if _same(p, other):
                return (f"{flag} {p}: is the same file as {other_flag} {other}; writing it would "
                        "erase what the other holds: give another path")
        seen.append((p, flag))
    return None


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def directory_problem(path: Path | str, flag: str) -> str | None:
    """Why ``path`` cannot be (or be made) an output directory (None: it can)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        return f"{flag} {p}: is a file; give a directory"
    if not p.exists() and not p.parent.is_dir():
        return f"{flag} {p}: directory {p.parent} does not exist; create it first"
    if not p.exists():  # as output_problem: some directories refuse whatever their mode says
        try:
            p.mkdir()
            p.rmdir()
        except OSError as exc:
            return f"{flag} {p}: cannot be created ({exc.strerror or exc}); choose another path"
    return None


def input_problem(path: Path | str, flag: str, what: str = "a file (JSON lines)") -> str | None:
    """Why ``path`` cannot be read as a file (None: it can). '-' (stdin) is always fine;
    ``what`` says what to give instead of a directory."""
    if str(path) == "-":
        return None
    p = Path(path)
    if p.is_dir():
        return f"{flag} {p}: is a directory; give {what}"
    if not p.exists():
        return f"{flag} {p}: no such file"
    if not os.access(p, os.R_OK):
        return f"{flag} {p}: not readable (permissions)"
    return None


def rules_problem(path: Path | str, flag: str = "--rules") -> str | None:
    """Why ``path`` is not a rules directory (None: it is one)."""
    p = Path(path)
    if p.is_file():
        return (f"{flag} {p}: is a file; give the rules directory that holds it "
                f"({p.parent}: sources.yaml, limits.yaml and the rule files together)")
    if not p.is_dir():
        from hub.settings import Settings

        shipped = Settings().rules_dir  # the default rules, wherever the command runs from
        return (f"{flag} {p}: no such directory (from {Path.cwd()}); give the rules directory, "
                f"e.g. {shipped}, or leave {flag} out for those")
    # The rule loader (hub/core) reads every *.yaml and *.yml as UTF-8 text: name the one it
    # could not read here, rather than let it raise IsADirectoryError or UnicodeDecodeError.
    for file in sorted([*p.glob("*.yaml"), *p.glob("*.yml")]):
        if file.is_dir():
            return (f"{flag} {p}: {file.name} is a directory; the rule files (*.yaml) must be "
                    "files: rename or move it")
        problem = utf8_problem(file, flag)
        if problem:
            return problem
    return None


def utf8_problem(path: Path | str, flag: str) -> str | None:
    """Why ``path`` is not UTF-8 text (None: it is, or it cannot be opened: other checks say
    why). The config and label files are read as UTF-8; a file saved as GBK would otherwise end
    the command in a UnicodeDecodeError traceback."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 16):
                pending = len(decoder.getstate()[0])  # bytes of a character split by the read
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    return _not_utf8(path, flag, offset - pending + exc.start)
                offset += len(chunk)
            pending = len(decoder.getstate()[0])
            if pending:
                return _not_utf8(path, flag, offset - pending)
    except OSError:
        return None
    return None


def _not_utf8(path: Path | str, flag: str, at: int) -> str:
    """The message, with the line the bad byte is on (counted again: only on this error)."""
    line = 1
    with open(path, "rb") as handle:
        done = 0
        while done < at and (chunk := handle.read(min(1 << 16, at - done))):
            line += chunk.count(b"\n")
            done += len(chunk)
    return f"{flag} {path}:{line}: not UTF-8 text (byte {at}); save it as UTF-8"


def first_problem(*problems: str | None) -> str | None:
    """The first non-None problem message, so a command reports one actionable error at a time."""
    return next((p for p in problems if p), None)
