"""Input rates from message stamps, the camera-rate warning and the status levels (no graph)."""
import time

import pytest

from wham_ros.ros.diagnostics import (STALE, WARN, NodeStats, StampRateMeter, camera_rate_warning,
                                      level_and_message)


def feed(stats, camera_hz, seconds, processed_every=1):
    """Images at ``camera_hz`` over the last ``seconds`` of wall time (stamps in step); every
    n-th is processed, the others are dropped (replaced while the worker was busy)."""
    n = int(camera_hz * seconds)
    wall_start = time.monotonic() - seconds
    for i in range(n):
        t = i / camera_hz
        stats.stamp_rates["image"].tick(int(5e9 + t * 1e9), now=wall_start + t)
        if i % processed_every == 0:
            stats.rates["processed"].tick(now=wall_start + t)
        else:
            stats.dropped_frames += 1
    return stats.snapshot()


def test_stamp_rate_is_the_sensor_rate_and_restarts_after_a_loop():
    meter = StampRateMeter(window_s=5.0)
    for i in range(120):  # 60 Hz stamps, delivered in bursts of wall time
        meter.tick(1_000_000_000 + i * 16_666_667, now=10.0 + (i // 30))
    assert meter.rate_hz(now=13.0) == pytest.approx(60.0, rel=1e-3)
    assert meter.rate_hz(now=20.0) == 0.0  # nothing arrived for a window: stream stopped
    meter.tick(0, now=21.0)  # bag loop: the window starts again
    meter.tick(100_000_000, now=21.1)
    assert meter.rate_hz(now=21.1) == pytest.approx(10.0)


def test_camera_rate_warning_names_the_camera_rate_not_the_processed_rate():
    # A 60 Hz camera, the node keeps up with every 4th frame (15 Hz).
    stats = NodeStats()
    snap = feed(stats, 60.0, 3.0, processed_every=4)
    kind, text = camera_rate_warning(snap)
    assert kind == "slow_processing"
    assert text.startswith("Camera runs at 60.0 Hz (from image stamps) but only 15.")
    assert f"({stats.dropped_frames} dropped while busy)" in text
    # A 12 Hz camera processed in full.
    stats = NodeStats()
    snap = feed(stats, 12.0, 3.0)
    kind, text = camera_rate_warning(snap)
    assert kind == "slow_camera" and text.startswith("Camera runs at 12.0 Hz (from image stamps)")
    # 30 Hz processed in full, or too short a window to judge: nothing.
    stats = NodeStats()
    assert camera_rate_warning(feed(stats, 30.0, 3.0)) is None
    stats = NodeStats()
    assert camera_rate_warning(feed(stats, 12.0, 0.5)) is None


def test_status_after_shutdown_is_stale_not_running():
    stats = NodeStats()
    stats.state = "active"
    stats.received_frames = 1
    assert level_and_message(stats.snapshot())[1] == "running"
    stats.state = "inactive"
    assert level_and_message(stats.snapshot()) == (WARN, "node is inactive")
    stats.state = "finalized"
    assert level_and_message(stats.snapshot()) == (STALE, "node is shut down")


def test_grounding_warning_gives_a_drift_rate_while_the_bias_is_unknown_never_an_angle():
    from wham_ros.geometry.grounding import GroundingConfig, WorldGrounding
    from wham_ros.ros.diagnostics import grounding_problem
    from wham_ros.types import ImuSample

    g = WorldGrounding(GroundingConfig(bias_sources=("rest",)))
    for k in range(200 * 60):  # a minute of turning at 0.3 rad/s: no rest, bias unknown
        g.add_imu(ImuSample(1_000_000_000 + k * 5_000_000, [0.0, 0.3, 0.0], [0.0, 0.0, 9.8]))
    snap = {"grounding": g.status(), "drift_warn_deg": 2.0}
    text = grounding_problem(snap)
    assert text.startswith("gyro bias unknown for 60 s") and "may drift up to 344 deg/min" in text
    assert snap["grounding"]["drift_since_rest_deg"] == 180.0  # 0.1 rad/s x 60 s = 344 deg: capped
    # Known bias but a long time without a rest: the angle, capped, and where the bias came from.
    g2 = {**snap["grounding"], "gyro_bias_source": "estimated", "gyro_bias_from": "rest+image",
          "drift_rate_deg_per_min": 0.8}
    text = grounding_problem({"grounding": g2, "drift_warn_deg": 2.0})
    assert "may have drifted more than 180 deg" in text and "gyro bias from rest+image" in text
    g3 = {**g2, "drift_since_rest_deg": 1.0, "image_bias_state": "standing_down",
          "image_bias_problem": "too little texture in the background"}
    assert grounding_problem({"grounding": g3, "drift_warn_deg": 2.0}) == \
        "image bias source stands down: too little texture in the background"


def test_gyro_tf_disagreement_warns_and_fixed_frame_ignores_gyro_drift():
    """With a fixed frame the camera orientation is TF's: the gyro's possible drift since rest
    does not warn, but a gyro that disagrees with TF does."""
    stats = NodeStats()
    stats.state, stats.received_frames = "active", 1
    g = {"camera_motion": "imu", "imu_samples": 100, "drift_since_rest_deg": 9.0,
         "gyro_bias_source": "unknown", "time_since_rest_s": 60.0, "drift_rate_deg_per_min": 20.0}
    snap = {**stats.snapshot(), "grounding": dict(g), "drift_warn_deg": 2.0}
    assert level_and_message(snap)[0] == WARN and "may drift up to 20 deg/min" in level_and_message(snap)[1]
    snap["grounding"] = {**g, "fixed_frame": "odom", "gyro_tf_disagreement_deg_s": 0.2}
    assert level_and_message(snap)[1] == "running"
    snap["grounding"]["gyro_tf_disagreement_deg_s"] = 12.0
    level, text = level_and_message(snap)
    assert level == WARN and "gyro and TF disagree on the camera rotation by 12.0 deg/s" in text


def test_diagnostics_report_the_tracker_counters(typestore):
    from wham_ros.ros.diagnostics import diagnostics_msg
    from wham_ros.ros.factory import RosbagsFactory

    snap = NodeStats().snapshot()
    snap["tracking"] = {"reidentified": 3, "reid_ambiguous": 1, "remembered_ids": 2,
                        "cmc": "gyro", "cmc_skipped_frames": 0}
    msg = diagnostics_msg(RosbagsFactory(typestore), snap, 0, "wham")
    values = {kv.key: kv.value for kv in msg.status[0].values}
    assert values["tracking.reidentified"] == "3" and values["tracking.reid_ambiguous"] == "1"
    assert values["tracking.cmc"] == "gyro" and values["tracking.remembered_ids"] == "2"
