"""docs/integrators.md does what it says: each worked example (a JSON device, a binary LoRaWAN device, a
Modbus device) lints and decodes as printed, and its role table is the one the rules use."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridedge.cli import app
from gridedge.devices.roles import FAMILY_ROLES, GENERIC, KNOWN_ROLES
from gridedge.rules.model import BUILTIN_PACKS, load_rule_pack

GUIDE = (Path(__file__).parents[2] / "docs" / "integrators.md").read_text()
EXAMPLES = GUIDE.split("## Worked example")[1:]


def _parts(example: str) -> tuple[str, list[str], list[str]]:
    profile = re.search(r"```yaml\n(id: .*?)```", example, re.S)
    command = re.search(r"```sh\n(gridedge profile test .*?)\n```", example, re.S)
    assert profile is not None
    assert command is not None
    printed = re.search(r"```\n(.*?)```", example[command.end() :], re.S)
    assert printed is not None
    lines = [line for line in printed.group(1).splitlines() if line.strip() and line.strip() != "..."]
    return profile.group(1), shlex.split(command.group(1).replace("\\\n", " "))[1:], lines


def test_the_guide_walks_through_a_json_a_binary_lorawan_and_a_modbus_device() -> None:
    kinds = [re.search(r"transport:\s*\{?\s*type: (\w+)", _parts(e)[0]) for e in EXAMPLES]
    assert [k.group(1) if k else None for k in kinds] == ["mqtt", "mqtt", "modbus"]
    assert "envelope: chirpstack_v4" in _parts(EXAMPLES[1])[0]
    assert "layout:" in _parts(EXAMPLES[1])[0]


@pytest.mark.parametrize("index", range(len(EXAMPLES)), ids=lambda i: EXAMPLES[i].splitlines()[0].strip(": "))
def test_a_worked_example_lints_and_decodes_as_printed(tmp_path: Path, index: int) -> None:
    profile, args, printed = _parts(EXAMPLES[index])
    path = tmp_path / "profile.yaml"
    path.write_text(profile)
    runner = CliRunner()
    lint = runner.invoke(app, ["profile", "lint", str(path)])
    assert lint.exit_code == 0, lint.output
    said = re.search(r"Lint it: `(ok \(.*?\))`", EXAMPLES[index])
    if said:
        assert said.group(1) in lint.output
    args[2] = str(path)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = [line.split() for line in result.output.splitlines()]
    for line in printed:
        assert line.split() in out, line


def test_the_role_table_is_the_one_the_rules_use() -> None:
    rows = re.findall(r"^\| `(\w+)` \| (any|`\w+`) \| (\w+) \| (\S+) \| (.+?) \|$", GUIDE, re.M)
    documented = {(r[0] if r[1] == "any" else f"{r[1].strip('`')}.{r[0]}", r[2], r[3]) for r in rows}
    table = {(name, role.type, role.unit or "-") for name, role in GENERIC.items()}
    table |= {(f"{f.value}.{n}", r.type, r.unit or "-") for f, roles in FAMILY_ROLES.items() for n, r in roles.items()}
    assert documented == table
    matched = {
        r.match.role
        for p in sorted(BUILTIN_PACKS.glob("*.yaml"))
        for r in load_rule_pack(p).rules
        if r.match is not None and r.match.role is not None
    }
    assert matched <= set(KNOWN_ROLES), matched - set(KNOWN_ROLES)
