"""ROS-free input handling shared by the nodes and the runner (messages as plain objects)."""
from types import SimpleNamespace as NS

import numpy as np
import pytest

from wham_ros.ros.frame_input import FrameInput, RateLimiter, imu_sample

VALUES = {"time_jump_tolerance_s": 0.5, "require_camera_info": False, "camera_frame_id": "",
          "max_stamp_ahead_s": 2.0, "camera_info_wait_s": 1.0}


def image(t_ns, w=4, h=3, encoding="rgb8", frame_id="cam"):
    sec, nsec = divmod(t_ns, 1_000_000_000)
    data = np.arange(h * w * 3, dtype=np.uint8).tobytes()
    return NS(header=NS(stamp=NS(sec=sec, nanosec=nsec), frame_id=frame_id), encoding=encoding,
              height=h, width=w, step=w * 3, data=data, is_bigendian=0)


def info(fx=10.0, w=4, h=3):
    return NS(k=[fx, 0, 2, 0, fx, 1.5, 0, 0, 1], width=w, height=h)


@pytest.fixture
def warnings():
    return []


@pytest.fixture
def inp(warnings):
    return FrameInput(lambda cause, text, key=None: warnings.append((cause, text)))


def test_intrinsics_choice(inp, warnings):
    f = inp.image(image(1_000), False, VALUES, "image").frame
    assert f.K is None and warnings[-1][0] == "camera_info_missing"
    inp.set_camera_info(info())
    f = inp.image(image(2_000), False, VALUES, "image").frame
    assert f.K[0, 0] == 10.0 and f.image.shape == (3, 4, 3) and f.frame_id == "cam"
    f = inp.image(image(3_000, w=6), False, VALUES, "image").frame
    assert f.K is None and warnings[-1][0] == "camera_info_size_mismatch"
    assert "CameraInfo is for 4x3 px but images are 6x3 px" in warnings[-1][1]
    inp.set_camera_info(info(fx=0.0))
    assert inp.camera_info is None and warnings[-1][0] == "camera_info_uncalibrated"
    assert inp.image(image(4_000), False, {**VALUES, "require_camera_info": True}, "image").frame is None
    f = inp.image(image(5_000), False, {**VALUES, "camera_frame_id": "over"}, "image").frame
    assert f.frame_id == "over"


def test_stamp_order_and_time_jumps(inp, warnings):
    t = 10_000_000_000
    assert inp.image(image(t), False, VALUES, "image").jumped_back_ns == 0
    d = inp.image(image(t), False, VALUES, "image")  # same stamp: dropped
    assert d.frame is None and warnings[-1][0] == "image_stamp_not_increasing"
    d = inp.image(image(t - 400_000_000), False, VALUES, "image")  # within the tolerance
    assert d.frame is None and d.jumped_back_ns == 0
    d = inp.image(image(t - 2_000_000_000), False, VALUES, "image")  # bag loop
    assert d.frame is not None and d.jumped_back_ns == 2_000_000_000
    inp.reset()
    assert inp.image(image(5), False, VALUES, "image").jumped_back_ns == 0


def test_bad_images_are_warned_by_cause(inp, warnings):
    assert inp.image(image(1, encoding="32FC1"), False, VALUES, "cam/image").frame is None
    assert warnings[-1][0] == "image_depth" and "on cam/image" in warnings[-1][1]
    assert "depth image, not a camera image" in warnings[-1][1]
    bad = image(2)
    bad.data = bad.data[:5]
    assert inp.image(bad, False, VALUES, "image").frame is None and warnings[-1][0] == "image_truncated"
    bad = image(3)
    bad.step = 5  # smaller than a row of 4 rgb8 pixels
    assert inp.image(bad, False, VALUES, "image").frame is None and warnings[-1][0] == "image_step"
    assert inp.image(NS(header=image(3).header, format="jpeg", data=b"xx"), True, VALUES,
                     "image/compressed").frame is None
    assert warnings[-1][0] == "image_undecodable"


def test_imu_sample(warnings):
    def msg(gyro, q=(0.0, 0.0, 0.0, 1.0), q_cov=0.0, a_cov=0.0):
        return NS(header=NS(stamp=NS(sec=1, nanosec=5), frame_id="imu"),
                  angular_velocity=NS(x=gyro[0], y=gyro[1], z=gyro[2]),
                  linear_acceleration=NS(x=0.0, y=0.0, z=9.8),
                  orientation=NS(x=q[0], y=q[1], z=q[2], w=q[3]),
                  orientation_covariance=[q_cov] + [0.0] * 8,
                  linear_acceleration_covariance=[a_cov] + [0.0] * 8)

    def warn(cause, text):
        warnings.append(cause)

    s = imu_sample(msg((0.1, 0.2, 0.3)), warn)
    assert s.stamp_ns == 1_000_000_005 and s.frame_id == "imu"
    assert s.orientation_xyzw.tolist() == [0, 0, 0, 1] and s.linear_acceleration[2] == 9.8
    s = imu_sample(msg((0.1, 0.2, 0.3), q=(0.0, 0.0, 0.0, 0.0), a_cov=-1.0), warn)
    assert s.orientation_xyzw is None and s.linear_acceleration is None
    assert imu_sample(msg((np.nan, 0.0, 0.0)), warn) is None and warnings == ["imu_non_finite"]


