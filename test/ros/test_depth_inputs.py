"""Depth on /diagnostics and the depth stream's message handling (no graph)."""
import time
from types import SimpleNamespace

import numpy as np
import pytest

from wham_ros.ros.depth_input import DepthInput
from wham_ros.ros.diagnostics import OK, WARN, NodeStats, diagnostics_msg, level_and_message
from wham_ros.ros.factory import RosbagsFactory
from wham_ros.types import CameraFrame


def active(stats):
    stats.state, stats.received_frames = "active", 10
    return stats


def test_depth_status_rate_age_share_and_stale_warning(typestore):
    stats = active(NodeStats())
    assert "depth_topic" not in {kv.key for kv in diagnostics_msg(
        RosbagsFactory(typestore), stats.snapshot(), 0, "wham").status[0].values}
    stats.depth_topic = "/camera/aligned_depth_to_color/image_raw"
    assert level_and_message(stats.snapshot()) == (
        WARN, "no depth image received on /camera/aligned_depth_to_color/image_raw: people are "
        "placed monocular")
    now = time.monotonic()
    for i in range(60):  # 30 Hz stamps
        stats.stamp_rates["depth"].tick(i * 33_333_333, now=now - 2.0 + i / 30)
    stats.depth_received_at = now
    stats.count_depth(True, 2, 2)
    stats.count_depth(True, 2, 1)
    stats.count_depth(False, 2, 0)
    snap = stats.snapshot()
    assert level_and_message(snap) == (OK, "running")
    assert snap["depth_rate_hz"] == pytest.approx(30.0, rel=0.02)
    assert snap["depth_share"] == pytest.approx(0.5) and snap["frames_without_depth"] == 1
    values = {kv.key: kv.value for kv in diagnostics_msg(
        RosbagsFactory(typestore), snap, 0, "wham").status[0].values}
    assert values["depth_topic"] == stats.depth_topic and values["depth_share"] == "0.500"
    stats.depth_received_at = now - 3.0  # the stream stopped
    level, text = level_and_message(stats.snapshot())
    assert level == WARN and text.startswith("depth image stale on /camera/aligned_depth_to_color"
                                             "/image_raw (last received 3.0 s ago)")


def depth_msg(metres, t_ns, frame="cam", encoding="32FC1"):
    data = np.asarray(metres, "<f4")
    return SimpleNamespace(encoding=encoding, height=data.shape[0], width=data.shape[1],
                           step=data.shape[1] * 4, data=data.tobytes(), is_bigendian=0,
                           header=SimpleNamespace(stamp=SimpleNamespace(sec=0, nanosec=t_ns),
                                                  frame_id=frame))


def test_depth_input_pairs_by_stamp_and_refuses_once_per_cause():
    warned = []
    depth = DepthInput(lambda cause, text, key=None: warned.append(cause), max_dt_s=0.01, topic="d")
    frame = lambda t: CameraFrame(t, np.zeros((2, 3, 3), np.uint8), "cam")  # noqa: E731
    depth.add(depth_msg(np.full((2, 3), 4.0), 1_000))
    depth.add(depth_msg(np.full((2, 3), 4.0), 2_000_000, encoding="mono16"))
    depth.add(depth_msg(np.full((2, 3), 5.0), 40_000_000))
    assert depth.attach(frame(1_000), "cam").depth[0, 0] == 4.0
    assert depth.attach(frame(35_000_000), "cam").depth[0, 0] == 5.0  # nearest within 10 ms
    assert depth.attach(frame(20_000_000), "cam").depth is None  # none within 10 ms
    assert depth.attach(frame(2_000_000), "cam").depth is None  # paired but refused
    assert depth.attach(frame(3_000_000), "cam").depth is None  # again: warned once
    depth.add(depth_msg(np.full((2, 3), 6.0), 60_000_000, frame="other"))
    assert depth.attach(frame(60_000_000), "cam").depth is None  # another frame: refused
    # every refusal is counted; the caller logs each cause once
    assert warned == ["depth_encoding", "depth_encoding", "depth_frame"]
    assert (depth.received, depth.refused, depth.paired, depth.unpaired) == (4, 3, 2, 4)
    assert depth.store.newest_stamp_ns == 60_000_000


def test_person_depth_crosses_the_split_in_person_observation(typestore):
    """Split mode: the front-end's per-person depth reaches the WHAM stage (0 = none)."""
    from wham_ros.ros import conversions as C
    from wham_ros.types import PersonObservation

    f = RosbagsFactory(typestore)
    rng = np.random.default_rng(0)
    for depth, expected in ((4.25, 4.25), (None, None)):
        obs = PersonObservation(
            track_id=3, bbox_xyxy=rng.random(4), keypoints=rng.random((17, 3)),
            bbox_cxcys=rng.random(3), x=rng.random(37), mask=rng.random(17) > 0.5,
            features=rng.random(1024).astype(np.float32), root_depth_m=depth)
        raw = typestore.serialize_cdr(C.observation_to_msg(f, obs), C.PERSON_OBS)
        back = C.msg_to_observation(typestore.deserialize_cdr(raw, C.PERSON_OBS))
        assert back.root_depth_m == expected
