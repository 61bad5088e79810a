"""The offline runner feeds the bag's IMU to the world model as it comes, like the node.

A rosbag2 of a simulated rig (wham_ros.testing.imu_rig): IMU at 200 Hz from t = 0 with the rig
at rest for 4 s before the first image, then a 0.05 rad/s pan, images at 10 Hz. A pipeline
double runs the node's real WorldGrounding (built from the runner's parameter values): the
rest before the first frame must have set the bias, and the camera TF must follow the pan
(orientation error <= 1 deg over the 20 s recording).
"""
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from bag_helpers import FRAME, H, W
from test_runner import read_back
from wham_ros.offline.runner import load_parameters, run
from wham_ros.geometry.frames import R_ZUP_YDOWN
from wham_ros.geometry.gravity import level_rotation
from wham_ros.geometry.grounding import WorldGrounding
from wham_ros.geometry.so3 import angle_between, matrix_to_quat_xyzw, quat_xyzw_to_matrix
from wham_ros.pipeline import PipelineConfig
from wham_ros.ros.frame_input import stamp_ns
from wham_ros.ros.params import pipeline_kwargs
from wham_ros.testing.imu_rig import NS, LongRig, NoisyImu, Segment
from wham_ros.types import FrameResult

T0 = 1_700_000_000 * NS
DOWN = np.array([0.0, 0.0, -1.0])


class GroundingOnly:
    """Pipeline double: the real world grounding, no people."""

    def __init__(self, values):
        self.grounding = WorldGrounding(PipelineConfig(**pipeline_kwargs(values)).grounding_config())
        self.status_at_first_frame = None

    def add_imu(self, sample):
        return self.grounding.add_imu(sample)

    def reset(self):
        self.grounding.reset()

    def process(self, frame, full_mesh=None):
        step = self.grounding.on_frame(frame.stamp_ns)
        if self.status_at_first_frame is None:
            self.status_at_first_frame = self.grounding.status()
        return FrameResult(frame.stamp_ns, frame.frame_id, "wham_world", dropped=not step.step,
                           T_world_camera=self.grounding.world.T_world_cam() if step.step else None)


def write_rig_bag(path, typestore, rig, imu):
    from wham_ros.ros.conversions import header
    from wham_ros.ros.factory import RosbagsFactory

    f = RosbagsFactory(typestore)
    samples, _ = imu.samples(rig)
    records = []
    for s in samples:
        msg = f.new("sensor_msgs/msg/Imu", header=header(f, T0 + s.stamp_ns, "imu_link"),
                    angular_velocity=f.new("geometry_msgs/msg/Vector3",
                                           **dict(zip("xyz", s.angular_velocity))),
                    linear_acceleration=f.new("geometry_msgs/msg/Vector3",
                                              **dict(zip("xyz", s.linear_acceleration))),
                    orientation_covariance=np.array([-1.0] + [0.0] * 8))
        records.append((T0 + s.stamp_ns, "/imu/data", "sensor_msgs/msg/Imu", msg))
    pixels = np.zeros((H, W, 3), np.uint8).tobytes()
    for t in np.arange(4.0, rig.duration_s - 0.2, 0.1):
        t_ns = T0 + int(round(t * NS))
        msg = f.new("sensor_msgs/msg/Image", header=header(f, t_ns, FRAME), height=H, width=W,
                    encoding="rgb8", is_bigendian=0, step=W * 3, data=np.frombuffer(pixels, np.uint8))
        records.append((t_ns + 20_000_000, "/cam/image_raw", "sensor_msgs/msg/Image", msg))  # camera latency
    records.sort(key=lambda r: r[0])
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {topic: w.add_connection(topic, msgtype, typestore=typestore)
                 for topic, msgtype in {(r[1], r[2]) for r in records}}
        for t, topic, msgtype, msg in records:
            w.write(conns[topic], t, typestore.serialize_cdr(msg, msgtype))


def test_runner_feeds_imu_as_it_comes(tmp_path, typestore):
    rig = LongRig([Segment("rest", 4.5), Segment("pan", 12.0, (0.05, 0.0, 0.0)), Segment("rest", 3.5)])
    imu = NoisyImu(rate_hz=200.0, seed=6)
    write_rig_bag(tmp_path / "in", typestore, rig, imu)
    values = load_parameters(None, {"imu_to_camera_quat_xyzw": matrix_to_quat_xyzw(imu.R_cam_imu).tolist()})
    pipes = []

    def factory(vals):
        pipes.append(GroundingOnly(vals))
        return pipes[-1]

    run(str(tmp_path / "in"), str(tmp_path / "out"), values, progress=False, copy_inputs=False,
        pipeline_factory=factory)
    first = pipes[0].status_at_first_frame
    assert first["gyro_bias_source"] == "estimated" and first["at_rest"] and first["imu_samples"] > 700
    tf = [(stamp_ns(tr.header.stamp), tr.transform.rotation)
          for _, m in read_back(tmp_path / "out", typestore)["/tf"]
          for tr in m.transforms if tr.child_frame_id == FRAME]
    assert len(tf) > 150
    t = (np.array([s for s, _ in tf], dtype=np.int64) - T0) / NS
    R_est = quat_xyzw_to_matrix(np.array([[q.x, q.y, q.z, q.w] for _, q in tf]))
    C = rig.orientations(t)
    R_true = R_ZUP_YDOWN @ level_rotation(C[0].T @ DOWN) @ C[0].T @ C
    err = np.degrees(angle_between(R_est, R_true))
    assert angle_between(C[0], C[-1]) > 0.5  # the pan turned the camera
    assert err.max() <= 1.0, err.max()