def test_rate_limiter_tolerates_rounded_stamps():
    r = RateLimiter()
    period = 33_333_333  # 30 Hz, rounded
    sent = []
    for i in range(10):
        if r.due(i * period, 10.0):
            r.mark(i * period)
            sent.append(i)
    assert sent == [0, 3, 6, 9]
    assert not RateLimiter().due(0, 0.0)
    r.reset()
    assert r.due(0, 10.0)


def test_each_unknown_encoding_is_named_once():
    """Warn-once is per encoding: a second unknown encoding is named too."""
    logged, counts = [], {}

    def warn(cause, text, key=None):
        counts[cause] = counts.get(cause, 0) + 1
        if (key or cause) not in {k for k, _ in logged}:
            logged.append((key or cause, text))

    inp = FrameInput(warn)
    for t, enc in enumerate(["yuv420", "yuv420", "bayer_rggb8", "bayer_rggb8"]):
        inp.image(image(t + 1, encoding=enc), False, VALUES, "image")
    assert counts == {"image_encoding": 4}
    assert ["'yuv420'" in text for _, text in logged] == [True, False]
    assert ["'bayer_rggb8'" in text for _, text in logged] == [False, True]


def test_future_stamp_rejected_without_reset(inp, warnings):
    t, day = 100_000_000_000, 86_400_000_000_000
    assert inp.image(image(t), False, VALUES, "image", now_ns=t).frame is not None
    d = inp.image(image(t + day), False, VALUES, "image", now_ns=t + 33_000_000)
    assert d.frame is None and d.jumped_back_ns == 0 and warnings[-1][0] == "image_stamp_future"
    assert "86399.967 s ahead" in warnings[-1][1] and "max_stamp_ahead_s = 2" in warnings[-1][1]
    # The stream goes on at the right time: processed, no time jump (tracks kept).
    d = inp.image(image(t + 66_000_000), False, VALUES, "image", now_ns=t + 70_000_000)
    assert d.frame is not None and d.jumped_back_ns == 0
    # Within the tolerance, without a clock (0: simulated time not started) or check off: kept.
    assert inp.image(image(t + 1_000_000_000), False, VALUES, "image", now_ns=t).frame is not None
    assert inp.image(image(t + day), False, VALUES, "image", now_ns=0).frame is not None
    assert inp.image(image(t + 2 * day), False, {**VALUES, "max_stamp_ahead_s": 0.0}, "image",
                     now_ns=t).frame is not None


def test_first_frames_wait_for_expected_camera_info(warnings):
    expected = [True]
    inp = FrameInput(lambda cause, text, key=None: warnings.append(cause), lambda: expected[0])
    t = 10_000_000_000
    d = inp.image(image(t), False, VALUES, "image")
    assert d.frame is None and d.waiting_for_camera_info and warnings == []
    d = inp.image(image(t + 500_000_000), False, VALUES, "image")
    assert d.frame is None and d.waiting_for_camera_info
    inp.set_camera_info(info())
    d = inp.image(image(t + 600_000_000), False, VALUES, "image")
    assert d.frame.K[0, 0] == 10.0  # the first processed frame has the real intrinsics
    # No CameraInfo within the wait: default intrinsics, warned; no second wait after a loop.
    inp = FrameInput(lambda cause, text, key=None: warnings.append(cause), lambda: expected[0])
    assert inp.image(image(t), False, VALUES, "image").frame is None
    d = inp.image(image(t + 1_000_000_000), False, VALUES, "image")
    assert d.frame is not None and d.frame.K is None and warnings[-1] == "camera_info_missing"
    d = inp.image(image(t - 5_000_000_000), False, VALUES, "image")
    assert d.frame is not None and d.jumped_back_ns
    # No publisher on camera_info: no wait at all.
    expected[0] = False
    inp = FrameInput(lambda cause, text, key=None: None, lambda: expected[0])
    assert inp.image(image(t), False, VALUES, "image").frame is not None


def test_node_checks_stamps_against_its_clock_or_the_imu_stream(ros):
    """Simulated time not started (clock 0): the newest IMU stamp is the reference, so a frame
    a day ahead of the IMU stream is still refused; a later clock is used when it is ahead."""
    from wham_ros.ros.diagnostics import NodeStats
    from wham_ros.ros.node import ImageInput

    clock_ns, warned = [0], []
    node = NS(stats=NodeStats(), _values=VALUES,
              get_clock=lambda: NS(now=lambda: NS(nanoseconds=clock_ns[0])),
              warn_once=lambda cause, text, key=None: warned.append(cause),
              note_reset=lambda reason: warned.append("reset"),
              get_logger=lambda: NS(info=lambda text: None))
    inp = ImageInput(node)
    t, day = 50_000_000_000, 86_400_000_000_000
    assert inp.frame((image(t), False), reset=lambda: None) is not None  # no IMU, no clock
    node.stats.stamp_rates["imu"].tick(t + 10_000_000)
    assert inp.reference_ns() == t + 10_000_000
    assert inp.frame((image(t + day), False), reset=lambda: None) is None
    assert warned[-1] == "image_stamp_future"
    clock_ns[0] = t + 2 * day  # a clock ahead of the IMU: it is the reference
    assert inp.reference_ns() == t + 2 * day
    assert inp.frame((image(t + day), False), reset=lambda: None) is not None
    assert "reset" not in warned
