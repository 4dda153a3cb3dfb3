"""paths.utf8_problem: names the first byte that is not UTF-8, also across its read chunks."""

from __future__ import annotations

from pathlib import Path

from hub.commands.paths import directory_problem, output_problem, same_file_problem, utf8_problem


def test_utf8_text_is_fine_and_the_first_bad_byte_is_named(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_bytes("中".encode() * 40_000)  # 120,000 bytes: characters split by the 64 KiB reads
    assert utf8_problem(f, "--config") is None
    f.write_bytes("中".encode() * 40_000 + b"\xe4")  # a character cut off at the end
    assert utf8_problem(f, "--config") == (f"--config {f}:1: not UTF-8 text (byte 120000); save "
                                           "it as UTF-8")
    f.write_bytes(b"a: 1\nb: 2\nab" + "西湖".encode("gbk"))  # the line, for an editor to go to
    assert utf8_problem(f, "--config") == (f"--config {f}:3: not UTF-8 text (byte 12); save it "
                                           "as UTF-8")
    assert utf8_problem(tmp_path / "none", "--config") is None  # input_problem says why


def test_an_output_that_is_also_an_input_is_refused_before_anything_is_written(
        tmp_path: Path) -> None:
    """`hub correlate --in x --out x` truncated x before reading a line and said "0 lines",
    status 0; `hub simulate --out x --labels x` kept only the labels."""
    city = tmp_path / "city.jsonl"
    city.write_text('{"kind": "x"}\n')
    link = tmp_path / "link.jsonl"
    link.symlink_to(city)
    for other in (city, link, tmp_path / "." / "city.jsonl"):
        problem = same_file_problem((city, "--in"), (other, "--out"))
        assert problem is not None and problem.startswith(f"--out {other}: is the same file as "
                                                          f"--in {city}"), problem
    assert same_file_problem((tmp_path / "a", "--out"), (tmp_path / "a", "--labels")) is not None
    assert same_file_problem((city, "--in"), (tmp_path / "out.jsonl", "--out"), (None, "--x"),
                             ("-", "--y"), ("-", "--z")) is None
    assert city.read_text() == '{"kind": "x"}\n'


def test_outputs_that_cannot_be_made_are_named_before_the_run(tmp_path: Path) -> None:
    """A dangling link into a missing directory, a directory that refuses new files (/proc
    does, whatever its mode) ended in a FileNotFoundError traceback after the work was done."""
    dangling = tmp_path / "dangling.out"
    dangling.symlink_to(tmp_path / "missing" / "target")
    problem = output_problem(dangling, "--out")
    assert problem is not None and "whose directory does not exist" in problem, problem
    writable_link = tmp_path / "later.out"
    writable_link.symlink_to(tmp_path / "target.jsonl")  # its target is made when written
    assert output_problem(writable_link, "--out") is None
    assert not (tmp_path / "target.jsonl").exists()
    proc = output_problem("/proc/hub-test.jsonl", "--out")
    assert proc is not None and "cannot be created" in proc, proc
    assert directory_problem("/proc/hub-test-dir", "--out") is not None
    fine = tmp_path / "new.jsonl"
    assert output_problem(fine, "--out") is None and not fine.exists()  # the probe is removed
    assert directory_problem(tmp_path / "newdir", "--out") is None
    assert not (tmp_path / "newdir").exists()
