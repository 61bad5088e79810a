"""``wham-ros run`` on a robot bag with ``fixed_frame: odom`` (real Pipeline, synthetic models,
real tf2).

The simulated robot (``wham_ros.testing.robot_world``) drives a circle arc and pans its head;
its bag has odom -> base_link and the pan joint on /tf, the camera and IMU mounts on
/tf_static. The output must put every world output in odom, place each track's first world
root at ``T_odom_cam(stamp) · root_pose_cam`` (2 cm), give no input frame a second parent, and
every body_<id> frame must resolve to odom through the robot's tree (looked up with tf2
from the output bag) -- with the gyro, and with ``camera_motion: tf`` and no IMU.
"""
import numpy as np
import pytest

from synthetic_set import load_paths
from test_runner import read_back
from test_runner_e2e import write_config
from wham_ros.testing.robot_bag import write_robot_bag
from wham_ros.offline.runner import main
from wham_ros.ros.frame_input import stamp_ns
from wham_ros.testing.robot_world import RobotWorld

import ros_env

CAMERA = "camera_optical_frame"


@pytest.fixture(scope="module")
def tf2():
    """The real tf2 (a ROS installation's); skipped with the reason when absent."""
    ok, reason = ros_env.tf2_check()
    if not ok:
        pytest.skip(reason)
    import tf2_py

    return tf2_py


def tf_buffer(tf2, bag):
    """A tf2 BufferCore with every transform of the bag's /tf and /tf_static."""
    from rclpy.duration import Duration

    from wham_ros.ros.tf_poses import _rclpy_transform
    from geometry_msgs.msg import TransformStamped

    core = tf2.BufferCore(Duration(seconds=600))
    for topic, static in (("/tf_static", True), ("/tf", False)):
        for _, m in bag.get(topic, []):
            for tr in m.transforms:
                msg = _rclpy_transform(tr, TransformStamped)
                (core.set_transform_static if static else core.set_transform)(msg, "test")
    return core


def position(p):
    return np.array([p.x, p.y, p.z])


def run_robot(tmp_path, typestore, synthetic_models, world, imu=True, extra_args=(), **params):
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_robot_bag(tmp_path / "in", typestore, world, imu=imu)
    config = write_config(tmp_path / "wham.yaml", load_paths(synthetic_models), tracker_min_hits=2,
                          **params)
    rc = main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--config", str(config),
               "--no-progress", *extra_args])
    return rc, read_back(tmp_path / "out", typestore) if rc == 0 else None


@pytest.mark.parametrize("imu,camera_motion", [(True, "imu"), (False, "tf")], ids=["gyro", "tf-no-imu"])
def test_robot_bag_in_odom(tmp_path, typestore, synthetic_models, tf2, imu, camera_motion):
    from wham_ros.ros.tf_poses import lookup_pose

    world = RobotWorld(duration_s=1.5)
    rc, bag = run_robot(tmp_path, typestore, synthetic_models, world, imu=imu,
                        fixed_frame="odom", camera_motion=camera_motion)
    assert rc == 0
    assert ("/imu/data" in bag) == imu
    arrays = bag["/human_pose"]
    assert len(arrays) == len(world.frame_times())
    assert all(m.world_frame_id == "odom" for _, m in arrays)
    first = {}
    for _, m in arrays:
        for h in m.humans:
            assert h.world_frame_id == "odom"
            first.setdefault(h.track_id, (stamp_ns(m.header.stamp), h))
    assert sorted(first) == [1, 2]
    # Each track's first world root is where the camera's pose in odom puts its camera root.
    for stamp, h in first.values():
        T = world.T_odom_cam((stamp - world.start_ns) * 1e-9)
        expected = T[:3, :3] @ position(h.root_pose_cam.position) + T[:3, 3]
        assert np.linalg.norm(position(h.root_pose_world.position) - expected) < 0.02
    # No frame gets a second parent (the node adds bodies under odom, nothing else).
    parents = {}
    for topic in ("/tf_static", "/tf"):
        for _, m in bag[topic]:
            for tr in m.transforms:
                parents.setdefault(tr.child_frame_id, set()).add(tr.header.frame_id)
    assert all(len(p) == 1 for p in parents.values()), parents
    assert parents[CAMERA] == {"camera_link"} and parents["base_link"] == {"odom"}
    assert {c for c, p in parents.items() if p == {"odom"}} == {"base_link", "body_b1", "body_b2"}
    # Every body frame resolves to odom with tf2, at its stamp, to the published root.
    core = tf_buffer(tf2, bag)
    looked_up = 0
    for _, m in arrays:
        stamp = stamp_ns(m.header.stamp)
        for h in m.humans:
            T, cause, text = lookup_pose(core, "odom", f"body_{h.body_id}", stamp)
            assert T is not None, text
            np.testing.assert_allclose(T[:3, 3], position(h.root_pose_world.position), atol=1e-6)
            if h.age == 1:  # the first frame through the robot's tree: where the camera saw it
                T_cam, _, _ = lookup_pose(core, CAMERA, f"body_{h.body_id}", stamp)
                np.testing.assert_allclose(T_cam[:3, 3], position(h.root_pose_cam.position), atol=0.02)
            looked_up += 1
    assert looked_up >= 2 * (len(arrays) - 2)


