from pathlib import Path

import pytest

from gridedge.center.settings import load_center_config
from gridedge.edge.errors import ConfigError
from gridedge.gateway.agent import Agent
from gridedge.gateway.settings import load_gateway_config

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
