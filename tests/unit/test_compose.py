"""compose/: the compose file, the Prometheus scrape config and the Grafana provisioning and dashboard
agree with the code and the docs, and parse with the tools that read them. There is no Docker engine
here: the YAML is checked by structure always, and by `docker compose config` / `docker-compose
config`, `promtool check config` and `promtool check rules` (the dashboard's expressions) when those
tools are installed (Debian: docker-compose, prometheus)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from chainrisk.graph.config import Settings
from chainrisk.graph.metrics import ConsumerMetrics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
COMPOSE_FILE = COMPOSE / "docker-compose.yml"
PROMETHEUS_FILE = COMPOSE / "prometheus" / "prometheus.yml"
DASHBOARDS = sorted((COMPOSE / "grafana" / "dashboards").glob("*.json"))
DEFAULTS = Settings.model_construct()  # the declared defaults: no environment, no chainrisk.toml


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(COMPOSE_FILE)


def published(service: dict[str, Any]) -> dict[int, int]:
    """container port -> host port, each published on 127.0.0.1 only."""
    out = {}
    for entry in service.get("ports", []):
        host, host_port, container_port = entry.split(":")
        assert host == "127.0.0.1", f"{entry}: published beyond loopback"
        out[int(container_port)] = int(host_port)
    return out


def env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def test_services_and_published_ports_match_the_settings_defaults(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"kafka", "neo4j", "consumer", "prometheus", "grafana"}
    assert published(services["kafka"]) == {DEFAULTS.kafka_port: DEFAULTS.kafka_port}
    assert published(services["neo4j"]) == {DEFAULTS.neo4j_bolt_port: DEFAULTS.neo4j_bolt_port,
                                            DEFAULTS.neo4j_http_port: DEFAULTS.neo4j_http_port}
    assert published(services["consumer"]) == {}  # scraped on the compose network; a published port would stop --scale
    assert published(services["prometheus"]) == {9090: 9090}
    assert published(services["grafana"]) == {3000: 3000}
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["monitoring"]


def test_the_consumer_reaches_the_other_services_by_name_and_only_sets_real_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    consumer = env(services["consumer"])
    unknown = {name for name in consumer if name.removeprefix("CHAINRISK_").lower() not in Settings.model_fields}
    assert not unknown, f"variables no setting reads: {unknown}"
    for name, value in consumer.items():  # each value passes the setting's own validation
        if "${" not in value:
            Settings(**{name.removeprefix("CHAINRISK_").lower(): value})
    advertised = dict(item.split("://") for item in env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert consumer["CHAINRISK_KAFKA_BOOTSTRAP"] == advertised["INTERNAL"]
    assert consumer["CHAINRISK_KAFKA_BOOTSTRAP"].split(":")[0] in services
    bolt = urlsplit(consumer["CHAINRISK_NEO4J_URI"])
    assert bolt.hostname == "neo4j" and bolt.port in published(services["neo4j"])
    assert "CHAINRISK_NEO4J_PASSWORD" in services["neo4j"]["environment"]["NEO4J_AUTH"]


def test_the_consumer_healthcheck_asks_readyz_on_its_metrics_port(compose: dict[str, Any]) -> None:
    consumer = compose["services"]["consumer"]
    port = int(env(consumer)["CHAINRISK_METRICS_PORT"])
    assert env(consumer)["CHAINRISK_METRICS_HOST"] == "0.0.0.0"  # inside its container: reachable by Prometheus
    probe = " ".join(consumer["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/readyz" in probe
    for name in ("kafka", "neo4j", "prometheus"):  # each keeps a healthcheck of its own
        assert compose["services"][name]["healthcheck"]["test"], name
    assert {dep: c["condition"] for dep, c in compose["services"]["grafana"]["depends_on"].items()} == {"prometheus": "service_healthy"}


def test_prometheus_scrapes_every_consumer_replica_on_its_metrics_port(compose: dict[str, Any]) -> None:
    config = load(PROMETHEUS_FILE)
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    (dns,) = job["dns_sd_configs"]
    assert dns["names"] == ["consumer"] and dns["type"] == "A"
    assert dns["port"] == int(env(compose["services"]["consumer"])["CHAINRISK_METRICS_PORT"])
    mounts = compose["services"]["prometheus"]["volumes"]
    assert f"./{PROMETHEUS_FILE.relative_to(COMPOSE)}:/etc/prometheus/prometheus.yml:ro" in mounts


def test_grafana_is_provisioned_with_the_prometheus_service_and_the_dashboards(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {m.split(":")[1]: COMPOSE / m.split(":")[0] for m in grafana["volumes"] if m.startswith("./")}
    provisioning = mounts["/etc/grafana/provisioning"]
    (source,) = load(provisioning / "datasources" / "prometheus.yml")["datasources"]
    url = urlsplit(source["url"])
    assert source["type"] == "prometheus" and url.hostname == "prometheus" and url.port in published(compose["services"]["prometheus"])
    (provider,) = load(provisioning / "dashboards" / "chainrisk.yml")["providers"]
    assert mounts[provider["options"]["path"]] == DASHBOARDS[0].parent
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == source["uid"], (path.name, panel["title"])


def exported() -> dict[str, set[str]]:
    """Every series name the consumer's registry can export -> its label names (``le`` for histogram buckets)."""
    metrics = ConsumerMetrics()
    wrappers = [v for value in vars(metrics).values() for v in (value.values() if isinstance(value, dict) else [value])
                if isinstance(v, MetricWrapperBase)]
    out: dict[str, set[str]] = {}
    for m in wrappers:
        labels = set(m._labelnames)
        name = m._name
        if m._type == "counter":
            out[name + "_total"] = labels
        elif m._type == "histogram":
            out.update({name + "_bucket": labels | {"le"}, name + "_count": labels, name + "_sum": labels})
        else:
            out[name] = labels
    assert len(wrappers) == len(list(metrics.registry.collect()))  # every collector of the registry was found
    return out


