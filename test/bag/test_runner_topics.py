"""The runner picks the colour stream by encoding, the aligned depth for 'auto', and fails
loudly when no frame can be processed (pipeline double, no models)."""
import logging

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from test_runner import fake_factory, read_back
from wham_ros.bag.io import BagError, InputBag
from wham_ros.offline.runner import load_parameters, main, run
from wham_ros.image_conversion import rgb_to_image_fields
from wham_ros.testing.depth_scene import depth_fields

T0 = 1_700_000_000_000_000_000


def write_bag(path, typestore, streams, n=3):
    """``streams``: topic -> (frame_id, kind) with kind 'rgb8', 'mono8', '16UC1', '32FC1' or
    'info'; n messages each, 30 Hz, log time = stamp."""
    from wham_ros.ros.conversions import header
    from wham_ros.ros.factory import RosbagsFactory

    f = RosbagsFactory(typestore)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {}
        for topic, (_, kind) in sorted(streams.items()):
            msgtype = "sensor_msgs/msg/CameraInfo" if kind == "info" else "sensor_msgs/msg/Image"
            conns[topic] = (w.add_connection(topic, msgtype, typestore=typestore), msgtype)
        for i in range(n):
            t = T0 + i * 33_333_333
            for topic, (frame, kind) in sorted(streams.items()):
                hdr = header(f, t, frame)
                if kind == "info":
                    msg = f.new("sensor_msgs/msg/CameraInfo", header=hdr, width=8, height=6,
                                k=np.array([10.0, 0, 4, 0, 10.0, 3, 0, 0, 1]))
                elif kind in ("16UC1", "32FC1"):
                    msg = f.new("sensor_msgs/msg/Image", header=hdr,
                                **depth_fields(np.full((6, 8), 2.0, np.float32), kind))
                else:
                    fields = rgb_to_image_fields(np.full((6, 8, 3), 90, np.uint8))
                    if kind == "mono8":
                        fields.update(encoding="mono8", step=8, data=fields["data"][::3].copy())
                    msg = f.new("sensor_msgs/msg/Image", header=hdr, **fields)
                conn, msgtype = conns[topic]
                w.write(conn, t, typestore.serialize_cdr(msg, msgtype))


REALSENSE = {
    "/camera/camera/aligned_depth_to_color/camera_info": ("camera_color_optical_frame", "info"),
    "/camera/camera/aligned_depth_to_color/image_raw": ("camera_color_optical_frame", "16UC1"),
    "/camera/camera/color/camera_info": ("camera_color_optical_frame", "info"),
    "/camera/camera/color/image_raw": ("camera_color_optical_frame", "rgb8"),
    "/camera/camera/depth/image_rect_raw": ("camera_depth_optical_frame", "16UC1"),
    "/camera/camera/infra1/image_rect_raw": ("camera_infra1_optical_frame", "mono8"),
}
ZED = {
    "/zed/zed_node/depth/depth_registered": ("zed_left_camera_optical_frame", "32FC1"),
    "/zed/zed_node/depth/camera_info": ("zed_left_camera_optical_frame", "info"),
    "/zed/zed_node/rgb/image_rect_color": ("zed_left_camera_optical_frame", "rgb8"),
    "/zed/zed_node/rgb/camera_info": ("zed_left_camera_optical_frame", "info"),
}


@pytest.mark.parametrize("streams,colour,info,depth", [
    (REALSENSE, "/camera/camera/color/image_raw", "/camera/camera/color/camera_info",
     "/camera/camera/aligned_depth_to_color/image_raw"),
    (ZED, "/zed/zed_node/rgb/image_rect_color", "/zed/zed_node/rgb/camera_info",
     "/zed/zed_node/depth/depth_registered")], ids=["realsense", "zed"])
