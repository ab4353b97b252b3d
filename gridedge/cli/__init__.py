"""The `gridedge` command line: one module per command group, each importing what it needs lazily
(`gridedge --help` stays cheap). `python -m gridedge` runs the same."""

from __future__ import annotations

import typer

from gridedge.cli.agent import agent
from gridedge.cli.bench import bench
from gridedge.cli.bridge import bridge_app
from gridedge.cli.center import center
from gridedge.cli.center_admin import center_admin_app
from gridedge.cli.demo import demo
from gridedge.cli.doctor import doctor
from gridedge.cli.profile import profile_app
from gridedge.cli.rules import rules_app
from gridedge.cli.schemas import schemas
from gridedge.cli.vision import vision_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help="GridEdge: smart-community edge gateway.")
for command in (agent, center, demo, bench, schemas, doctor):
    app.command()(command)
app.add_typer(profile_app, name="profile")
app.add_typer(rules_app, name="rules")
app.add_typer(vision_app, name="vision")
app.add_typer(bridge_app, name="bridge")
app.add_typer(center_admin_app, name="center-admin")


def main() -> None:
    app()
