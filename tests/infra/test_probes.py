"""Invariants tying the services' /metrics and /healthz (tradeflow/observability.py) to the
Kubernetes manifests and the compose file: every service started with `--metrics-port N` listens
where its probes and Prometheus look."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _metrics_port(args: list[str]) -> int | None:
    return int(args[args.index("--metrics-port") + 1]) if "--metrics-port" in args else None


def _deployments() -> list[dict]:
    docs = []
    for path in sorted((REPO / "infra" / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "Deployment"]
    return docs


def _config_map() -> dict[str, str]:
    doc = yaml.safe_load((REPO / "infra" / "k8s" / "config.yaml").read_text())
    return doc["data"]


@pytest.mark.parametrize("name", ["consumer", "producer-sim"])
def test_k8s_services_serve_metrics_and_are_probed_on_health(name):
    (dep,) = [d for d in _deployments() if d["metadata"]["name"] == name]
    pod = dep["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    port = _metrics_port(container["args"])
    assert port, f"{name} runs without --metrics-port"
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert named["metrics"] == port
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    # A probe from the kubelet comes from outside the container's loopback.
    assert _config_map()["TRADEFLOW_METRICS_HOST"] == "0.0.0.0"


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.mark.parametrize("name", ["consumer", "producer-sim", "producer-alpaca"])
def test_compose_services_are_checked_on_their_health_endpoint(name):
    compose = _compose()
    svc = compose["services"][name]
    port = _metrics_port(svc["command"])
    assert port, f"{name} runs without --metrics-port"
    assert f"http://localhost:{port}/healthz" in " ".join(svc["healthcheck"]["test"])
    assert svc["environment"]["TRADEFLOW_METRICS_HOST"] == "0.0.0.0"
