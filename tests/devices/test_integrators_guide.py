"""The worked example of docs/integrators.md does what the guide says it does."""

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from gridedge.cli import app

GUIDE = (Path(__file__).parents[2] / "docs" / "integrators.md").read_text()


def test_the_worked_example_lints_and_decodes_as_printed(tmp_path: Path) -> None:
    example = GUIDE[GUIDE.index("## Worked example") :]
    profile = re.search(r"```yaml\n(id: acme-efd4.*?)```", example, re.S)
    command = re.search(r"```sh\n(gridedge profile test .*?)\n```", example, re.S)
    printed = re.search(r"```\n(alarm .*?)\.\.\.\n```", example, re.S)
    assert profile is not None
    assert command is not None
    assert printed is not None
    path = tmp_path / "acme_efd4.yaml"
    path.write_text(profile.group(1))
    runner = CliRunner()

    lint = runner.invoke(app, ["profile", "lint", str(path)])
    assert lint.exit_code == 0, lint.output
    assert "ok (acme-efd4, 12 points, 1 Modbus reads a poll)" in lint.output

    args = shlex.split(command.group(1).replace("\\\n", " "))[1:]
    args[2] = str(path)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for line in printed.group(1).splitlines():
        assert line.split() in [out.split() for out in result.output.splitlines()], line
