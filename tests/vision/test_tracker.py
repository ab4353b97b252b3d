"""Track ids: an object keeps its number while it stays, through short occlusions; new ones get new ids."""

from __future__ import annotations

from gridedge.vision.tracker import Tracker, iou

GOODS = (100, 200, 160, 260)
BIKE = (300, 220, 420, 280)


def test_a_parked_object_keeps_its_id_and_first_seen_time_while_it_jitters() -> None:
    tracker = Tracker()
    (first,) = tracker.update([GOODS], 0.0)
    for t in range(1, 20):
        (again,) = tracker.update([(100 + t % 3, 200, 160 + t % 3, 260)], float(t))
        assert (again.id, again.first_seen) == (first.id, 0.0)


def test_an_occluded_object_keeps_its_id_and_one_gone_too_long_comes_back_new() -> None:
    tracker = Tracker(max_missed=3)
    goods, bike = tracker.update([GOODS, BIKE], 0.0)
    for t in range(1, 4):  # a passer-by hides the goods for three frames
        assert [tr.id for tr in tracker.update([BIKE], float(t))] == [bike.id]
    assert [tr.id for tr in tracker.update([BIKE, GOODS], 4.0)] == [bike.id, goods.id]
    for t in range(5, 10):
        tracker.update([BIKE], float(t))
    (_, new) = tracker.update([BIKE, GOODS], 10.0)
    assert new.id not in (goods.id, bike.id)
    assert new.first_seen == 10.0


def test_two_objects_side_by_side_are_not_swapped() -> None:
    tracker = Tracker()
    a, b = tracker.update([(0, 0, 50, 50), (40, 0, 90, 50)], 0.0)
    b2, a2 = tracker.update([(42, 0, 92, 50), (2, 0, 52, 50)], 1.0)
    assert (a2.id, b2.id) == (a.id, b.id)


def test_iou() -> None:
    assert iou(GOODS, GOODS) == 1.0
    assert iou(GOODS, BIKE) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 15, 10)) - 1 / 3) < 1e-9
