"""docker-compose.yml cannot run here (no Docker engine), so this checks that it agrees with the
project: every `hub` command line it runs is one the CLI accepts, HUB_* names the hub actually
reads, ports and topic file the defaults use, the Kafka version we test against, healthchecks,
and the Prometheus scrape target."""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.adapters.topic_specs import load_topic_specs
from hub.cli import build_parser
from hub.settings import (
    ACTIONS_TOPIC,
    ANALYTICS_TOPICS,
    CASES_TOPIC,
    CORRELATE_TOPIC,
    DEADLETTER_TOPIC,
    INCIDENTS_TOPIC,
    LEVEL_TOPICS,
    REGISTRY_TOPIC,
    SOURCE_TOPICS,
    Settings,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = Settings()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "use the mapping form of environment: so names can be checked"
    return {k: str(v) for k, v in env.items()}


def _published(service: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """container port -> (host ip, host port)."""
    out = {}
    for spec in service.get("ports", []):
        ip, host, container = str(spec).split(":")
        out[int(container)] = (ip, int(host))
    return out


def _hub_commands(services: dict[str, Any]) -> dict[str, list[str]]:
    """service -> its ``hub ...`` command, and the image's default command."""
    commands = {name: [str(a) for a in svc["command"]] for name, svc in services.items()
                if isinstance(svc.get("command"), list) and svc["command"][:1] == ["hub"]}
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "deploy" / "Dockerfile").read_text(), re.M)
    assert cmd, "deploy/Dockerfile has no CMD in exec form"
    commands["deploy/Dockerfile CMD"] = yaml.safe_load(cmd.group(1))
    return commands


def test_every_hub_command_is_one_the_cli_has_with_the_flags_used(
        services: dict[str, Any]) -> None:
    """A renamed command or flag fails here, not when the container starts (and restarts)."""
    commands = _hub_commands(services)
    assert {"topic-init", "worker", "casework", "console"} <= set(commands), commands
    for where, argv in commands.items():
        assert argv[0] == "hub", where
        parser = build_parser(only=argv[1])
        try:
            args = parser.parse_args(argv[1:])
        except SystemExit:  # argparse said why on stderr
            pytest.fail(f"{where}: `{' '.join(argv)}` is not a valid hub command line")
        assert args.command == argv[1], where


def test_the_image_that_runs_hub_installs_the_hub_script(services: dict[str, Any]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["hub"] == "hub.cli:main"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "pip install -e ." in dockerfile and "COPY hub ./hub" in dockerfile
    built = services["topic-init"]
    assert built["build"]["dockerfile"] == "deploy/Dockerfile"
    for name in _hub_commands(services):
        if name in services:
            assert services[name]["image"] == built["image"], f"{name} runs another image"


def test_every_hub_variable_is_one_settings_reads(services: dict[str, Any]) -> None:
    known = set(Settings.env_names())
    for name, svc in services.items():
        for var in _env(svc):
            if var.startswith("HUB_"):
                assert var in known, f"{name}: {var} is not read by hub.settings.Settings"
    # And the values parse the way Settings would parse them.
    Settings.from_env({k: v for k, v in _env(services["worker"]).items() if "${" not in v})


def test_kafka_is_official_image_kraft_at_our_version(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    image, tag = kafka["image"].split(":")
    assert image == "apache/kafka"
    assert tag == DEFAULTS.kafka_version
    env = _env(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "CONTROLLER://:" in env["KAFKA_LISTENERS"]
    raw = env["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(raw + "==")) == 16, "CLUSTER_ID must be a Kafka Uuid"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # topic-init owns the topology
    assert env["KAFKA_NUM_PARTITIONS"] == "4"


def test_kafka_ports_match_defaults(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    env = _env(kafka)
    # The host sees the broker where `hub stack up` puts it: Settings().bootstrap.
    assert f"EXTERNAL://{DEFAULTS.bootstrap}" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert _published(kafka)[DEFAULTS.kafka_port] == ("127.0.0.1", DEFAULTS.kafka_port)
    assert f"@kafka:{DEFAULTS.controller_port}" in env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    # Containers use the INTERNAL listener, which is what HUB_BOOTSTRAP names.
    internal = re.search(r"INTERNAL://([^,]+)", env["KAFKA_ADVERTISED_LISTENERS"])
    assert internal
    for name in ("topic-init", "worker"):
        assert _env(services[name])["HUB_BOOTSTRAP"] == internal.group(1)


def test_redis_port_and_url(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert _published(redis)[DEFAULTS.redis_port] == ("127.0.0.1", DEFAULTS.redis_port)
    assert str(DEFAULTS.redis_port) in redis["command"]
    assert _env(services["worker"])["HUB_REDIS_URL"] == f"redis://redis:{DEFAULTS.redis_port}/0"


def test_published_ports_are_loopback_only(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for ip, _ in _published(svc).values():
            assert ip == "127.0.0.1", f"{name} publishes on {ip}"


def test_topic_init_applies_the_declared_topics(services: dict[str, Any]) -> None:
    init = services["topic-init"]
    assert init["command"] == ["hub", "topics", "apply"]
    assert init["restart"] == "no"
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    # The file it applies is the repository's topology/topics.yaml baked into the image ...
    topics_file = _env(init)["HUB_TOPICS_FILE"]
    assert topics_file == "/app/" + str(DEFAULTS.topics_file.relative_to(ROOT))
    dockerfile = (ROOT / init["build"]["dockerfile"]).read_text()
    assert "COPY topology ./topology" in dockerfile and "WORKDIR /app" in dockerfile
    # ... and that file declares exactly the topic names the code uses.
    names = {s.name for s in load_topic_specs(DEFAULTS.topics_file)}
    assert names == {
        *SOURCE_TOPICS.values(),
        *LEVEL_TOPICS.values(),
        REGISTRY_TOPIC,
        INCIDENTS_TOPIC,
        DEADLETTER_TOPIC,
        CORRELATE_TOPIC,
        ACTIONS_TOPIC,
        CASES_TOPIC,
        *ANALYTICS_TOPICS.values(),
    }


def test_worker_waits_for_topics_and_redis(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert worker["command"] == ["hub", "worker"]
    assert worker["image"] == services["topic-init"]["image"]
    deps = worker["depends_on"]
    assert deps["topic-init"]["condition"] == "service_completed_successfully"
    assert deps["redis"]["condition"] == "service_healthy"


def test_worker_metrics_port_and_prometheus_target(services: dict[str, Any]) -> None:
    worker = services["worker"]
    port = int(_env(worker).get("HUB_WEB_PORT", DEFAULTS.web_port))
    assert port == DEFAULTS.web_port
    assert _published(worker)[port] == ("127.0.0.1", port)
    assert f":{port}/metrics" in " ".join(worker["healthcheck"]["test"])
    prom = services["prometheus"]
    mount = next(v for v in prom["volumes"] if "prometheus.yml" in v)
    config = yaml.safe_load((ROOT / mount.split(":")[0]).read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "hub-worker"]
    assert job["metrics_path"] == "/metrics"
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"worker:{port}"]


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    for name in ("kafka", "redis", "worker", "console", "prometheus"):
        check = services[name].get("healthcheck", {})
        assert check.get("test"), f"{name} has no healthcheck"
