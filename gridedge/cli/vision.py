"""`gridedge vision ...`: evaluate the camera pipeline on labelled clips, and generate clips."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from gridedge.cli.progress import tracked
from gridedge.edge.errors import ConfigError

vision_app = typer.Typer(no_args_is_help=True, help="Cameras: evaluate on labelled clips, generate clips.")


def _sidecars(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        found.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    return found


@vision_app.command("eval")
def eval_clips(
    clips: Annotated[list[Path], typer.Argument(help="Clip sidecars (.yaml) or folders of them.", exists=True)],
) -> None:
    """Run the agent's camera pipeline on labelled clips: per clip and in total, event precision, recall,
    repeats, incidents left open after their cause was gone, and time to event."""
    from gridedge.vision.clips import HEADER, Score, clip_score, score_line, totals_line

    total = Score(0, 0, 0, [], clips=0)
    typer.echo(HEADER)
    with tracked(_sidecars(clips), "evaluating") as sidecars:
        for sidecar in sidecars:
            try:
                s = clip_score(sidecar)
            except ConfigError as exc:
                typer.echo(str(exc), err=True)
                raise typer.Exit(2) from None
            total += s
            typer.echo(score_line(sidecar.stem, s))
    typer.echo(totals_line(total))


@vision_app.command("make-clips")
def make_clips(
    directory: Annotated[Path, typer.Argument(help="Where to write the clips and their sidecars.")],
    *,
    dwell_s: Annotated[float, typer.Option(help="Dwell limit written into the zones.")] = 15.0,
    clear_s: Annotated[float, typer.Option(help="Clear time written into the zones.")] = 3.0,
    suite: Annotated[
        str,
        typer.Option(help="'demo': the three demo clips; 'street': the fourteen scenarios of light, crowds and bumps."),
    ] = "demo",
    width: Annotated[int, typer.Option(help="Frame width of the street scenarios (16:9).")] = 640,
    fps: Annotated[float, typer.Option(help="Frame rate of the street scenarios.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed of the street scenarios.")] = 100,
) -> None:
    """Generate labelled clips: the demo clips (shopfront goods, passers-by, e-bike in a corridor), or the
    street scenarios (exposure, IR, dusk, camera shift and shake, crowds, people standing, racks, bikes)."""
    from gridedge.simulators.scenes import SCENES, write_clip

    if suite == "street":
        from gridedge.simulators.street_clips import suite as street
        from gridedge.simulators.street_clips import write

        for scenario in street(dwell=dwell_s, size=(width, width * 9 // 16), fps=fps, seed=seed):
            typer.echo(write(scenario, directory))
        return

    for make in SCENES.values():
        scene = dataclasses.replace(make(), zone_settings={"dwell_s": dwell_s, "clear_s": clear_s})
        typer.echo(write_clip(scene, directory))
