"""Whether anything listens at the bootstrap addresses, asked before a one-shot command waits out
librdkafka's metadata timeout.

``hub topics list`` with the stack down used to wait 15 s and then say that Kafka did not answer.
A refused TCP connection is known at once: when every bootstrap address refuses, the command can
say so in a second. Anything else (an address that accepts, a timeout, a name that does not
resolve here but might for librdkafka) is left to the client, which knows Kafka.
"""

from __future__ import annotations

import socket

#: librdkafka's port when a bootstrap entry names none
DEFAULT_PORT = 9092
#: the fix said after every "Kafka does not answer" of the hub's tools
START_IT = "; start it (`hub stack up`) or point HUB_BOOTSTRAP / --bootstrap at it"


def not_answering(bootstrap: str | None, why: object) -> str:
    """The one wording of "Kafka is not there" for every command, with the fix: operators grep
    for one sentence, not three."""
    where = f" at {bootstrap}" if bootstrap else ""
    return f"Kafka{where} does not answer ({why}){START_IT}"


def _address(entry: str) -> tuple[str, int] | None:
    """``host:port`` of one bootstrap entry (``PLAINTEXT://`` prefix, ``[v6]:port`` and a bare
    host taken as librdkafka takes them); None if it cannot be read."""
    entry = entry.strip().rpartition("://")[2]
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    elif ":" not in entry:
        host, port = entry, ""
    else:
        return None
    if not host or (port and not port.isdigit()):
        return None
    return host, int(port) if port else DEFAULT_PORT


def refused_by_all(bootstrap: str, timeout: float = 1.0) -> str | None:
    """``"connection refused at a:1, b:2"`` when every bootstrap address refuses a TCP
    connection; None when one accepts, or cannot be judged (a timeout, an unreadable entry)."""
    refused: list[str] = []
    for entry in bootstrap.split(","):
        address = _address(entry)
        if address is None:
            return None
        try:
            with socket.create_connection(address, timeout=timeout):
                return None
        except ConnectionRefusedError:
            refused.append(f"{address[0]}:{address[1]}")
        except OSError:
            return None
    return f"connection refused at {', '.join(refused)}" if refused else None