def expressions() -> list[tuple[str, str]]:
    return [(f"{path.name}: {panel['title']}", target["expr"]) for path in DASHBOARDS
            for panel in json.loads(path.read_text())["panels"] for target in panel["targets"]]


def test_every_dashboard_expression_names_exported_metrics_and_their_labels() -> None:
    series = exported()
    found = expressions()
    assert DASHBOARDS and found
    used = set()
    for where, expr in found:
        names = set(re.findall(r"\bchainrisk_\w+", expr))
        assert names, f"{where}: {expr} names no chainrisk metric"
        assert names <= series.keys(), f"{where}: {names - series.keys()} not exported by graph/metrics.py"
        labels = set().union(*(series[n] for n in names))
        grouped = {label.strip() for group in re.findall(r"\bby \(([^)]*)\)", expr) for label in group.split(",")}
        matched = set(re.findall(r"(\w+)=~?\"", expr))
        assert grouped | matched <= labels, f"{where}: labels {(grouped | matched) - labels} not on {names}"
        used |= names
    # lag, events/s, latency and alerts are on the dashboard
    assert {"chainrisk_consumer_lag_records", "chainrisk_events_applied_total", "chainrisk_batch_apply_seconds_bucket",
            "chainrisk_event_to_graph_seconds_bucket", "chainrisk_alerts_total"} <= used


def test_docs_name_the_published_ports_and_how_to_open_prometheus_and_grafana(compose: dict[str, Any]) -> None:
    readme = (COMPOSE / "README.md").read_text()
    for name, service in compose["services"].items():
        for host_port in published(service).values():
            assert f"127.0.0.1:{host_port}" in readme, (name, host_port)
    assert "--profile monitoring" in readme and "/readyz" in readme
    main_readme = (ROOT / "README.md").read_text()
    assert "compose/README.md" in main_readme and "http://127.0.0.1:3000" in main_readme and "http://127.0.0.1:9090" in main_readme


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (Debian: apt-get install prometheus)")
def test_promtool_accepts_the_scrape_config_and_every_dashboard_expression(tmp_path: Path) -> None:
    done = run(["promtool", "check", "config", str(PROMETHEUS_FILE)])
    assert done.returncode == 0, done.stdout + done.stderr
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:expr{i}", "expr": expr}
                                                          for i, (_, expr) in enumerate(expressions())]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    done = run(["promtool", "check", "rules", str(tmp_path / "rules.yml")])
    assert done.returncode == 0, done.stdout + done.stderr


def compose_tool() -> list[str] | None:
    if shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(compose_tool() is None, reason="neither `docker compose` nor docker-compose is installed (Debian: apt-get install docker-compose)")
def test_the_compose_tool_accepts_the_file_with_every_profile(tmp_path: Path) -> None:
    tool = compose_tool()
    assert tool is not None
    path = COMPOSE_FILE
    if tool == ["docker-compose"]:  # 1.29 (Debian 12) predates the top-level `name`: check the rest of the file
        path = tmp_path / "docker-compose.yml"
        path.write_text("".join(line for line in COMPOSE_FILE.read_text().splitlines(keepends=True) if not line.startswith("name:")))
    done = run([*tool, "-f", str(path), "--project-directory", str(COMPOSE), "--profile", "monitoring", "config", "-q"],
               env={"PATH": "/usr/bin:/bin:/usr/local/bin", "CHAINRISK_NEO4J_PASSWORD": "a-password-for-the-check"})
    assert done.returncode == 0, done.stdout + done.stderr
