"""Tracker on synthetic multi-person scenes with ground-truth identities."""
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from wham_ros.detect.boxes import iou_matrix
from wham_ros.tracking.tracker import MultiPersonTracker, TrackerConfig, TrackState

# COCO-17 template of an upright person (box-relative: x in [0, 1] of width, y of height)
TEMPLATE = np.array([
    [0.50, 0.06], [0.55, 0.04], [0.45, 0.04], [0.60, 0.05], [0.40, 0.05],
    [0.75, 0.20], [0.25, 0.20], [0.85, 0.35], [0.15, 0.35], [0.88, 0.48], [0.12, 0.48],
    [0.65, 0.52], [0.35, 0.52], [0.65, 0.75], [0.35, 0.75], [0.65, 0.97], [0.35, 0.97]])


def person(box, score=0.9, conf=0.9, rng=None, jitter=0.0):
    """Detection row and keypoints of a person filling ``box``."""
    box = np.asarray(box, float)
    if rng is not None and jitter:
        box = box + rng.normal(0, jitter, 4)
    wh = box[2:] - box[:2]
    kp = np.concatenate([box[:2] + TEMPLATE * wh, np.full((17, 1), conf)], 1)
    return np.append(box, score), kp


def frame(people):
    if not people:
        return np.zeros((0, 5)), np.zeros((0, 17, 3))
    det, kp = zip(*people)
    return np.stack(det), np.stack(kp)


def run_scene(tracker, gt_frames, use_kp=True):
    """Feed frames; return per frame {gt_name: track_id}.

    ``gts`` holds the ground-truth boxes of the people visible in that frame; they are
    matched one-to-one to the reported tracks (Hungarian on IoU, IoU > 0.5).
    """
    assigned = []
    for gts, (det, kp) in gt_frames:
        out = tracker.update(det, kp if use_kp else None)
        names = list(gts)
        ids = {}
        if out and names:
            iou = iou_matrix(np.array([gts[n] for n in names]), np.array([p.box_xyxy for p in out]))
            for i, j in zip(*linear_sum_assignment(-iou)):
                if iou[i, j] > 0.5:
                    ids[names[i]] = out[j].track_id
        assigned.append(ids)
    return assigned


def id_switches(assigned):
    """MOT-style: number of times a ground-truth person's track id changes."""
    last, switches = {}, 0
    for ids in assigned:
        for name, tid in ids.items():
            if name in last and last[name] != tid:
                switches += 1
            last[name] = tid
    return switches


def walking(x0, vx, t, y=100, w=60, h=160):
    return [x0 + vx * t, y, x0 + vx * t + w, y + h]


@pytest.mark.parametrize("use_kp", [True, False])
def test_two_people_crossing_keep_their_ids(use_kp):
    rng = np.random.default_rng(0)
    frames = []
    for t in range(80):
        a = walking(100, 6, t)                   # left -> right
        b = walking(560, -6, t, y=110, w=56, h=150)   # right -> left, a bit further away
        gts = {"a": a}
        people = [person(a, rng=rng, jitter=1.0)]
        if iou_matrix([a], [b])[0, 0] < 0.15:    # b hidden behind a while they overlap
            people.append(person(b, rng=rng, jitter=1.0))
            gts["b"] = b
        frames.append((gts, frame(people)))
    tracker = MultiPersonTracker()
    assigned = run_scene(tracker, frames, use_kp)
    assert id_switches(assigned) == 0
    assert {tid for ids in assigned for tid in ids.values()} == {1, 2}
    hidden = [i for i, (g, (d, _)) in enumerate(frames) if len(d) == 1]
    assert len(hidden) >= 6                      # the occlusion really happened
    assert assigned[-1] == {"a": 1, "b": 2}


def test_reidentification_after_short_gap_and_new_id_after_long_gap():
    cfg = TrackerConfig(max_lost=10)
    tracker = MultiPersonTracker(cfg)
    states = []
    frames = []
    for t in range(60):
        box = walking(50, 4, t)
        visible = not (15 <= t < 23) and not (30 <= t < 45)   # gaps of 8 and 15 frames
        frames.append(({"a": box}, frame([person(box)] if visible else [])))
    assigned = []
    for gts, (det, kp) in frames:
        assigned.append({p.track_id for p in tracker.update(det, kp)})
        states.append([t.state for t in tracker.tracks])
    assert assigned[14] == {1} and assigned[23] == {1}      # same id across the 8-frame gap
    assert assigned[20] == set() and states[20] == [TrackState.LOST]
    assert states[41] == []                                 # lost > 10 frames: removed
    assert assigned[45] == set()                            # new track: tentative first
    assert assigned[47] == {2}                              # confirmed with a new id (never 1)
    assert tracker.num_removed == 1


