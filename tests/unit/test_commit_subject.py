"""scripts/commit_subject.py, the commit-msg hook: `git log --oneline` stays one line per change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "commit_subject.py"


def run(tmp_path: Path, message: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "COMMIT_EDITMSG"
    path.write_text(message, encoding="utf-8")
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True,
                          text=True, timeout=30)


@pytest.mark.parametrize("subject", ["x" * 72, "cards: CardFileError carries its line", "楼" * 72])
def test_a_subject_of_72_characters_or_fewer_passes(tmp_path: Path, subject: str) -> None:
    done = run(tmp_path, f"{subject}\n\nThe why, and figures, at any length: {'y' * 200}\n")
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(("message", "says"), [
    ("x" * 73 + "\n", "the subject is 73 characters, over 72"),
    ("楼" * 73, "the subject is 73 characters"),
    ("\n\nbody only\n", "the subject (first line) is empty"),
    ("# Please enter the commit message\n", "the subject (first line) is empty"),
])
def test_a_long_or_empty_subject_is_refused_naming_the_fix(tmp_path: Path, message: str,
                                                           says: str) -> None:
    done = run(tmp_path, message)
    assert done.returncode == 1
    assert says in done.stderr


def test_gits_comment_lines_are_not_the_subject(tmp_path: Path) -> None:
    done = run(tmp_path, "# git's help text, longer than seventy-two characters, is not a subject\n"
                         "fix: short\n")
    assert done.returncode == 0, done.stderr
