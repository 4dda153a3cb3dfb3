"""Every command fails with one line and the documented exit status (README, "Exit status"):
0 ok, 1 bad input or failed delivery, 2 usage or a missing/unusable file, 3 not ready.

Each case runs the real command in a subprocess and checks its last stderr line and status; no
traceback may appear. None needs a broker: an unreachable one is 127.0.0.1:1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hub.commands.worker_cmd import resolve_worker_id
from hub.settings import Settings

REPO = Path(__file__).resolve().parents[3]
SCENARIO = REPO / "samples" / "scenario.jsonl"
RULES = REPO / "topology" / "rules"


#: No case may reach the Kafka, Redis or metrics port of a stack running on this machine, even
#: when the check it tests is missing and the command goes on to run.
SAFE_ENV = {"HUB_BOOTSTRAP": "127.0.0.1:1", "HUB_REDIS_URL": "redis://127.0.0.1:1/0",
            "HUB_WEB_PORT": "0"}


def hub(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, input=stdin,
                          env={**os.environ, **SAFE_ENV, **(env or {})})


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    return lines[-1] if lines else ""


@pytest.mark.parametrize(("make_args", "status", "message"), [
    (lambda d: ["correlate", "--in", str(SCENARIO), "--out", str(d)], 2,
     "hub correlate: --out {d}: is a directory; give a file path"),
    (lambda d: ["correlate", "--in", str(SCENARIO), "--out", str(d / "no" / "x.jsonl")], 2,
     "hub correlate: --out {d}/no/x.jsonl: directory {d}/no does not exist; create it first"),
    (lambda d: ["correlate", "--in", str(SCENARIO), "--out", str(d / "o.jsonl"),
                "--rejected", str(d)], 2, "hub correlate: --rejected {d}: is a directory"),
    (lambda d: ["correlate", "--in", str(d), "--out", str(d / "o.jsonl")], 2,
     "hub correlate: --in {d}: is a directory; give a file (JSON lines)"),
    (lambda d: ["correlate", "--in", str(d / "none.jsonl")], 2,
     "hub correlate: --in {d}/none.jsonl: no such file"),
    (lambda d: ["correlate", "--rules", str(RULES / "access.yaml"), "--in", str(SCENARIO)], 2,
     f"hub correlate: --rules {RULES / 'access.yaml'}: is a file; give the rules directory"),
    (lambda d: ["simulate", "--buildings", "2", "--days", "1", "--out", str(d)], 2,
     "hub simulate: --out {d}: is a directory"),
    (lambda d: ["simulate", "--buildings", "2", "--days", "1", "--out", str(d / "e.jsonl"),
                "--labels", str(d)], 2, "hub simulate: --labels {d}: is a directory"),
    (lambda d: ["simulate", "--buildings", "2", "--days", "1", "--seed", "-1", "--out",
                str(d / "e.jsonl")], 2, "hub simulate: --seed -1: give a whole number >= 0"),
    (lambda d: ["simulate", "--buildings", "2", "--days", "1", "--situations-per-rule", "0",
                "--out", str(d / "e.jsonl")], 2,
     "hub simulate: --situations-per-rule 0: give 1-50 (--no-inject for none)"),
    (lambda d: ["record", "hub.incidents", "--out", str(d), "--max", "1"], 2,
     "hub record: --out {d}: is a directory"),
    (lambda d: ["evaluate", "--expected", str(d / "l.jsonl"), "--actual", str(SCENARIO)], 2,
     "hub evaluate: --expected {d}/l.jsonl: no such file"),
    (lambda d: ["produce", str(d / "none.jsonl")], 2,
     "hub produce: cannot read {d}/none.jsonl: No such file or directory"),
    (lambda d: ["worker", "--no-supervise", "--rules", str(d / "none")], 2,
     "hub worker: --rules {d}/none: no such directory"),
])
def test_bad_paths_are_one_line_and_status_2(tmp_path: Path, make_args, status: int,
                                             message: str) -> None:
    result = hub(*make_args(tmp_path))
    assert result.returncode == status, result.stderr
    assert last_line(result).startswith(message.format(d=tmp_path)), result.stderr
    assert not (tmp_path / "e.jsonl").exists()  # simulate checked --labels before writing


def test_no_broker_is_status_3_in_one_line_without_librdkafka_noise(tmp_path: Path) -> None:
    for args in (["consume", "hub.incidents", "--bootstrap", "127.0.0.1:1", "--timeout", "3"],
                 ["produce", str(SCENARIO), "--bootstrap", "127.0.0.1:1", "--timeout", "3"],
                 ["record", "hub.incidents", "--out", str(tmp_path / "r.avro"), "--max", "1",
                  "--bootstrap", "127.0.0.1:1"],
                 ["flush", "--wait", "0", "--bootstrap", "127.0.0.1:1"],
                 ["flush", "--wait", "5", "--bootstrap", "127.0.0.1:1"]):
        result = hub(*args)
        assert result.returncode == 3, result.stderr
        assert last_line(result).startswith(f"hub {args[0]}: Kafka at 127.0.0.1:1 does not "
                                            "answer (connection refused at 127.0.0.1:1)"), (
            result.stderr)  # known at once: not after librdkafka's metadata timeout
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "%3|" not in result.stderr and "FAIL" not in result.stderr


def test_verbose_shows_librdkafka_when_it_gets_to_try() -> None:
    """``-v`` shows librdkafka's own lines. A refused bootstrap is now said before librdkafka
    tries anything, so here one address listens (never answering: not Kafka) and one refuses,
    whose connection failures librdkafka logs."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        verbose = hub("-v", "consume", "hub.incidents", "--bootstrap",
                      f"127.0.0.1:{silent.getsockname()[1]},127.0.0.1:1", "--timeout", "3")
    assert verbose.returncode == 3, verbose.stderr
    assert "hub.kafka" in verbose.stderr, verbose.stderr  # -v shows librdkafka
    assert last_line(verbose).startswith("hub consume: Kafka at 127.0.0.1:"), verbose.stderr


