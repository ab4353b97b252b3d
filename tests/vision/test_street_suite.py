"""The fourteen street scenarios (a different drawing from the demo clips, with light, crowds, bumps and
restarts of the picture) through `gridedge vision eval`, at test size: 320x180, 5 fps, dwell 10 s."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridedge.cli import app
from gridedge.edge.event import EventStatus
from gridedge.simulators.street_clips import suite, write
from gridedge.vision.clips import Score, clip_score, play_clip

SCENARIOS = {
    "exposure_jump", "ir_night_switch", "dusk_drift", "camera_shift", "camera_shake", "goods_at_start",
    "goods_briefly_down", "walkers_crossing", "person_standing", "goods_behind_crowds", "goods_removed",
    "rack_wheeled_out", "ebike_in_corridor", "bicycle_passing",
}  # fmt: skip


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("street")
    for scenario in suite(dwell=10.0, size=(320, 180), fps=5.0):
        write(scenario, directory)
    return directory


def test_the_suite_covers_every_scenario_of_the_issue() -> None:
    assert {s.name for s in suite()} == SCENARIOS


def test_every_scenario_is_reported_right_once_and_closed_when_its_cause_is_gone(street: Path) -> None:
    result = CliRunner().invoke(app, ["vision", "eval", str(street)])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.split()[:1] != ["clip"]}
    assert set(rows) >= SCENARIOS, result.output
    total = Score(0, 0, 0, [], clips=0)
    for name in sorted(SCENARIOS):
        _truth, tp, fp, fn, repeats, left_open = (int(v) for v in rows[name][1:7])
        total += Score(tp, fp, fn, [], repeats, left_open)
    assert total.precision >= 0.9, result.output
    assert total.recall >= 0.9, result.output
    assert (total.repeats, total.left_open) == (0, 0), result.output
    assert "14 clips: precision" in result.output


def test_goods_behind_crowds_keep_one_object_and_resolve_when_taken(street: Path) -> None:
    clip, events, _ = play_clip(street / "goods_behind_crowds.yaml")
    assert [e.status for e in events] == [EventStatus.FIRING, EventStatus.RESOLVED]
    firing, resolved = events
    assert firing.object_id == resolved.object_id
    assert resolved.started_at == firing.started_at
    assert clip.truth[0].end <= resolved.observed_at <= clip.truth[0].end + 8


def test_goods_out_before_the_agent_started_are_seen_against_the_installers_reference(street: Path) -> None:
    s = clip_score(street / "goods_at_start.yaml")
    assert (s.true_positives, s.false_positives, s.left_open) == (1, 0, 0)