def test_tf_gap_skips_world_outputs(tmp_path, typestore, synthetic_models, tf2, caplog):
    """No /tf for 0.45 s: those images are still processed and published in the camera frame,
    without world outputs (world_frame_id empty, NaN), one warning per cause."""
    world = RobotWorld(duration_s=1.5, tf_gaps=[(0.55, 1.0)])
    rc, bag = run_robot(tmp_path, typestore, synthetic_models, world, fixed_frame="odom",
                        tf_wait_s=0.05, extra_args=["--render", str(tmp_path / "v.avi"),
                                                    "--export", str(tmp_path / "tracks")])
    assert rc == 0
    arrays = bag["/human_pose"]
    assert len(arrays) == len(world.frame_times())
    # /tf at 50 Hz: the last transform before the gap is at 0.54 s, the next at 1.0 s.
    gap = [0.54 < (stamp_ns(m.header.stamp) - world.start_ns) * 1e-9 < 1.0 for _, m in arrays]
    assert sum(gap) == 4
    for in_gap, (_, m) in zip(gap, arrays):
        assert m.world_frame_id == ("" if in_gap else "odom")
        for h in m.humans:
            assert np.isnan(h.root_pose_world.position.x) == in_gap
            assert np.isfinite(h.root_pose_cam.position.z)
    bodies = {stamp_ns(tr.header.stamp) for _, m in bag["/tf"] for tr in m.transforms
              if tr.child_frame_id.startswith("body_")}
    assert not bodies & {stamp_ns(m.header.stamp) for g, (_, m) in zip(gap, arrays) if g}
    assert len(bag["/human_pose/markers"]) == len(arrays) - sum(gap)  # world-framed: skipped too
    with np.load(tmp_path / "tracks" / "track_1.npz") as z:  # the export leaves the gap out
        assert str(z["world_frame_id"]) == "odom" and np.all(np.isfinite(z["trans_world"]))
        assert len(z["stamps_ns"]) == len(arrays) - 1 - sum(gap)  # min_hits 2
    assert (tmp_path / "v.avi").stat().st_size > 0
    assert caplog.text.count("no transform odom <- camera_optical_frame") == 1


def test_fixed_frame_not_in_the_bag(tmp_path, typestore, synthetic_models, tf2, caplog):
    rc, _ = run_robot(tmp_path, typestore, synthetic_models, RobotWorld(duration_s=0.3),
                      fixed_frame="map")
    assert rc == 2
    assert "fixed_frame 'map' is not a frame of the bag's /tf or /tf_static" in caplog.text
    assert "base_link, camera_link, camera_optical_frame, head_pan_link, imu_link, odom" in caplog.text
    assert not (tmp_path / "out").exists()


def test_camera_frame_with_a_parent_is_not_reparented(tmp_path, typestore, synthetic_models, caplog):
    """Without a fixed frame, the node's own world must not become the camera frame's second
    parent: no wham_world -> camera transform when the bag's tree parents the camera."""
    rc, bag = run_robot(tmp_path, typestore, synthetic_models, RobotWorld(duration_s=0.5))
    assert rc == 0
    assert "already has the TF parent 'camera_link'" in caplog.text
    node_tf = [tr for _, m in bag["/tf"] for tr in m.transforms if tr.header.frame_id == "wham_world"]
    assert node_tf and all(tr.child_frame_id.startswith("body_") for tr in node_tf)
    assert all(m.world_frame_id == "wham_world" for _, m in bag["/human_pose"])


def test_modes_that_cannot_work_are_refused(tmp_path, caplog):
    """camera_motion 'tf' needs a fixed frame; a video has no TF for one."""
    from wham_ros.offline.runner import load_parameters
    from wham_ros.ros.params import ParameterError

    with pytest.raises(ParameterError, match="fixed_frame"):
        load_parameters(None, {"camera_motion": "tf"})
    with pytest.raises(ParameterError, match="'orientation' is invalid"):
        load_parameters(None, {"camera_motion": "orientation"})
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    assert main([str(video), "-o", str(tmp_path / "out"), "--fixed-frame", "odom", "--no-progress"]) == 2
    assert "a video has no TF" in caplog.text


def test_world_anchor_observed_follows_the_camera_view(tmp_path, typestore, synthetic_models, tf2):
    """The synthetic WHAM's world trajectory is meaningless; ``observed`` keeps each root near
    where the camera sees it (through TF), ``start`` follows WHAM away from it."""
    world = RobotWorld(duration_s=1.5)
    gaps = {}
    for mode in ("start", "observed"):
        rc, bag = run_robot(tmp_path / mode, typestore, synthetic_models, world,
                            fixed_frame="odom", world_anchor=mode)
        assert rc == 0
        d = []
        for _, m in bag["/human_pose"]:
            T = world.T_odom_cam((stamp_ns(m.header.stamp) - world.start_ns) * 1e-9)
            for h in m.humans:
                seen = T[:3, :3] @ position(h.root_pose_cam.position) + T[:3, 3]
                d.append(np.linalg.norm(position(h.root_pose_world.position) - seen))
        gaps[mode] = np.array(d)
    print({k: (round(float(v.mean()), 3), round(float(v.max()), 3)) for k, v in gaps.items()})
    assert gaps["observed"].mean() < 0.5 * gaps["start"].mean()