def test_topics_without_kafka_is_one_line_without_librdkafka_noise() -> None:
    """Its AdminClient printed librdkafka's own '%3|...|FAIL|' lines before the error."""
    result = hub("topics", "list")  # HUB_BOOTSTRAP=127.0.0.1:1 (SAFE_ENV)
    assert result.returncode == 3, result.stderr
    assert last_line(result) == (
        f"hub topics list: {NOT_THERE}"), result.stderr  # at once, not after 15 s
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


#: what every command says when nothing listens at HUB_BOOTSTRAP=127.0.0.1:1 (SAFE_ENV)
NOT_THERE = ("Kafka at 127.0.0.1:1 does not answer (connection refused at 127.0.0.1:1); start it "
             "(`hub stack up`) or point HUB_BOOTSTRAP / --bootstrap at it")


@pytest.mark.parametrize("args", [
    ("topics", "list"), ("topics", "apply"), ("consume", "hub.incidents"), ("flush",),
    ("produce", "samples/scenario.jsonl"), ("replay", "--max", "samples/scenario.jsonl"),
    ("record", "hub.incidents", "--out", "{tmp}/out.avro", "--from-beginning"),
    ("analytics", "--live"),
])
def test_every_kafka_command_says_kafka_is_not_there_in_one_sentence(
        args: tuple[str, ...], tmp_path: Path) -> None:
    """Operators grep for one sentence: the admin commands used to say "cannot reach Kafka ...
    check HUB_BOOTSTRAP", the others "Kafka at ... does not answer", and `hub replay` printed
    librdkafka's connection failures, then exit 1 after its metadata timeout."""
    result = hub(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert result.returncode == 3, result.stderr
    assert last_line(result).startswith(f"hub {args[0]}"), result.stderr
    assert NOT_THERE in last_line(result), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_worker_takes_its_name_from_hub_worker_id() -> None:
    settings = Settings.from_env({"HUB_WORKER_ID": "hub-worker-1"})
    assert resolve_worker_id(None, settings) == "hub-worker-1"
    assert resolve_worker_id("w9", settings) == "w9"
    assert resolve_worker_id(None, Settings.from_env({})).count("-") >= 1


def test_config_files_that_are_missing_are_status_2(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    for args, prefix in ((["topics", "apply", "--file", str(missing)], "hub topics apply"),
                         (["casework", "--dispatch", str(missing)], "hub casework")):
        result = hub(*args)
        assert result.returncode == 2, result.stderr
        assert last_line(result) == f"{prefix}: {missing}: cannot read" + (
            " topics file" if args[0] == "topics" else "") + ": No such file or directory"


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("HUB_TICK_SECONDS", "abc", "hub flush: HUB_TICK_SECONDS='abc' is not a number"),
    ("HUB_KAFKA_PORT", "x", "hub flush: HUB_KAFKA_PORT='x' is not a port; use 1..65535"),
    ("HUB_EARLY_ALERTS", "ture", "hub flush: HUB_EARLY_ALERTS='ture' is not a boolean"),
])
def test_a_bad_hub_variable_is_one_line_and_status_2(variable: str, value: str,
                                                     message: str) -> None:
    result = hub("flush", "--wait", "0", env={variable: value})
    assert result.returncode == 2, result.stderr
    assert last_line(result).startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_bad_redis_url_is_status_2_before_anything_is_sent(tmp_path: Path) -> None:
    cards = tmp_path / "cards.jsonl"
    cards.write_text("{}\n")
    for args, prefix in ((["worker", "--no-supervise"], "hub worker: HUB_REDIS_URL='bad'"),
                         (["buildings", "load", str(cards)], "hub buildings: HUB_REDIS_URL='bad'")):
        result = hub(*args, env={"HUB_REDIS_URL": "bad"})
        assert result.returncode == 2, result.stderr
        assert last_line(result) == (f"{prefix} is not a Redis URL; use redis://host:port/db "
                                     "(rediss:// for TLS, unix:///path.sock)"), result.stderr
    result = hub("buildings", "load", str(cards), "--redis-url", "redis://h:x/0",
                 "--bootstrap", "127.0.0.1:1")
    assert result.returncode == 2, result.stderr
    assert last_line(result).startswith("hub buildings load: --redis-url='redis://h:x/0' is not "
                                        "a Redis URL; use redis://host:port/db"), result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["produce", str(SCENARIO), "--timeout", "-1"],
     "hub produce: error: argument --timeout: '-1': give a number of seconds greater than 0"),
    (["produce", str(SCENARIO), "--timeout", "nan"], "argument --timeout: 'nan': give a number"),
    (["produce", str(SCENARIO), "--timeout", "inf"], "argument --timeout: 'inf': give a number"),
    (["produce", str(SCENARIO), "--timeout", "0"], "argument --timeout: '0': give a number"),
    (["consume", "hub.incidents", "--timeout", "nan"], "argument --timeout: 'nan': give a"),
    (["consume", "hub.incidents", "--timeout", "-5"], "argument --timeout: '-5': give a"),
    (["replay", str(SCENARIO), "--speed", "nan"], "argument --speed: 'nan': give a number"),
    (["replay", str(SCENARIO), "--speed", "0"], "argument --speed: '0': give a number"),
    (["flush", "--wait", "nan"], "hub flush: error: argument --wait: 'nan': give a number"),
    (["consume", "hub.incidents", "--max", "0"],
     "hub consume: error: argument --max: '0': give a whole number of at least 1"),
    (["consume", "hub.incidents", "--max", "-3"], "argument --max: '-3': give a whole number"),
    (["record", "hub.incidents", "--max", "0", "--out", "x.avro"],
     "hub record: error: argument --max: '0': give a whole number of at least 1"),
])
def test_durations_and_speeds_out_of_range_are_usage_errors(args: list[str],
                                                            message: str) -> None:
    result = hub(*args, "--bootstrap", "127.0.0.1:1") if args[0] != "flush" else hub(*args)
    assert result.returncode == 2, result.stderr
    assert message in last_line(result), result.stderr


