"""Refuse a commit message whose subject (first line) is over 72 characters or empty.

`git log --oneline` is the project's history as a reader sees it: one line per change, whole
on an 80-column terminal. pre-commit runs this as a commit-msg hook
(.pre-commit-config.yaml; `pre-commit install --hook-type commit-msg`).
"""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT = 72


def subject_problem(message: str) -> str | None:
    """What is wrong with the message's subject line, or None. Comment lines (``#``, as git
    writes them into the editor) are not part of the message."""
    lines = [ln for ln in message.splitlines() if not ln.startswith("#")]
    subject = lines[0].rstrip() if lines else ""
    if not subject:
        return "the subject (first line) is empty; say in one line what changed"
    if len(subject) > LIMIT:
        return (f"the subject is {len(subject)} characters, over {LIMIT}: say what changed in "
                f"one shorter line; the why and the figures go in the body "
                f"(after a blank line)\n  {subject}")
    return None


def main(argv: list[str]) -> int:
    """The hook's entry: exit 1 with the problem on stderr, so git keeps the message file."""
    if len(argv) != 2:
        print("usage: commit_subject.py COMMIT_MSG_FILE", file=sys.stderr)
        return 2
    problem = subject_problem(Path(argv[1]).read_text(encoding="utf-8", errors="replace"))
    if problem is None:
        return 0
    print(f"commit message: {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
