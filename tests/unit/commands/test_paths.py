"""paths.utf8_problem: names the first byte that is not UTF-8, also across its read chunks."""

from __future__ import annotations

from pathlib import Path

from hub.commands.paths import utf8_problem


def test_utf8_text_is_fine_and_the_first_bad_byte_is_named(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_bytes("中".encode() * 40_000)  # 120,000 bytes: characters split by the 64 KiB reads
    assert utf8_problem(f, "--config") is None
    f.write_bytes("中".encode() * 40_000 + b"\xe4")  # a character cut off at the end
    assert utf8_problem(f, "--config") == (f"--config {f}: not UTF-8 text (byte 120000); save "
                                           "it as UTF-8")
    f.write_bytes(b"ab" + "西湖".encode("gbk"))
    assert utf8_problem(f, "--config") == f"--config {f}: not UTF-8 text (byte 2); save it as UTF-8"
    assert utf8_problem(tmp_path / "none", "--config") is None  # input_problem says why
