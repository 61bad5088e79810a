"""The tracker costs little per frame: exact integer bins, several people binned at once,
a seen track's signature refreshed every few frames with the per-frame time constant, and the
live ids read without snapshots."""
from fractions import Fraction

import numpy as np
import pytest

import wham_ros.tracking.tracker as tracker_module
from wham_ros.testing import tracking_scenes as ts
from wham_ros.tracking import appearance
from wham_ros.tracking.appearance import GREY_BINS, HUE_BINS, SAT_BINS, signature, signatures
from wham_ros.tracking.tracker import SIGNATURE_EVERY_FRAMES, MultiPersonTracker


def exact_bin(r: int, g: int, b: int) -> int:
    """The documented bin of one colour in rational arithmetic (no rounding anywhere)."""
    mx, mn = max(r, g, b), min(r, g, b)
    c = mx - mn
    if mx == 0 or Fraction(c, mx) < Fraction(1, 4):
        return HUE_BINS * SAT_BINS + min(4 * mx // 255, GREY_BINS - 1)
    if mx == r:
        hue = Fraction(g - b, c) % 6
    elif mx == g:
        hue = Fraction(b - r, c) + 2
    else:
        hue = Fraction(r - g, c) + 4
    h_bin = min(int(hue * HUE_BINS / 6), HUE_BINS - 1)
    s_bin = min(int((Fraction(c, mx) - Fraction(1, 4)) / Fraction(3, 4) * SAT_BINS), SAT_BINS - 1)
    return h_bin * SAT_BINS + s_bin


def test_bins_are_the_exact_hue_saturation_bins():
    rng = np.random.default_rng(0)
    colours = [rng.integers(0, 256, 3) for _ in range(3000)]
    # the boundaries: saturation exactly 1/4, hue exactly on a bin edge, greys, black, white
    colours += [np.array(c) for c in [(0, 0, 0), (255, 255, 255), (128, 128, 128), (4, 3, 3),
                                      (8, 6, 6), (255, 191, 191), (200, 150, 150), (30, 10, 0),
                                      (60, 0, 20), (0, 60, 40), (90, 0, 90), (120, 40, 0),
                                      (255, 0, 85), (3, 2, 0), (255, 254, 0)]]
    rgb = np.array(colours, np.uint8)
    want = np.array([exact_bin(*map(int, c)) for c in rgb])
    np.testing.assert_array_equal(appearance._bins(rgb), want)


def test_signatures_of_several_people_equal_their_signatures_one_by_one():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 90, 200], [-50, 30, 40, 230], [300, 100, 400, 300],
                      [400, 10, 500, 100], [100, 20, 101, 21]], float)  # last two: outside / tiny
    kp = np.concatenate([rng.uniform(0, 320, (5, 17, 2)), rng.uniform(0, 1, (5, 17, 1))], -1)
    together = signatures(img, boxes, kp)
    assert together[3] is None and together[4] is None
    for box, k, sig in zip(boxes, kp, together):
        one = signature(img, box, k)
        assert (one is None) == (sig is None)
        if sig is not None:
            np.testing.assert_array_equal(sig, one)
            assert sig.sum() == pytest.approx(1.0)


def test_seen_tracks_refresh_their_signature_every_few_frames(monkeypatch):
    scene = ts.SCENES["acceptance"]()
    computed = []
    real = tracker_module.signatures

    def counting(image, boxes, *args):
        computed.append(len(boxes))
        return real(image, boxes, *args)

    monkeypatch.setattr(tracker_module, "signatures", counting)
    ts.track_scene(scene, cmc="gyro")
    frames = len(scene.frames)
    per_frame = sum(len(t) for t in scene.truth) / frames  # people in view
    # every detection every frame before; now about one in SIGNATURE_EVERY_FRAMES, plus the
    # frames around exits and returns (gates, births)
    assert sum(computed) < 0.5 * per_frame * frames, (sum(computed), per_frame * frames)


def test_a_refresh_every_few_frames_keeps_the_per_frame_time_constant():
    gain, n = 0.1, SIGNATURE_EVERY_FRAMES
    old, new = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    t = MultiPersonTracker()
    t.update(np.array([[10, 10, 60, 150, 0.9]]), stamp_s=0.0,
             image=np.full((200, 200, 3), 90, np.uint8))
    track = t._tracks[0]
    track.signature, track.since_signature = old.copy(), n - 1
    track.observe_signature(new, gain)
    per_frame = old.copy()
    for _ in range(n):
        per_frame = gain * new + (1 - gain) * per_frame
    np.testing.assert_allclose(track.signature, per_frame, rtol=1e-12)
    assert track.since_signature == 0


def test_ids_seen_within_counts_frames_unseen():
    t = MultiPersonTracker()
    img = np.full((200, 300, 3), 90, np.uint8)
    box = np.array([[10, 10, 60, 150, 0.9]])
    for i in range(t.config.min_hits + 1):
        t.update(box, stamp_s=i / 30, image=img)
    (tid,) = t.ids_seen_within(0)
    for i in range(3):  # unseen for three frames
        t.update(np.zeros((0, 5)), stamp_s=(10 + i) / 30, image=img)
    assert t.ids_seen_within(2) == set() and t.ids_seen_within(3) == {tid}
    assert {p.track_id for p in t.tracks if p.frames_since_seen <= 3} == {tid}