def test_a_busy_or_impossible_port_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    keys, accounts = tmp_path / "keys.json", tmp_path / "accounts.json"
    assert hub("gateway", "--keys", str(keys), "--add-key", "t").returncode == 0
    assert hub("console", "--accounts", str(accounts), "--add-account", "u", "--level", "GRID",
               "--code", "1", stdin="password1\n").returncode == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = str(busy.getsockname()[1])
        for args, flag in (
                (["gateway", "--keys", str(keys), "--bootstrap", "127.0.0.1:1"], "--port"),
                (["console", "--accounts", str(accounts)], "--port"),
                (["mqtt-bridge", "--url", "mqtt://127.0.0.1:1", "--bootstrap", "127.0.0.1:1"],
                 "--metrics-port")):
            result = hub(*args, flag, taken)
            assert result.returncode == 2, result.stderr
            assert last_line(result).startswith(f"hub {args[0]}: cannot "), result.stderr
            assert f"127.0.0.1:{taken} (Address already in use); pass {flag} with a free port" \
                in last_line(result), result.stderr
            # nothing reached for Kafka before the port was bound (the console's feed did)
            assert "Kafka" not in result.stderr and "hub.kafka" not in result.stderr, \
                result.stderr
            result = hub(*args, flag, "99999")
            assert result.returncode == 2, result.stderr
            assert last_line(result).endswith(f"argument {flag}: '99999' is not a port; use "
                                              "1..65535"), result.stderr
    result = hub("worker", "--no-supervise", "--metrics-port", "99999", timeout=30)
    assert result.returncode == 2, result.stderr
    assert last_line(result).endswith("'99999' is not a port; use 0..65535 (0: off)")


