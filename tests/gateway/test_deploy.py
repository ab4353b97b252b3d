"""The deployment files stay true to the code: configs validate, the dashboard asks for real metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.exposition import generate_latest

from gridedge.center.settings import CenterConfig
from gridedge.edge.config import parse_yaml
from gridedge.gateway.agent import Agent
from gridedge.gateway.settings import GatewayConfig

DEPLOY = Path(__file__).parents[2] / "deploy"


def compose_gateway(tmp_path: Path) -> GatewayConfig:
    secret = tmp_path / "api-token"
    secret.write_text("a-token-from-a-secret-file\n")
    text = (DEPLOY / "gateway.yaml").read_text().replace("/run/secrets/api-token", str(secret))
    return parse_yaml(text, GatewayConfig, "deploy/gateway.yaml")


def test_compose_configs_are_valid(tmp_path: Path) -> None:
    gateway = compose_gateway(tmp_path)
    assert gateway.api.token is not None
    assert gateway.api.token.get_secret_value() == "a-token-from-a-secret-file"
    parse_yaml((DEPLOY / "centre.yaml").read_text(), CenterConfig, "deploy/centre.yaml")
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert {"broker", "agent", "centre", "victoria-metrics"} <= set(services)


def test_dashboard_queries_metrics_the_agent_exposes(tmp_path: Path) -> None:
    config = compose_gateway(tmp_path).model_copy(update={"state_dir": tmp_path / "agent"})
    agent = Agent(config)
    try:
        exposed = generate_latest(agent.ops.registry).decode()
    finally:
        agent.outbox.close()
    dashboard = json.loads((DEPLOY / "grafana" / "gridedge-gateway.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b((?:gridedge|process)_[a-z_]+)", e)}
    assert used
    for metric in used:  # a sample, or the TYPE line of a family with no samples yet (a summary's: no suffix)
        family = re.sub(r"_(sum|count)$", "", metric)
        assert re.search(rf"^(# TYPE )?{metric}\b|^# TYPE {family} summary", exposed, re.MULTILINE), metric
