"""The generated broker/Redis configs and the process bookkeeping, without starting anything."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hub.settings import Settings
from hub.stack import procs
from hub.stack.kafka import KafkaPaths, render_server_properties
from hub.stack.redis import RedisPaths, render_redis_conf


def _props(text: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state", kafka_port=19092, controller_port=19093, redis_port=16379
    )


def test_server_properties_bind_loopback_only(settings: Settings) -> None:
    props = _props(render_server_properties(settings, KafkaPaths.of(settings)))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    for key in ("listeners", "advertised.listeners", "controller.quorum.voters"):
        assert "0.0.0.0" not in props[key] and "localhost" not in props[key]


def test_server_properties_single_node_kraft(settings: Settings) -> None:
    props = _props(render_server_properties(settings, KafkaPaths.of(settings)))
    assert props["process.roles"] == "broker,controller"
    assert props["num.partitions"] == "4"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "default.replication.factor",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"
    assert Path(props["log.dirs"]).is_relative_to(settings.state_dir)


def test_kafka_paths_cache_jars_per_version(settings: Settings) -> None:
    paths = KafkaPaths.of(settings)
    assert paths.libs == settings.state_dir / "kafka" / "libs" / settings.kafka_version
    assert all(p.is_relative_to(settings.state_dir) for p in (paths.data, paths.logs, paths.config))


def test_redis_conf_loopback_own_dir(settings: Settings) -> None:
    paths = RedisPaths.of(settings)
    lines = render_redis_conf(settings, paths).splitlines()
    assert "bind 127.0.0.1" in lines
    assert "port 16379" in lines
    assert "protected-mode yes" in lines
    assert f"dir {paths.data}" in lines
    assert f"pidfile {paths.pidfile}" in lines
    assert paths.data.is_relative_to(settings.state_dir)


def test_pom_and_log_config_are_in_the_repo() -> None:
    from hub.stack.kafka import STACK_FILES

    pom = (STACK_FILES / "pom.xml").read_text()
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert "<artifactId>log4j-slf4j2-impl</artifactId>" in pom
    assert (STACK_FILES / "log4j2.xml").exists()


def test_read_pid(tmp_path: Path) -> None:
    f = tmp_path / "x.pid"
    assert procs.read_pid(f) is None
    f.write_text("123\n")
    assert procs.read_pid(f) == 123
    f.write_text("garbage")
    assert procs.read_pid(f) is None


def test_alive_and_cmdline_of_self_and_dead_child() -> None:
    assert procs.alive(os.getpid())
    assert any("python" in part or "pytest" in part for part in procs.cmdline(os.getpid()))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not procs.alive(child.pid)
    assert procs.cmdline(child.pid) == []


def test_spawn_and_stop(tmp_path: Path) -> None:
    pid = procs.spawn(
        [sys.executable, "-c", "import time; print('hi', flush=True); time.sleep(60)"],
        cwd_dir=tmp_path,
        log_file=tmp_path / "out.log",
    )
    assert procs.wait_for(lambda: "hi" in procs.tail(tmp_path / "out.log"), timeout=10)
    assert procs.cwd(pid) == tmp_path
    assert procs.stop(pid, timeout=5)
    assert not procs.alive(pid)


def test_port_open_and_owner() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        assert procs.port_open(port)
        assert procs.port_owner(port) == os.getpid()
        assert f"pid {os.getpid()}" in procs.describe_owner(port)
    assert not procs.port_open(port)


def test_port_owner_is_found_while_the_process_opens_and_closes_other_files() -> None:
    """CI once saw None here: an fd of the test process closed between listing and reading it,
    and the OSError skipped the whole process, listener included."""
    stop = threading.Event()
    # fds numbered below the listener's, closed and opened again and again: the scan lists
    # them open and finds some closed when it reads them, before it reaches the listener
    low = [os.open(os.devnull, os.O_RDONLY) for _ in range(20)]

    def churn() -> None:
        while not stop.is_set():
            for fd in low:
                os.close(fd)
            time.sleep(0.001)
            low[:] = [os.open(os.devnull, os.O_RDONLY) for _ in range(20)]
            time.sleep(0.001)

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        worker = threading.Thread(target=churn, daemon=True)
        worker.start()
        try:
            owners = {procs.port_owner(port) for _ in range(200)}
        finally:
            stop.set()
            worker.join()
            for fd in low:
                os.close(fd)
    assert owners == {os.getpid()}


def test_wait_for_gives_up() -> None:
    assert procs.wait_for(lambda: False, timeout=0.05, interval=0.01) is False
