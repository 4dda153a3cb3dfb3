"""SIGTERM reaches the worker while its main thread is blocked in librdkafka (hub/runtime/
stop_signals.py): the stop is requested at once and the process is gone at the deadline.

Each case runs in a child process: installing the handler blocks the signals for good."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent("""
    import sys, time
    from hub.runtime.stop_signals import StopSignals
    signals = StopSignals(deadline_s=2.0)
    signals.install()
    from hub.adapters.kafka import Consumer, TopicPartition
    if sys.argv[1] == "early":  # the signal comes before the worker says what a stop does
        print("ready", flush=True)
        signals.requested.wait(10)
    signals.on_stop(lambda: print("stop requested", flush=True))
    # Nothing listens on port 1: committed() blocks in C for its whole timeout, as it did
    # in a rebalance callback with the broker gone.
    consumer = Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g", "log_level": 0})
    if sys.argv[1] == "blocked":
        print("ready", flush=True)
    try:
        consumer.committed([TopicPartition("t", 0)], timeout=30)
    except Exception:
        pass
    print("the call returned", flush=True)
""")


def _stop_child(case: str) -> tuple[list[str], int, float]:
    with subprocess.Popen([sys.executable, "-c", CHILD, case], stdout=subprocess.PIPE,
                          text=True) as child:
        assert child.stdout is not None
        try:
            assert child.stdout.readline().strip() == "ready"
            time.sleep(0.5)
            began = time.monotonic()
            child.send_signal(signal.SIGTERM)
            lines = child.stdout.read().splitlines()
            child.wait(timeout=60)
            return lines, child.returncode, time.monotonic() - began
        finally:
            if child.poll() is None:
                child.kill()


def test_a_sigterm_is_seen_while_librdkafka_blocks_the_main_thread() -> None:
    lines, status, took = _stop_child("blocked")
    assert lines == ["stop requested"]  # at once, not after the call returned
    assert status == 0
    assert took < 15, f"exited after {took:.1f}s; the blocked call lasts 30 s"


def test_a_sigterm_before_the_worker_runs_stops_it_when_it_starts() -> None:
    lines, status, took = _stop_child("early")
    assert lines == ["stop requested"]
    assert status == 0
    assert took < 15, f"exited after {took:.1f}s"