def test_birth_needs_min_hits_and_false_positives_get_no_id():
    tracker = MultiPersonTracker(TrackerConfig(min_hits=3, max_lost=5))
    out = []
    for t in range(30):
        people = []
        if t >= 10:
            people.append(person(walking(100, 2, t - 10)))
        if t in (3, 20):                                    # one-frame false positives
            people.append(person([400, 300, 450, 420], score=0.95))
        det, kp = frame(people)
        out.append([p.track_id for p in tracker.update(det, kp)])
        if t == 3:
            assert [tr.state for tr in tracker.tracks] == [TrackState.TENTATIVE]
            assert tracker.tracks[0].track_id == -1
    assert out[10] == [] and out[11] == [] and out[12] == [1]
    assert all(o == [1] for o in out[12:])                  # the t=20 false positive: no id
    # death: person leaves at t=30 -> lost for 5 frames, then removed
    for t in range(6):
        tracker.update(np.zeros((0, 5)), np.zeros((0, 17, 3)))
        if t < 5:
            assert any(tr.state == TrackState.LOST and tr.track_id == 1 for tr in tracker.tracks)
    assert tracker.tracks == []


def test_low_score_detections_keep_a_track_but_never_start_one():
    tracker = MultiPersonTracker(TrackerConfig(min_hits=1))
    ids = []
    for t in range(20):
        score = 0.3 if 5 <= t < 12 else 0.9                 # partially occluded: low score
        det, kp = frame([person(walking(100, 3, t), score=score),
                         person([500, 50, 550, 200], score=0.3)])   # never above high_score
        ids.append([p.track_id for p in tracker.update(det, kp)])
    assert all(i == [1] for i in ids)


def test_people_with_too_few_joints_are_not_reported_but_keep_their_track():
    tracker = MultiPersonTracker(TrackerConfig(min_hits=1))
    reported = []
    for t in range(10):
        det, kp = frame([person(walking(100, 3, t))])
        if 4 <= t < 7:
            kp[0, 5:, 2] = 0.1                              # 5 confident joints only
        reported.append([p.track_id for p in tracker.update(det, kp)])
    assert reported[3] == [1] and reported[4:7] == [[], [], []] and reported[7] == [1]


def test_smoothed_output_has_less_jitter_than_detections():
    rng = np.random.default_rng(3)
    tracker = MultiPersonTracker(TrackerConfig(min_hits=1))
    box = np.array([200.0, 100.0, 260.0, 260.0])
    raw, smooth = [], []
    for t in range(150):
        det, kp = frame([person(box, rng=rng, jitter=3.0)])
        p = tracker.update(det, kp)[0]
        raw.append(p.raw_box_xyxy)
        smooth.append(p.box_xyxy)
        assert p.keypoints.shape == (17, 3)
    raw, smooth = np.array(raw[20:]), np.array(smooth[20:])
    assert np.sqrt(((smooth - box) ** 2).mean()) < 0.6 * np.sqrt(((raw - box) ** 2).mean())


def test_bad_inputs_are_rejected_with_the_shape():
    tracker = MultiPersonTracker()
    with pytest.raises(ValueError, match=r"\(N, 5\).*got shape \(2, 4\)"):
        tracker.update(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(2, 17, 3\).*got shape \(1, 17, 3\)"):
        tracker.update(np.zeros((2, 5)), np.zeros((1, 17, 3)))
    tracker.update(np.zeros((0, 5)), stamp_s=1.0)
    with pytest.raises(ValueError, match="timestamps must increase"):
        tracker.update(np.zeros((0, 5)), stamp_s=1.0)
    with pytest.raises(ValueError, match="low_score"):
        TrackerConfig(low_score=0.7, high_score=0.5)


def test_ids_continue_after_reset_and_across_trackers():
    """Time jumps back (bag loop): tracks are forgotten, but ids are never given out again."""
    tracker = MultiPersonTracker(TrackerConfig(min_hits=2))
    boxes = [walking(50, 4, 0), walking(300, -4, 0)]
    for t in range(3):
        out = tracker.update(*frame([person(b) for b in boxes]), stamp_s=10.0 + t / 30)
    assert [p.track_id for p in out] == [1, 2]
    tracker.reset()
    assert tracker.tracks == [] and tracker.next_id == 3
    for t in range(3):  # earlier stamps are accepted after the reset
        out = tracker.update(*frame([person(b) for b in boxes]), stamp_s=1.0 + t / 30)
    assert [p.track_id for p in out] == [3, 4] and [p.age for p in out] == [2, 2]
    # A new tracker in the same process (node reactivated) continues the numbering.
    fresh = MultiPersonTracker(TrackerConfig(min_hits=1))
    fresh.continue_ids(tracker.next_id)
    fresh.continue_ids(2)  # never goes back
    assert [p.track_id for p in fresh.update(*frame([person(boxes[0])]))] == [5]
