"""`gridedge vision ...`: evaluate the camera pipeline on labelled clips, and generate clips."""

from __future__ import annotations

import dataclasses
import statistics
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
    """Run the agent's camera pipeline on labelled clips: event precision, recall and time to event."""
    from gridedge.vision.clips import Score, run_clip, score

    total = Score(0, 0, 0, [])
    typer.echo(f"{'clip':<28}{'tp':>4}{'fp':>4}{'fn':>4}  latency s")
    with tracked(_sidecars(clips), "evaluating") as sidecars:
        for sidecar in sidecars:
            try:
                clip, events = run_clip(sidecar)
            except ConfigError as exc:
                typer.echo(str(exc), err=True)
                raise typer.Exit(2) from None
            s = score(clip.truth, events)
            total += s
            lat = " ".join(f"{v:.1f}" for v in s.latencies) or "-"
            typer.echo(f"{sidecar.stem:<28}{s.true_positives:>4}{s.false_positives:>4}{s.false_negatives:>4}  {lat}")
    median = f"{statistics.median(total.latencies):.1f} s" if total.latencies else "-"
    typer.echo(f"precision {total.precision:.2f}  recall {total.recall:.2f}  median time to event {median}")


@vision_app.command("make-clips")
def make_clips(
    directory: Annotated[Path, typer.Argument(help="Where to write the clips and their sidecars.")],
    dwell_s: Annotated[float, typer.Option(help="Dwell limit written into the zones.")] = 15.0,
    clear_s: Annotated[float, typer.Option(help="Clear time written into the zones.")] = 3.0,
) -> None:
    """Generate the labelled demo clips (shopfront goods, passers-by, e-bike in a corridor)."""
    from gridedge.simulators.scenes import SCENES, write_clip

    for make in SCENES.values():
        scene = dataclasses.replace(make(), zone_settings={"dwell_s": dwell_s, "clear_s": clear_s})
        typer.echo(write_clip(scene, directory))
