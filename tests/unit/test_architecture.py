"""The folder tree is the architecture: these imports keep it so (see docs/architecture.md).

It sits at the top of tests/unit, not in a package's folder, because it checks all of hub/ (and
connectors/) at once; every other unit test lives in the folder of the hub/ package it tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HUB = Path(__file__).resolve().parents[2] / "hub"
IO_LIBRARIES = {"faust", "mode", "confluent_kafka", "aiokafka", "redis", "fastavro",
                "prometheus_client"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0] if not node.module.startswith("hub.")
                      else node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((HUB / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", ["core", "model"])
def test_pure_layers_import_no_io_library(folder: str) -> None:
    for path in _modules(folder):
        bad = _imports(path) & IO_LIBRARIES
        assert not bad, f"{path.relative_to(HUB)} imports {sorted(bad)}: keep hub/{folder} pure"


@pytest.mark.parametrize("folder", ["core", "model"])
def test_pure_layers_do_not_reach_outwards(folder: str) -> None:
    outer = ("hub.codec", "hub.adapters", "hub.runtime", "hub.replay", "hub.offline",
             "hub.stack", "hub.commands", "hub.cli", "hub.settings")
    for path in _modules(folder):
        bad = [m for m in _imports(path) if m.startswith(outer)]
        assert not bad, f"{path.relative_to(HUB)} imports {bad}: dependencies point inwards"


#: The only modules outside hub/casework that may import Faust: the live analytics' agent
#: (docs/adr/0008). Its logic stays in hub/online/analytics.py, which imports no Kafka client.
FAUST_MODULES = (HUB / "online" / "analytics_app.py",)


def test_faust_only_in_the_casework_service_and_the_live_analytics_app() -> None:
    """Faust runs the low-volume casework (hub/casework, docs/adr/0007) and the live area
    analytics (hub/online/analytics_app.py, docs/adr/0008), nothing else."""
    for path in sorted(HUB.rglob("*.py")):
        if path.is_relative_to(HUB / "casework") or path in FAUST_MODULES:
            continue
        found = _imports(path) & {"faust", "mode"}
        assert not found, (f"{path.relative_to(HUB)} imports {sorted(found)} outside hub/casework "
                           "and hub/online/analytics_app.py")


def test_the_live_analytics_logic_imports_no_kafka_client() -> None:
    """One logic, two drivers: what the live driver does is pure; only its app touches Kafka."""
    found = _imports(HUB / "online" / "analytics.py") & IO_LIBRARIES
    assert not found, f"online/analytics.py imports {sorted(found)}"


def test_environment_read_only_in_settings() -> None:
    for path in sorted(HUB.rglob("*.py")):
        if path.name == "settings.py" and path.parent == HUB:
            continue
        text = path.read_text(encoding="utf-8")
        assert "os.environ[" not in text and "os.getenv(" not in text and (
            "environ.get(" not in text
        ), f"{path.relative_to(HUB)} reads the environment; add a field to hub/settings.py"


#: Attributes of Faust's and aiokafka's insides that the worker once reached into (the offset
#: continuity guard and the watchdog, gone since ADR 0005). Nothing in hub/ may touch them.
PRIVATE_CLIENT_ATTRIBUTES = ("_committed_offset", "_acked", "_acked_index", "_gap", "_client",
                             "_md_synchronizer", "_fetcher", "_subscription", "_coordinator",
                             "_read_offset", "_pending_offsets")


def test_no_private_faust_or_aiokafka_state_is_touched() -> None:
    for path in sorted(HUB.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = sorted({node.attr for node in ast.walk(tree)
                        if isinstance(node, ast.Attribute)
                        and node.attr in PRIVATE_CLIENT_ATTRIBUTES})
        assert not found, f"{path.relative_to(HUB)} touches {found}: use the public API"


def test_the_worker_does_not_import_faust_or_aiokafka() -> None:
    """The worker's data path is one confluent-kafka transactional loop (docs/adr/0005)."""
    for path in sorted((HUB / "runtime").rglob("*.py")):
        found = _imports(path) & {"faust", "aiokafka"}
        assert not found, f"{path.relative_to(HUB)} imports {sorted(found)}"


#: Where Kafka is touched: the one package that imports a Kafka client library and makes clients.
KAFKA_BOUNDARY = HUB / "adapters" / "kafka"
CONNECTORS = HUB.parent / "connectors"
KAFKA_LIBRARIES = {"confluent_kafka", "aiokafka"}
CLIENT_CLASSES = {"Producer", "Consumer", "AdminClient", "AIOKafkaProducer", "AIOKafkaConsumer"}


def _product_modules() -> list[Path]:
    return sorted([*HUB.rglob("*.py"), *CONNECTORS.rglob("*.py")])


def test_kafka_libraries_are_imported_only_in_the_kafka_boundary() -> None:
    """hub/adapters/kafka/ makes every client and re-exports the names others need; Faust (in
    hub/casework and hub/online/analytics_app.py) brings its own aiokafka, never imported here."""
    for path in _product_modules():
        if path.is_relative_to(KAFKA_BOUNDARY):
            continue
        found = _imports(path) & KAFKA_LIBRARIES
        assert not found, (f"{path.relative_to(HUB.parent)} imports {sorted(found)}: import the "
                           "names from hub.adapters.kafka (add a factory there if need be)")


def test_kafka_clients_are_made_only_in_the_kafka_boundary() -> None:
    """A client is built by a factory of hub/adapters/kafka from Settings, not ad hoc."""
    for path in _product_modules():
        if path.is_relative_to(KAFKA_BOUNDARY):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        made = sorted({name for node in ast.walk(tree) if isinstance(node, ast.Call)
                       for name in [getattr(node.func, "id", getattr(node.func, "attr", ""))]
                       if name in CLIENT_CLASSES})
        assert not made, (f"{path.relative_to(HUB.parent)} constructs {made}: use a factory of "
                          "hub.adapters.kafka")


#: Longest a module of hub/ may be (issue 15: one job per module; split along its seams).
MAX_MODULE_LINES = 500


def test_no_module_is_longer_than_500_lines() -> None:
    """A module past this does several jobs: split it (pipeline.py passed it unseen once)."""
    long = {str(p.relative_to(HUB.parent)): n for p in HUB.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"
