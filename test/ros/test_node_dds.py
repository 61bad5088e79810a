"""The WHAM node over real DDS (rclpy + Fast DDS) in a loopback-only network namespace.

One scenario run (scenario_node.py, ~5 s) drives the node with a pipeline double and
records every output; the tests below check its parts.
"""
import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import netns  # noqa: E402

T0 = 10_000_000_000


@pytest.fixture(scope="module")
def scenario():
    proc = netns.run_isolated([sys.executable, str(HERE / "scenario_node.py"), "main"])
    return netns.result_of(proc, "scenario"), proc.stderr


def test_human_array_stamps_frames_and_ids(scenario):
    out, _ = scenario
    sent_good = {T0, T0 + 50_000_000, T0 + 100_000_000, T0 + 200_000_000, T0 - 5_000_000_000}
    stamps = {m["stamp"] for m in out["humans"]}
    assert sent_good <= stamps
    for m in out["humans"]:
        assert m["frame_id"] == "test_cam_optical" and m["world_frame_id"] == "test_world"
        assert [p["track_id"] for p in m["people"]] == [1, 2]
        assert [p["body_id"] for p in m["people"]] == ["b1", "b2"]
        for p in m["people"]:
            assert p["frame_id"] == "test_cam_optical"
            assert p["n_vertices"] == 30 * 3  # publish_vertices=true: V x 3 floats
            assert p["state"] == (0 if p["age"] == 1 else 1)
            # contact [0.9, 0.2, 0.1, 0.6] with the runtime-updated threshold 0.55
            assert p["left"] is True and p["right"] is True
            assert p["threshold"] == pytest.approx(0.55)
    first = next(m for m in out["humans"] if m["stamp"] == T0)
    # FakePipeline: trans_world = R_world_cam @ trans_cam + (0, 0, 1.5), trans_cam = (0, .2, 3 + .1 t).
    assert first["people"][0]["trans_world"] == pytest.approx([4.0, 0.0, 1.3])


def test_tf_world_to_body_frames(scenario):
    out, _ = scenario
    by_stamp = {}
    for stamp, parent, child, x, y, z in out["tf"]:
        assert parent == ("test_world" if not child.endswith("_smpl") else child[:-len("_smpl")])
        by_stamp.setdefault(stamp, {})[child] = (x, y, z)
    assert set(by_stamp[T0]) == {"body_b1", "body_b2", "body_b1_smpl", "body_b2_smpl"}
    assert by_stamp[T0]["body_b1"] == pytest.approx((4.0, 0.0, 1.3))
    assert {m["stamp"] for m in out["humans"] if m["people"]} == set(by_stamp)


def test_markers_skeleton_contacts_and_mesh(scenario):
    out, _ = scenario
    arrays = [a for a in out["markers"] if a and a[0][4] == "test_world"]
    assert arrays
    for arr in arrays:
        assert arr[0][3] == 3  # DELETEALL first
        body = {(ns, mid): (typ, n) for ns, mid, typ, action, frame, stamp, n in arr[1:]}
        assert body[("skeleton", 1)] == (5, 46)  # LINE_LIST, 23 bones x 2 ends
        assert body[("contacts", 2)] == (7, 4)  # SPHERE_LIST, 4 contact points
        assert all(frame == "test_world" for _, _, _, _, frame, _, _ in arr)
    assert out["mesh"], "mesh markers are published while subscribed"
    mesh = out["mesh"][-1]
    assert [(ns, mid, typ, n) for ns, mid, typ, n in mesh[1:]] == [("mesh", 1, 11, 30), ("mesh", 2, 11, 30)]


def test_latched_faces_and_qos(scenario):
    out, _ = scenario
    assert out["faces"] == {"num_vertices": 30, "n_triangles": 10}
    assert out["sub_qos"]["/cam/image_raw"] == ["BEST_EFFORT"]
    assert out["sub_qos"]["/cam/camera_info"] == ["BEST_EFFORT"]
    assert out["pub_qos"]["/human_pose"] == [["RELIABLE", "VOLATILE"]]
    assert out["pub_qos"]["/human_pose/mesh_faces"] == [["RELIABLE", "TRANSIENT_LOCAL"]]


def test_latest_frame_only_under_burst(scenario):
    out, _ = scenario
    burst = out["burst"]
    last = T0 + 1_000_000_000 + 19 * 10_000_000
    assert burst["processed"] < burst["sent"] / 2
    assert burst["processed_stamps"][-1] == last
    assert burst["processed_stamps"] == sorted(burst["processed_stamps"])
    assert burst["dropped"] >= 1


