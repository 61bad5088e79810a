"""``wham-ros demo``: synthetic models + recording through the real offline runner."""
from rosbags.highlevel import AnyReader

from wham_ros.cli.demo import main


def test_demo_writes_models_recording_and_output(tmp_path, capsys):
    assert main([str(tmp_path / "demo"), "--frames", "6"]) == 0
    out = capsys.readouterr().out
    assert "output bag" in out and "/human_pose/mesh_faces" in out
    for f in ("wham_vit_bedlam_w_3dpw.pth.tar", "detector.onnx", "vitpose.onnx", "hmr2.onnx",
              "body_models/smpl/SMPL_NEUTRAL.npz"):
        assert (tmp_path / "demo" / "models" / f).is_file(), f
    with AnyReader([tmp_path / "demo" / "output"]) as reader:
        conns = [c for c in reader.connections if c.topic == "/human_pose"]
        msgs = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=conns)]
    assert len(msgs) == 6
    assert sorted(h.track_id for h in msgs[-1].humans) == [1, 2]
    # a second run into the same folder refuses to overwrite
    assert main([str(tmp_path / "demo"), "--frames", "6"]) == 2
