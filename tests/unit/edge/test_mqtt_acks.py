"""The acknowledgement order of ``hub mqtt-bridge`` (hub.edge.mqtt_acks)."""

from __future__ import annotations

from hub.edge.mqtt_acks import AckOrder


def test_acks_leave_in_arrival_order_and_not_after_a_reset() -> None:
    order = AckOrder()
    t1, t2 = order.received(11, 1), order.received(12, 1)
    t0 = order.received(99, 0)  # QoS 0: nothing to answer, never waits
    t3 = order.received(13, 1)
    assert order.settle(t0) == []
    assert order.settle(t2) == []  # waits for 11
    assert order.settle(t1) == [(11, 1), (12, 1)]
    assert len(order) == 1
    assert order.reset() == 1
    assert order.settle(t3) == []  # its connection is gone: the broker sends it again
