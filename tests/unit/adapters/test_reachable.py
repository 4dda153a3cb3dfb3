"""hub/adapters/kafka/reachable.py: a refused bootstrap is known at once; anything else is left
to librdkafka. Real sockets on 127.0.0.1, no Kafka."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from hub.adapters.kafka.admin import KafkaAdminError, admin_client
from hub.adapters.kafka.reachable import _address, refused_by_all


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when the block ends: nothing listens there


def test_every_address_refusing_is_said_naming_them() -> None:
    a, b = closed_port(), closed_port()
    assert refused_by_all(f"127.0.0.1:{a},127.0.0.1:{b}") == (
        f"connection refused at 127.0.0.1:{a}, 127.0.0.1:{b}")


def test_one_address_listening_is_enough(listening: int) -> None:
    assert refused_by_all(f"127.0.0.1:{closed_port()},127.0.0.1:{listening}") is None


def test_an_entry_it_cannot_read_is_left_to_the_client() -> None:
    assert refused_by_all(f"127.0.0.1:{closed_port()},a:b:c") is None


@pytest.mark.parametrize(("entry", "address"), [
    ("h:1", ("h", 1)), ("PLAINTEXT://h:2", ("h", 2)), ("[::1]:3", ("::1", 3)), ("h", ("h", 9092)),
    ("[::1]", ("::1", 9092)), ("h:x", None), (":1", None), ("a:b:c", None),
])
def test_bootstrap_entries_are_read_as_librdkafka_reads_them(
        entry: str, address: tuple[str, int] | None) -> None:
    assert _address(entry) == address


def test_a_one_shot_admin_client_says_a_refused_bootstrap_at_once() -> None:
    port = closed_port()
    with pytest.raises(KafkaAdminError, match=(
            rf"Kafka at 127\.0\.0\.1:{port} does not answer \(connection refused at "
            rf"127\.0\.0\.1:{port}\); start it \(`hub stack up`\) or point HUB_BOOTSTRAP / "
            r"--bootstrap at it")):
        admin_client(f"127.0.0.1:{port}", fail_fast=True)


def test_an_admin_client_that_may_wait_is_made_while_kafka_is_away() -> None:
    """The worker's: it waits for Kafka (hub.runtime.app), so no probe refuses it."""
    assert admin_client(f"127.0.0.1:{closed_port()}") is not None
