"""``wham-ros run --render``: the video read back has one frame per processed frame, the
overlay beside the world view, and each person's colour at their projected joints."""
import cv2
import numpy as np
import pytest
from render_helpers import FACES, box_human

from fake_pipeline import FakeConfig, FakePipeline
from wham_ros.offline.runner import load_parameters, main, run
from wham_ros.frontend.wham_inputs import default_intrinsics
from wham_ros.render.raster import project, track_color
from wham_ros.types import FrameResult

W, H, N = 160, 120, 6


class BoxPipeline(FakePipeline):
    """Two box people (cubes around their joints) moving right, 4 and 5 m away."""

    def process(self, frame, full_mesh=None):
        self.full_mesh_calls.append(full_mesh)
        t = frame.stamp_ns * 1e-9
        humans = [box_human(1, [-0.4 + 0.3 * t, 0.0, 4.0], t), box_human(2, [0.5 + 0.3 * t, 0.1, 5.0], t)]
        return FrameResult(frame.stamp_ns, frame.frame_id, "map", humans=humans,
                           image_size=(W, H), T_world_camera=np.eye(4))


def _video(path):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for _ in range(N):
        writer.write(np.full((H, W, 3), 100, np.uint8))
    writer.release()


def _frames(path):
    cap, out = cv2.VideoCapture(str(path)), []
    while True:
        ok, bgr = cap.read()
        if not ok:
            return out
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def test_render_video_frames_and_people_where_their_joints_project(tmp_path):
    _video(tmp_path / "in.avi")
    pipes = []

    def factory(values):
        pipes.append(BoxPipeline(FakeConfig(), faces=FACES.copy()))
        return pipes[-1]

    run(str(tmp_path / "in.avi"), str(tmp_path / "bag"), load_parameters(None, {}), progress=False,
        pipeline_factory=factory, render=str(tmp_path / "out.mp4"))
    assert all(pipes[0].full_mesh_calls)  # rendering asks for the mesh on every frame
    frames = _frames(tmp_path / "out.mp4")
    assert len(frames) == N and frames[0].shape == (H, 2 * W, 3)  # overlay | world view
    K = default_intrinsics(W, H)
    for i, pic in enumerate(frames):
        overlay, world = pic[:, :W].astype(int), pic[:, W:].astype(int)
        t = i / 10.0
        for h in (box_human(1, [-0.4 + 0.3 * t, 0.0, 4.0], t), box_human(2, [0.5 + 0.3 * t, 0.1, 5.0], t)):
            uv, _ = project(h.coco_joints_cam, K)
            color = np.array(track_color(h.track_id))
            inside = [(int(round(u)), int(round(v))) for u, v in uv if 2 <= u < W - 2 and 2 <= v < H - 2]
            close = [np.abs(overlay[v, u] - color).max() < 90 for u, v in inside]
            assert len(inside) >= 8 and np.mean(close) >= 0.6, (i, h.track_id, close)
        assert np.abs(overlay[1, 1] - 100).max() < 20  # background untouched
        assert np.abs(world - [32, 32, 40]).max(-1).mean() > 0.5  # the world view has content


def test_render_needs_a_video_suffix(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "in.avi"), "-o", str(tmp_path / "bag"), "--render", str(tmp_path / "x.gif")])
    assert "--render" in capsys.readouterr().err


def test_write_still_takes_one_frame_at_half_size(tmp_path):
    import cv2

    from wham_ros.render.video import write_still

    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 32))
    for i in range(8):  # frame i is filled with grey level 30 i
        writer.write(np.full((32, 64, 3), 30 * i, np.uint8))
    writer.release()
    assert write_still(video, tmp_path / "still.png", at=0.5)
    still = cv2.imread(str(tmp_path / "still.png"))
    assert still.shape == (16, 32, 3) and abs(float(still.mean()) - 120) < 8  # frame 4
    assert not write_still(tmp_path / "missing.avi", tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
