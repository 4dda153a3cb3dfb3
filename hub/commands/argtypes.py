"""argparse ``type=`` callables for the numbers several commands take: a port, a duration, a speed.

A value out of range is refused while the flags are parsed, as argparse refuses a wrong flag:
one line ``hub <command>: error: argument <flag>: <why>`` and exit 2 (README, "Exit status"),
before anything is read, written or sent. Left to the commands, ``nan`` seconds waited forever,
``-1`` raised deep in the Kafka client and a port of 99999 raised OverflowError at bind time.
"""

from __future__ import annotations

import argparse
import math


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def positive_seconds(text: str) -> float:
    """Seconds that must pass before something happens: finite and greater than 0."""
    value = _number(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds greater than 0")
    return value


def seconds_or_zero(text: str) -> float:
    """Seconds to wait where 0 means "do not wait": finite and not negative."""
    value = _number(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds, 0 or more")
    return value


def positive_factor(text: str) -> float:
    """A multiplier such as a replay speed: finite and greater than 0."""
    value = _number(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number greater than 0")
    return value


def positive_count(text: str) -> int:
    """How many of something, such as ``--max N`` messages: a whole number of at least 1
    (``hub consume --max 0`` printed nothing and said nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of at least 1")
    return value


def port(text: str) -> int:
    """A TCP port to listen on: 1..65535."""
    return _port(text, 1)


def port_or_off(text: str) -> int:
    """A TCP port to listen on, or 0 for "do not listen": 0..65535."""
    return _port(text, 0)


def _port(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not low <= value <= 65535:
        off = " (0: off)" if low == 0 else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not a port; use {low}..65535{off}")
    return value


def brokers(text: str) -> str:
    """A Kafka broker list (``--bootstrap``): no blank entry, no space (hub.settings)."""
    from hub.settings import SettingsError, check_bootstrap

    try:
        check_bootstrap("--bootstrap", text)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--bootstrap=")) from None
    return text


def add_bootstrap(parser: argparse.ArgumentParser) -> None:
    """The ``--bootstrap`` flag every Kafka-using command takes, said once so its check and help
    cannot drift apart between commands."""
    parser.add_argument("--bootstrap", type=brokers,
                        help="Kafka bootstrap servers (default: HUB_BOOTSTRAP)")
