"""The dual background: what it absorbs (light, exposure, IR, a bumped camera) and what it keeps (objects)."""

from __future__ import annotations

import cv2
import numpy as np

from gridedge.vision.background import DualBackground, Picture

SIZE = (320, 180)


def street(seed: int = 0) -> Picture:
    """A textured picture with structure for registration: paving joints, a wall and windows."""
    rng = np.random.default_rng(seed)
    img = np.full((SIZE[1], SIZE[0], 3), 150, np.float32)
    img[:70] = (110, 130, 160)
    for x in range(10, 320, 70):
        cv2.rectangle(img, (x, 10), (x + 40, 60), (60, 55, 50), -1)
    for y in range(80, 180, 12):
        cv2.line(img, (0, y), (319, y), (120, 120, 120), 1)
    img += cv2.GaussianBlur(rng.normal(0, 6, img.shape[:2]).astype(np.float32), (5, 5), 0)[..., None]
    return img


def settle(bg: DualBackground, frame: Picture, frames: int = 20) -> None:
    keep = np.zeros(frame.shape[:2], np.bool_)
    for _ in range(frames):
        bg.compare(frame, keep)


def test_an_exposure_jump_and_a_colour_cast_leave_nothing_changed() -> None:
    scene = street()
    bg = DualBackground(still_frames=10)
    bg.start(scene)
    settle(bg, scene, 5)
    brighter = np.clip(scene * np.array([1.2, 1.35, 1.45], np.float32), 0, 255)
    cmp = bg.compare(brighter, np.zeros(scene.shape[:2], np.bool_))
    assert not cmp.global_change
    assert cmp.long.mean() < 0.02  # the gain field explains it in the first frame


def test_an_ir_switch_to_grey_is_a_global_change_learnt_at_once_but_not_under_objects() -> None:
    scene = street()
    bg = DualBackground(still_frames=10)
    bg.start(scene)
    settle(bg, scene, 5)
    keep = np.zeros(scene.shape[:2], np.bool_)
    keep[120:160, 100:140] = True
    ir = np.repeat((cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY) * 0.8 + 30)[..., None], 3, axis=2)
    ir[120:160, 100:140] = 20  # a dark object, tracked: `keep`
    results = [bg.compare(ir, keep) for _ in range(4)]
    assert any(r.global_change for r in results)
    assert bg.global_changes == 1
    assert bg.long is not None
    assert np.abs(bg.long[:100] - ir[:100]).mean() < 1  # learnt
    assert bg.long[130, 120].min() > 100  # the empty scene carried over in grey, not the object learnt
    assert np.ptp(bg.long[130, 120]) < 1
    cmp = bg.compare(ir, keep)
    assert cmp.long[~keep].mean() < 0.02
    assert cmp.long[125:155, 105:135].all()  # the object still differs from the empty scene


def test_a_bumped_camera_is_registered_and_shifted_back() -> None:
    scene = street()
    bg = DualBackground(still_frames=10)
    bg.start(scene)
    settle(bg, scene, 3)
    bumped = cv2.warpAffine(scene, np.float32([[1, 0, 4], [0, 1, -3]]), SIZE, borderMode=cv2.BORDER_REFLECT)
    cmp = bg.compare(bumped, np.zeros(scene.shape[:2], np.bool_))
    assert abs(cmp.shift[0] - 4) < 0.5
    assert abs(cmp.shift[1] + 3) < 0.5
    assert cmp.long[10:-10, 10:-10].mean() < 0.02
    assert not bg.camera_moved


def test_something_put_down_becomes_a_static_candidate_after_the_still_time_and_a_walker_never_does() -> None:
    scene = street()
    bg = DualBackground(still_frames=10)
    bg.start(scene)
    keep = np.zeros(scene.shape[:2], np.bool_)
    with_box = scene.copy()
    with_box[120:150, 60:100] = (40, 100, 170)
    static = []
    for i in range(30):
        frame = with_box.copy()
        x = 10 * i % 300  # a walker crossing all the time
        frame[100:170, x : x + 12] = (80, 60, 40)
        static.append(bg.compare(frame, keep).static)
    assert not static[5][120:150, 60:100].any()
    assert static[-1][125:145, 65:95].all()
    assert not any(s[100:170, 200:300].any() for s in static)


def test_a_camera_turned_away_is_a_new_view_and_says_so_never_a_candidate() -> None:
    scene = street()
    bg = DualBackground(still_frames=2)
    bg.start(scene)
    settle(bg, scene, 3)
    turned = cv2.warpAffine(scene, np.float32([[1, 0, 80], [0, 1, 0]]), SIZE, borderMode=cv2.BORDER_REFLECT)
    statics = [bg.compare(turned, np.zeros(scene.shape[:2], np.bool_)) for _ in range(6)]
    assert bg.moves + bg.global_changes >= 1
    assert not any(c.static.any() for c in statics)
