from pathlib import Path

import pytest

from gridedge.devices.binding import bind
from gridedge.devices.inventory import Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profile, load_profiles
from gridedge.edge.config import parse_yaml
from gridedge.edge.errors import ConfigError

GOOD = (BUILTIN_PROFILES / "generic_smoke_alarm.yaml").read_text()


def _lint(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    return str(err.value)


def test_builtin_profiles_load() -> None:
    assert "generic-smoke-alarm" in load_profiles([BUILTIN_PROFILES])


def test_a_typo_names_file_line_and_field(tmp_path: Path) -> None:
    message = _lint(tmp_path, GOOD.replace("    role: tamper", "    rol: tamper"))
    line = GOOD.splitlines().index("    role: tamper") + 1
    assert f"p.yaml:{line}: points.1.rol: Extra inputs are not permitted" in message


def test_a_wrong_type_names_the_field(tmp_path: Path) -> None:
    message = _lint(tmp_path, GOOD.replace("    type: float", "    type: decimal"))
    assert "points.3.type: Input should be 'bool', 'int', 'float' or 'string'" in message


def test_a_self_contradicting_profile_is_refused(tmp_path: Path) -> None:
    message = _lint(tmp_path, GOOD.replace("  offline_after_s: 150", "  offline_after_s: 10"))
    assert "liveness: Value error, offline_after_s must be at least heartbeat_interval_s" in message
    message = _lint(tmp_path, GOOD.replace("  - name: tamper", "  - name: smoke"))
    assert "point name 'smoke' appears twice" in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    assert "p.yaml:2: not valid YAML" in _lint(tmp_path, "id: x\n\tvendor: y\n")


def test_a_device_with_an_unknown_profile_is_named() -> None:
    inventory = parse_yaml(
        "devices:\n  - id: SA-9\n    profile: no-such-alarm\n    location: {site: x}\n", Inventory, "inv.yaml"
    )
    with pytest.raises(ConfigError, match="unknown profile 'no-such-alarm' for device 'SA-9'"):
        bind(inventory, load_profiles([BUILTIN_PROFILES]), "inv.yaml")
