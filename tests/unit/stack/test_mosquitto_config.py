"""The generated Mosquitto config, without starting anything."""

from __future__ import annotations

from pathlib import Path

from hub.settings import Settings
from hub.stack.mosquitto import MosquittoPaths, render_mosquitto_conf
from hub.stack.status import ServiceStatus, StackStatus


def test_mosquitto_listens_on_loopback_with_persistence_in_the_state_dir(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", mqtt_port=11883)
    paths = MosquittoPaths.of(settings)
    lines = render_mosquitto_conf(settings, paths).splitlines()
    assert "listener 11883 127.0.0.1" in lines
    assert not any(line.startswith(("bind_address", "port ")) for line in lines)
    assert "persistence true" in lines
    assert f"persistence_location {tmp_path / 'state' / 'mosquitto' / 'data'}/" in lines
    assert paths.config.parent == tmp_path / "state" / "mosquitto"


def test_stack_is_ready_only_when_the_broker_is() -> None:
    up = ServiceStatus("kafka", 1, Path("/x"), pid=1, ready=True)
    down = ServiceStatus("mqtt", 3, Path("/x"))
    assert StackStatus(up, up).ready  # built without a broker: as before
    assert not StackStatus(up, up, down).ready
    assert len(StackStatus(up, up, down).lines()) == 3
