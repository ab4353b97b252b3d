"""The package arrows of DESIGN.md, enforced by import-linter's contracts in pyproject.toml."""

import subprocess
import sys
from pathlib import Path


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports)], capture_output=True, text=True, cwd=Path(__file__).parents[1], check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
