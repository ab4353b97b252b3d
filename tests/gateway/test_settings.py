from pathlib import Path

import pytest

from gridedge.center.settings import load_center_config
from gridedge.edge.errors import ConfigError
from gridedge.gateway.agent import Agent
from gridedge.gateway.settings import load_gateway_config
from gridedge.gateway.southbound import load_bindings

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_example_configs_load_and_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    config = load_gateway_config(EXAMPLES / "gateway.yaml")
    assert config.state_dir == EXAMPLES / "var/agent"
    assert len(config.inventory.devices) == 5
    assert load_center_config(EXAMPLES / "centre.yaml").jurisdiction == ()


def test_agent_builds_from_the_example(tmp_path: Path) -> None:
    config = load_gateway_config(EXAMPLES / "gateway.yaml").model_copy(update={"state_dir": tmp_path})
    agent = Agent(config)
    assert len(agent.pipeline.origins) == 5
    assert agent.pipeline.origins["SA-0001"].grid.grid.code == "G07"
    agent.outbox.close()


def test_a_gateway_config_typo_names_line_and_field(tmp_path: Path) -> None:
    text = (
        (EXAMPLES / "gateway.yaml").read_text().replace("  location:\n    site: Willow", "  locaton:\n    site: Willow")
    )
    path = tmp_path / "gw.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_gateway_config(path)
    line = text.splitlines().index("  locaton:") + 1
    assert f"gw.yaml:{line}: gateway.locaton: Extra inputs are not permitted" in str(err.value)
    assert "gateway.location: Field required" in str(err.value)


def test_inventory_errors_name_their_own_file_and_line(tmp_path: Path) -> None:
    """A device written in the gateway config and one in the inventory file: each error points at its own file."""
    config = tmp_path / "gw.yaml"
    config.write_text(
        "gateway:\n"
        "  id: gw-1\n"
        "  grid: {district: {code: D01, name: d}, street: {code: S01, name: s},"
        " community: {code: C01, name: c}, grid: {code: G01, name: g}}\n"
        "  location: {site: x}\n"
        "inventory_file: devices.yaml\n"
        "inventory:\n"
        "  devices:\n"
        "    - id: SA-1\n"
        "      profile: generic-smoke-alarm\n"
        "      location: {site: x}\n"
        "    - id: SA-2\n"
        "      profile: generic-smoke-alrm\n"
        "      location: {site: x}\n"
    )
    (tmp_path / "devices.yaml").write_text(
        "devices:\n  - id: SA-3\n    location: {site: x}\n    profile: no-such-profile\n"
    )
    with pytest.raises(ConfigError) as err:
        load_bindings(load_gateway_config(config))
    assert str(err.value).startswith(f"{config}:12: inventory.devices.1.profile: unknown profile 'generic-smoke-alrm'")
    config.write_text(config.read_text().replace("generic-smoke-alrm", "generic-smoke-alarm"))
    with pytest.raises(ConfigError) as err:
        load_bindings(load_gateway_config(config))
    assert str(err.value).startswith(f"{tmp_path / 'devices.yaml'}:4: devices.0.profile: unknown profile")
