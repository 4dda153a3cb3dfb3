"""The shared argparse types refuse what would hang, spin or raise later: nan, inf, 0, negatives,
ports outside 1..65535."""

from __future__ import annotations

import argparse

import pytest

from hub.commands.argtypes import (
    port,
    port_or_off,
    positive_factor,
    positive_seconds,
    seconds_or_zero,
)


@pytest.mark.parametrize("text", ["0", "-1", "-5", "nan", "inf", "-inf", "x", ""])
def test_positive_seconds_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"seconds greater than 0|not a number"):
        positive_seconds(text)


@pytest.mark.parametrize("text", ["-1", "nan", "inf", "x"])
def test_seconds_or_zero_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        seconds_or_zero(text)


@pytest.mark.parametrize("text", ["0", "-2", "nan", "inf"])
def test_positive_factor_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="greater than 0"):
        positive_factor(text)


def test_good_numbers_are_taken() -> None:
    assert positive_seconds("0.5") == 0.5 and positive_seconds("3") == 3.0
    assert seconds_or_zero("0") == 0.0 and positive_factor("10") == 10.0
    assert port("1") == 1 and port("65535") == 65535 and port_or_off("0") == 0


@pytest.mark.parametrize(("parse", "text"), [(port, "0"), (port, "99999"), (port, "-1"),
                                             (port, "http"), (port_or_off, "65536")])
def test_ports_outside_the_range_are_refused(parse: object, text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"is not a port; use [01]\.\.65535"):
        parse(text)  # type: ignore[operator]