def test_colour_stream_and_aligned_depth_found_by_encoding_and_frame(tmp_path, typestore, streams,
                                                                     colour, info, depth):
    write_bag(tmp_path / "in", typestore, streams)
    bag = InputBag(tmp_path / "in", depth_topic="auto")
    assert (bag.image_topic, bag.camera_info_topic, bag.depth_topic) == (colour, info, depth)
    assert bag.image_choice.startswith(f"image topic {colour} (rgb8, colour); not ")
    assert "16UC1, depth" in bag.image_choice or "32FC1, depth" in bag.image_choice
    assert InputBag(tmp_path / "in").depth_topic is None  # no depth unless asked


def test_grey_stream_when_there_is_no_colour_and_never_depth(tmp_path, typestore):
    write_bag(tmp_path / "in", typestore, {"/a/depth": ("cam", "16UC1"), "/b/ir": ("cam", "mono8")})
    assert InputBag(tmp_path / "in").image_topic == "/b/ir"
    write_bag(tmp_path / "depth_only", typestore, {"/a/depth": ("cam", "16UC1")})
    with pytest.raises(BagError, match=r"no colour or grey image topic .*/a/depth \(16UC1, depth\)"):
        InputBag(tmp_path / "depth_only")


def test_depth_topic_checked_and_auto_without_an_aligned_one(tmp_path, typestore, caplog):
    streams = {k: v for k, v in REALSENSE.items() if "aligned" not in k}
    write_bag(tmp_path / "in", typestore, streams)
    with pytest.raises(BagError, match="depth topic '/nope' is not a sensor_msgs/Image topic"):
        InputBag(tmp_path / "in", depth_topic="/nope")
    with caplog.at_level(logging.WARNING):
        assert InputBag(tmp_path / "in", depth_topic="auto").depth_topic is None
    assert "no depth image topic in the colour image's frame" in caplog.text


def test_runner_exits_non_zero_when_no_frame_is_processed(tmp_path, typestore, caplog):
    """A bag whose only colour-looking stream cannot be decoded: the reason, exit 2, no output."""
    write_bag(tmp_path / "in", typestore, {"/cam/depth": ("cam", "16UC1"),
                                           "/cam/image_raw": ("cam", "rgb8")})
    store = []
    rc = main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--no-progress",
               "--image-topic", "/cam/depth"], pipeline_factory=fake_factory(store))
    assert rc == 2 and not (tmp_path / "out").exists()
    assert "none of the images of '/cam/depth' could be processed: image_depth x3" in caplog.text


def test_without_depth_topic_nothing_changes(tmp_path, typestore):
    """The same bag with and without a depth stream in it gives the same outputs."""
    write_bag(tmp_path / "in", typestore, REALSENSE)
    write_bag(tmp_path / "plain", typestore, {k: v for k, v in REALSENSE.items() if "color" in k
                                              and "aligned" not in k})
    values = load_parameters(None, {})
    for name in ("in", "plain"):
        run(str(tmp_path / name), str(tmp_path / f"out_{name}"), values, progress=False,
            copy_inputs=False, pipeline_factory=fake_factory([]))
    a, b = read_back(tmp_path / "out_in", typestore), read_back(tmp_path / "out_plain", typestore)
    assert set(a) == set(b) and len(a["/human_pose"]) == 3
    for topic in a:
        assert [t for t, _ in a[topic]] == [t for t, _ in b[topic]]


def test_unaligned_depth_refused_once_and_colour_goes_on(tmp_path, typestore, caplog):
    """The depth stream in the depth camera's own frame is refused with the reason, once; every
    colour image is still processed."""
    caplog.set_level(logging.INFO)
    write_bag(tmp_path / "in", typestore, REALSENSE, n=4)
    store = []
    rc = main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--no-progress",
               "--depth-topic", "/camera/camera/depth/image_rect_raw"],
              pipeline_factory=fake_factory(store))
    assert rc == 0
    assert caplog.text.count("refused depth image") == 1
    assert "frame 'camera_depth_optical_frame' is not the colour image's" in caplog.text
    assert "0 of 4 frames paired" in caplog.text
    assert len(read_back(tmp_path / "out", typestore)["/human_pose"]) == 4