GBK = "区域: 西湖\n".encode("gbk")  # what a Windows editor in China saves by default


def _rules_copy(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    for file in RULES.iterdir():
        if file.is_file():
            (rules / file.name).write_bytes(file.read_bytes())
    return rules


def test_files_that_are_not_utf8_are_one_line_naming_them(tmp_path: Path) -> None:
    bad = tmp_path / "gbk.yaml"
    bad.write_bytes(GBK)
    rules = _rules_copy(tmp_path)
    (rules / "zz.yaml").write_bytes(GBK)
    out = tmp_path / "o.jsonl"
    for args, message in (
            (["gateway", "--keys", str(bad), "--bootstrap", "127.0.0.1:1"],
             f"hub gateway: {bad}: cannot read the gateway keys: not UTF-8 text; save it as "
             "UTF-8"),
            (["mqtt-bridge", "--config", str(bad), "--check"],
             f"hub mqtt-bridge: {bad}: not UTF-8 text; save it as UTF-8"),
            (["correlate", "--rules", str(rules), "--in", str(SCENARIO), "--out", str(out)],
             f"hub correlate: --rules {rules / 'zz.yaml'}:1: not UTF-8 text (byte 0); save it as "
             "UTF-8"),
            (["worker", "--no-supervise", "--rules", str(rules)],
             f"hub worker: --rules {rules / 'zz.yaml'}:1: not UTF-8 text (byte 0)"),
            (["analytics", "--config", str(bad), "--in", str(SCENARIO), "--out",
              str(tmp_path / "an")], f"hub analytics: --config {bad}:1: not UTF-8 text (byte 0)"),
            (["evaluate", "--expected", str(bad), "--actual", str(SCENARIO)],
             f"hub evaluate: --expected {bad}:1: not UTF-8 text (byte 0); save it as UTF-8")):
        result = hub(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert last_line(result).startswith(message), result.stderr
    assert not out.exists() and not (tmp_path / "an").exists()


def test_a_directory_named_like_a_rule_file_is_status_2(tmp_path: Path) -> None:
    rules = _rules_copy(tmp_path)
    (rules / "sub.yaml").mkdir()
    for args in (["correlate", "--rules", str(rules), "--in", str(SCENARIO), "--out",
                  str(tmp_path / "o.jsonl")], ["worker", "--rules", str(rules)]):
        result = hub(*args)
        assert result.returncode == 2, result.stderr
        assert last_line(result) == (f"hub {args[0]}: --rules {rules}: sub.yaml is a directory; "
                                     "the rule files (*.yaml) must be files: rename or move it")


def test_flush_without_kafka_is_status_3_in_one_line() -> None:
    for wait in ("0", "5"):
        result = hub("flush", "--wait", wait)  # HUB_BOOTSTRAP=127.0.0.1:1 (SAFE_ENV)
        assert result.returncode == 3, result.stderr
        assert last_line(result).startswith("hub flush: Kafka at 127.0.0.1:1 does not answer")
        assert last_line(result).endswith("; nothing was sent"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_output_that_fails_mid_way_is_one_line_and_status_1(tmp_path: Path) -> None:
    """A full disk shows only when written, after other output was: a failed delivery (1), not a
    usage error (2), which is checked before anything is written."""
    source = tmp_path / "in.jsonl"
    source.write_text(SCENARIO.read_text(encoding="utf-8") + '{"kind": "nope"}\n',
                      encoding="utf-8")
    out = tmp_path / "o.jsonl"
    result = hub("correlate", "--in", str(source), "--out", str(out), "--rejected", "/dev/full")
    assert result.returncode == 1, result.stderr
    assert last_line(result) == ("hub correlate: --rejected /dev/full: cannot write (No space "
                                 f"left on device); {out} was written, the rejected lines were "
                                 "not"), result.stderr
    result = hub("correlate", "--in", str(SCENARIO), "--out", "/dev/full")
    assert result.returncode == 1, result.stderr
    assert last_line(result) == ("hub correlate: --out /dev/full: cannot write (No space left on "
                                 "device); the incidents written so far are incomplete")


def test_usage_errors_of_add_key_replay_and_worker_are_status_2(tmp_path: Path) -> None:
    keys, broken = tmp_path / "keys.yaml", tmp_path / "broken.yaml"
    broken.write_text("keys: [\n  a: b\n", encoding="utf-8")
    for args, message in (
            (["gateway", "--keys", str(broken), "--add-key", "x"],
             f"hub gateway --add-key: {broken}: cannot read the gateway keys: while parsing"),
            (["gateway", "--keys", str(keys), "--add-key", "x", "--role", "BOSS"],
             f"hub gateway --add-key: {keys}: new key: field 'role': 'BOSS' is not a "
             "RequesterRole"),
            (["gateway", "--keys", str(keys), "--add-key", "x", "--kinds", "nope"],
             f"hub gateway --add-key: {keys}: new key: field 'kinds': nope unknown"),
            (["gateway", "--keys", str(keys), "--add-key", "x", "--vendors", "zz"],
             f"hub gateway --add-key: {keys}: new key: field 'vendors': zz unknown"),
            (["gateway", "--keys", str(tmp_path), "--add-key", "x"],
             f"hub gateway --add-key: --keys {tmp_path}: is a directory; give a file path"),
            (["replay", str(tmp_path), "--max", "--bootstrap", "127.0.0.1:1"],
             f"hub replay: FILE {tmp_path}: is a directory; give a recording (.avro) or a "
             ".jsonl file"),
            (["replay", str(keys), "--max", "--map", "hub.src.access_swipe=hub.incidents"],
             "hub replay: --map hub.src.access_swipe=hub.incidents: only the hub writes "
             "hub.incidents; map a recorded source topic to a source topic"),
            (["worker", "--no-supervise", "--loglevel", "garbage"],
             "hub worker: error: argument --loglevel: invalid choice: 'garbage'")):
        result = hub(*args, timeout=30)  # without the check the worker would start
        assert result.returncode == 2, (args, result.stderr)
        assert last_line(result).startswith(message), result.stderr
    assert not keys.exists()


@pytest.mark.parametrize("command", ["simulate", "correlate"])
def test_a_reader_that_goes_away_stops_the_output_without_a_traceback(
        command: str, tmp_path: Path) -> None:
    """`hub simulate --out - | head`: stdout closes under the command (it used to raise
    BrokenPipeError out of main); exit 141 as a shell reports for `cat`, one line on stderr.
    `hub correlate --out - | head` said "cannot write (Broken pipe)", status 1."""
    city = ["--buildings", "60", "--days", "2", "--situations-per-rule", "15"]
    if command == "correlate":  # ~220 kB of incidents: more than a pipe holds
        assert hub("simulate", *city, "--out", str(tmp_path / "city.jsonl")).returncode == 0
        args = ["correlate", "--in", str(tmp_path / "city.jsonl"), "--out", "-"]
    else:
        args = ["simulate", *city, "--out", "-"]
    proc = subprocess.Popen([sys.executable, "-m", "hub", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **SAFE_ENV})
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err.strip().splitlines()[-1] == (f"hub {command}: stdout was closed (broken pipe); "
                                            "output stopped there"), err


@pytest.mark.parametrize("command", [
    ["consume", "hub.incidents"], ["produce", str(SCENARIO)], ["flush"],
    ["record", "hub.incidents", "--out", "unused.avro"], ["replay", "unused.avro"],
    ["buildings", "load", "unused.csv"], ["gateway"], ["mqtt-bridge"],
])
def test_a_broker_list_with_a_space_is_a_usage_error_naming_bootstrap(command: list[str]) -> None:
    """Before: a blank entry waited out the metadata timeout, then said no broker answered."""
    result = hub(*command, "--bootstrap", "127.0.0.1:1, 127.0.0.1:2", timeout=30)
    assert result.returncode == 2, result.stderr
    assert last_line(result).endswith(
        "error: argument --bootstrap: '127.0.0.1:1, 127.0.0.1:2' is not a list of brokers; "
        "use host:port, comma-separated without spaces (e.g. 127.0.0.1:9092)")


def test_hub_bootstrap_with_a_blank_entry_stops_any_command_naming_it() -> None:
    result = hub("topics", "list", env={"HUB_BOOTSTRAP": "127.0.0.1:1,"}, timeout=30)
    assert result.returncode == 2, result.stderr
    assert last_line(result) == ("hub topics: HUB_BOOTSTRAP='127.0.0.1:1,' is not a list of "
                                 "brokers; use host:port, comma-separated without spaces (e.g. "
                                 "127.0.0.1:9092)")


def test_a_full_disk_under_simulate_is_one_line_not_a_traceback() -> None:
    """/dev/full refuses every write as a full disk does: OSError out of main before."""
    result = hub("simulate", "--buildings", "2", "--days", "1", "--out", "/dev/full")
    assert result.returncode == 1, result.stderr
    assert last_line(result) == ("hub simulate: --out /dev/full: cannot write (No space left on "
                                 "device); the lines written so far are incomplete"), result.stderr
    assert "Traceback" not in result.stderr