def test_camera_info_and_imu_reach_the_pipeline(scenario):
    out, _ = scenario
    frames = {f["stamp"]: f for f in out["pipeline_frames"]}
    assert frames[T0]["K"] is None  # no CameraInfo yet: WHAM default intrinsics
    assert frames[T0 + 100_000_000]["K"] == [[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]]
    assert frames[T0 + 100_000_000]["shape"] == [48, 64, 3]  # mono8 with row padding -> RGB
    # five finite samples in order; the NaN and inf ones never reach the pipeline
    assert [s[0] for s in out["imu_received"]] == [T0 + 60_000_000 + i * 5_000_000 for i in range(5)]
    assert out["imu_received"][0][1:] == pytest.approx([0.01, 0.02, 0.03])


def test_bad_input_keeps_node_and_tracks(scenario):
    out, log = scenario
    assert out["ages_after_bad_input"] == [4, 4]  # 3 good frames before: tracks untouched
    assert out["ages_after_jump"] == [1, 1] and out["resets"] == 1
    counts = {"image_encoding": 4}
    for cause, text in [("image_depth", "'32FC1' is a depth image, not a camera image"),
                        ("image_encoding", "unsupported image encoding 'yuv420'"),
                        ("image_encoding", "unsupported image encoding 'bayer_rggb8'"),
                        ("image_truncated", "truncated image data"),
                        ("image_step", f"image step {64} bytes is smaller than one row"),
                        ("image_empty", "empty image: 0x0 px"),
                        ("image_stamp_future", "s ahead of the clock (max_stamp_ahead_s = 2)"),
                        ("imu_non_finite", "non-finite angular_velocity"),
                        ("camera_info_missing", "no CameraInfo received")]:
        assert len(re.findall(re.escape(text), log)) == 1, f"{text} must be warned exactly once"
        assert int(out["diagnostics"]["values"][f"invalid_input.{cause}"]) == counts.get(cause, 2)
    # The future frame: how far ahead (a day, less the time it took to arrive), never processed
    # (ages went on).
    ahead = [float(a) for a in re.findall(r"stamped ([0-9.]+) s ahead of the clock", log)]
    assert len(ahead) == 1 and 86_400 - 60 < ahead[0] <= 86_400, ahead
    assert "image time jumped back by 5.200 s (bag loop or clock reset): resetting tracks" in log
    assert out["state"] == "active" and out["state_after_deactivate"] == "inactive"


def test_diagnostics_content(scenario):
    out, _ = scenario
    diag = out["diagnostics"]
    assert diag["name"] == "wham: pipeline"
    values = diag["values"]
    for key in ("image_rate_hz", "imu_rate_hz", "processed_rate_hz", "latency_ms", "dropped_frames", "active_tracks",
                "processed_frames", "execution_provider.detector"):
        assert key in values
    assert values["execution_provider.detector"] == "CPUExecutionProvider"
    assert int(values["active_tracks"]) == 2
    assert int(values["resets"]) == 1
    assert values["last_reset_reason"] == "image time jumped back by 5.200 s (bag loop or clock reset)"
    # WARN: the synthetic stamps are years old, so stamp -> publish latency is far too high.
    assert diag["level"] == 1 and "latency" in diag["message"]
    assert float(values["latency_ms"]) > 500.0
    # Where the latency goes: medians and 95th percentiles of the queueing and work stages.
    for name in ("latency", "input_wait", "processing", "publish_wait", "publish"):
        median, p95 = float(values[f"{name}_ms"]), float(values[f"{name}_p95_ms"])
        assert 0.0 <= median <= p95, name
    assert int(values["publish_dropped_frames"]) >= 0


def test_runtime_parameter_validation(scenario):
    out, _ = scenario
    assert out["set_negative_rate"] == [False, "parameter 'mesh_rate_hz' = -1.0 is invalid; "
                                               "expected a finite number >= 0.0"]
    assert out["set_bad_transport"][0] is False and "expected one of 'raw', 'compressed'" in out["set_bad_transport"][1]
    assert out["set_read_only_while_active"][0] is False
    assert "only change while the node is inactive" in out["set_read_only_while_active"][1]
    assert out["set_threshold"] == [True, ""]


@pytest.mark.parametrize("override,expected", [
    ("image_transport:=theora", "parameter 'image_transport' = 'theora' is invalid; expected one of 'raw', 'compressed'"),
    ("imu_to_camera_quat_xyzw:=[0.0,0.0,1.0]", "parameter 'imu_to_camera_quat_xyzw' = [0.0, 0.0, 1.0] is invalid; expected 4 finite numbers"),
    ("mesh_rate_hz:=fast", "invalid parameter override"),
])
def test_node_exits_with_clear_parameter_error(override, expected):
    code = "import sys; from wham_ros.ros.node import main; sys.exit(main())"
    boot = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import ros_env; ros_env.activate(); "
            + code)
    proc = netns.run_isolated([sys.executable, "-c", boot, "--ros-args", "-p", override], timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert expected in proc.stderr
