"""--export: track_<id>.npz keys and the BVH round trip through our own parser."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fake_pipeline import make_human
from wham_ros.body.joint_names import SMPL_JOINT_NAMES, SMPL_PARENTS
from wham_ros.body.kinematics import forward_kinematics
from wham_ros.export.bvh import axes, dfs_order, read_bvh, write_bvh
from wham_ros.export.tracks import TrackExporter
from wham_ros.types import FrameResult


def _motion(rng, F=12):
    offsets = rng.normal(0, 0.15, (24, 3))
    offsets[0] = 0.0
    root_pos = np.cumsum(rng.normal(0, 0.02, (F, 3)), axis=0) + [1.0, 2.0, 0.9]
    root = Rotation.from_rotvec(rng.normal(0, 1.0, (F, 3))).as_matrix()
    body = Rotation.from_rotvec(rng.normal(0, 0.6, (F * 23, 3))).as_matrix().reshape(F, 23, 3, 3)
    return offsets, root_pos, root, body


@pytest.mark.parametrize("up", ["z", "y"])
def test_bvh_round_trip_hierarchy_rotations_and_positions(tmp_path, up):
    rng = np.random.default_rng(1)
    offsets, root_pos, root, body = _motion(rng)
    path = tmp_path / "a.bvh"
    with open(path, "w") as fh:
        write_bvh(fh, offsets, root_pos, root, body, 1 / 30, up)
    bvh = read_bvh(path)
    M, W = axes(up)
    order = dfs_order(SMPL_PARENTS)
    # hierarchy: SMPL names and parents, in depth-first order, with the person's offsets
    assert bvh.names == [SMPL_JOINT_NAMES[j] for j in order]
    assert [bvh.names[p] if p >= 0 else None for p in bvh.parents] == [
        SMPL_JOINT_NAMES[SMPL_PARENTS[j]] if SMPL_PARENTS[j] >= 0 else None for j in order]
    np.testing.assert_allclose(bvh.offsets[1:], (offsets @ M.T)[order][1:], atol=1e-6)
    assert bvh.frame_time == pytest.approx(1 / 30) and bvh.motion.shape == (12, 6 + 23 * 3)
    # the same joint rotations back (file axes -> SMPL axes)
    R = bvh.rotations()  # F x 24 x 3 x 3, file order
    back = np.empty_like(R)
    back[:, order] = R
    np.testing.assert_allclose(M.T @ back[:, 1:] @ M, body, atol=1e-5)
    np.testing.assert_allclose(W.T @ back[:, 0] @ M, root, atol=1e-5)
    np.testing.assert_allclose(bvh.root_positions() @ W, root_pos, atol=1e-6)
    # forward kinematics of the file = the SMPL joints in the file's axes
    for f in (0, 7):
        glob = {}
        for k, name in enumerate(bvh.names):
            p = bvh.parents[k]
            if p < 0:
                glob[k] = (R[f, k], bvh.root_positions()[f])
            else:
                Rp, tp = glob[p]
                glob[k] = (Rp @ R[f, k], tp + Rp @ bvh.offsets[k])
        ours = np.array([glob[k][1] for k in range(24)])
        smpl = forward_kinematics(offsets, root[f], body[f], root_pos[f])[order] @ W.T
        np.testing.assert_allclose(ours, smpl, atol=1e-5)


def test_rest_skeleton_stands_up_along_the_chosen_axis(tmp_path):
    offsets = np.zeros((24, 3))
    offsets[[3, 6, 9, 12, 15]] = [0.0, 0.12, 0.0]  # spine and head straight up (SMPL y)
    for up, axis in (("z", 2), ("y", 1)):
        path = tmp_path / f"{up}.bvh"
        with open(path, "w") as fh:
            write_bvh(fh, offsets, np.zeros((1, 3)), np.eye(3)[None], np.stack([np.eye(3)] * 23)[None],
                      1 / 30, up)
        bvh = read_bvh(path)
        head = bvh.offsets[bvh.names.index("head")]
        assert head[axis] == pytest.approx(0.12) and abs(head).sum() == pytest.approx(0.12)


def test_malformed_bvh_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.bvh"
    path.write_text("HIERARCHY\nROOT pelvis\n{\nOFFSET 0 0 0\nCHANNELS 3 Xrotation Yrotation Zrotation\n}\n"
                    "MOTION\nFrames: 2\nFrame Time: 0.033\n0 0 0\n")
    with pytest.raises(ValueError, match="3 motion values for 2 frames x 3 channels"):
        read_bvh(path)
    with pytest.raises(ValueError, match="Unknown BVH up axis"):
        axes("x")


def _result(stamp_ns, track_ids):
    return FrameResult(stamp_ns, "cam", "map", humans=[make_human(t, 1, stamp_ns * 1e-9) for t in track_ids])


def test_track_npz_keys_and_bvh_on_a_30fps_grid(tmp_path):
    exp = TrackExporter(tmp_path / "out", bvh_up="y")
    step = 33_333_333
    stamps = [0, step, 2 * step, 5 * step, 6 * step]  # frames 3 and 4 missing for track 1
    for i, t in enumerate(stamps):
        exp.add(None, _result(t, [1] if i >= 3 else [1, 2]))
    paths = exp.write()
    assert sorted(p.name for p in paths) == ["track_1.bvh", "track_1.npz", "track_2.bvh", "track_2.npz"]
    with np.load(tmp_path / "out" / "track_1.npz", allow_pickle=False) as z:
        assert set(z.files) == {
            "track_id", "stamps_ns", "world_frame_id", "camera_frame_id", "global_orient_world",
            "global_orient_cam", "body_pose", "betas", "trans_world", "trans_cam", "pelvis_world",
            "root_velocity_world", "heading_rate", "contact", "rest_offsets"}
        assert int(z["track_id"]) == 1 and str(z["world_frame_id"]) == "map"
        np.testing.assert_array_equal(z["stamps_ns"], stamps)
        hs = exp.tracks[1]
        np.testing.assert_allclose(Rotation.from_rotvec(z["body_pose"].reshape(-1, 3)).as_matrix(),
                                   np.stack([h.body_pose for h in hs]).reshape(-1, 3, 3), atol=1e-9)
        np.testing.assert_allclose(Rotation.from_rotvec(z["global_orient_world"]).as_matrix(),
                                   np.stack([h.global_orient_world for h in hs]), atol=1e-9)
        np.testing.assert_allclose(z["trans_world"], np.stack([h.trans_world for h in hs]))
        np.testing.assert_allclose(z["contact"], np.stack([h.contact for h in hs]))
        assert z["betas"].shape == (5, 10) and z["rest_offsets"].shape == (24, 3)
    bvh = read_bvh(tmp_path / "out" / "track_1.bvh")
    assert len(bvh.motion) == 7  # 0..6 at 30 fps; frames 3, 4 hold frame 2
    _, W = axes("y")
    pelvis = np.stack([h.smpl_joints_world[0] for h in exp.tracks[1]])
    np.testing.assert_allclose(bvh.root_positions() @ W, pelvis[[0, 1, 2, 2, 2, 3, 4]], atol=1e-6)
    assert len(read_bvh(tmp_path / "out" / "track_2.bvh").motion) == 3
    # joint rotations of the file are the track's (held over the gap)
    R = bvh.rotations()
    order = dfs_order(SMPL_PARENTS)
    M, _ = axes("y")
    k = order.index(J := SMPL_JOINT_NAMES.index("left_knee"))
    np.testing.assert_allclose(M.T @ R[5, k] @ M, exp.tracks[1][3].body_pose[J - 1], atol=1e-5)
