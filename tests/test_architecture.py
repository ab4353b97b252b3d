"""The package arrows of DESIGN.md, enforced by import-linter's contracts in pyproject.toml, and
the rule that importing a module does nothing expensive (docs/architecture.md)."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
IMPORT_CPU_S = 2.0
"""CPU seconds one module's import may take (the heaviest, the centre's API, takes about 0.3)."""
IMPORT_PEAK_MIB = 40
"""How much one module's import may raise the process's peak memory (the heaviest, the centre's API
and the ONNX detector, about 20 MiB; an argon2 hash at import would add 64)."""

MEASURE_IMPORTS = """
import importlib, json, pkgutil, resource, sys, time
import gridedge

def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

names = sorted(
    m.name for m in pkgutil.walk_packages(gridedge.__path__, "gridedge.")
    if not m.name.endswith(".__main__") and ".migrations" not in m.name  # run, not imported
)
costs = {}
for name in names:
    before, cpu = peak_kib(), time.process_time()
    importlib.import_module(name)
    costs[name] = {"cpu_s": time.process_time() - cpu, "peak_mib": (peak_kib() - before) / 1024}
print(json.dumps(costs))
"""


def _run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_gateway_module_has_a_layer() -> None:
    """The layers contract is what rules out an import cycle in gateway/: a module it does not name
    could import anything."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c for c in contracts if c["type"] == "layers" and c.get("containers") == ["gridedge.gateway"]]
    named = {m.strip() for layer in layers["layers"] for m in layer.split("|")}
    modules = {p.stem for p in (ROOT / "gridedge" / "gateway").glob("*.py")} - {"__init__"}
    assert modules - named == set(), "add these modules to a layer of the gateway's layers contract"


def test_importing_any_module_is_cheap() -> None:
    """Every module imported in turn in a fresh interpreter: none computes, hashes or loads much at import."""
    costs = json.loads(_run_python(MEASURE_IMPORTS))
    assert len(costs) > 100
    slow = {n: c for n, c in costs.items() if c["cpu_s"] > IMPORT_CPU_S}
    heavy = {n: c for n, c in costs.items() if c["peak_mib"] > IMPORT_PEAK_MIB}
    assert slow == {}
    assert heavy == {}


def test_the_agent_does_not_load_the_centre() -> None:
    """What `gridedge agent` imports (CLI, agent) pulls in neither the centre nor its database stack."""
    code = (
        "import sys, gridedge.cli, gridedge.cli.agent, gridedge.gateway.agent, gridedge.gateway.runtime\n"
        "print(sorted({m.split('.')[0] if not m.startswith('gridedge.') else '.'.join(m.split('.')[:2])"
        " for m in sys.modules}))"
    )
    loaded = set(json.loads(_run_python(code).replace("'", '"')))
    assert loaded.isdisjoint({"gridedge.center", "gridedge.devtools", "sqlalchemy", "alembic", "argon2", "bench"})
