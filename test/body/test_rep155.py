"""REP-155 body model from SMPL: frames, joint angles through the URDF's own kinematics, sizes, 2D."""
import numpy as np
import pytest
from rep155_helpers import REST_JOINTS, rest_offsets, urdf_fk
from scipy.spatial.transform import Rotation

from wham_ros.body import rep155
from wham_ros.body.joint_names import COCO_JOINT_NAMES, SMPL_JOINT_NAMES
from wham_ros.body.kinematics import forward_kinematics, global_rotations
from wham_ros.body.kinematics import rest_offsets as offsets_from_pose

J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
A = rep155.A_REP_SMPL


def _random_pose(rng, flex_axes):
    """SMPL body pose: random shoulders, hips, spine and head; elbows/knees flex about ``flex_axes``."""
    pose = np.stack([np.eye(3)] * 23)
    for name in ("left_hip", "right_hip", "left_shoulder", "right_shoulder", "spine1", "head",
                 "left_collar", "right_collar"):
        pose[J[name] - 1] = Rotation.from_rotvec(rng.normal(0, 0.5, 3)).as_matrix()
    for name, (axis, lo, hi) in flex_axes.items():
        pose[J[name] - 1] = Rotation.from_rotvec(axis * rng.uniform(lo, hi)).as_matrix()
    return pose


def test_rep155_axes_are_forward_left_up():
    # A person facing world +y, upright: SMPL forward (+z) -> world +y, SMPL up (+y) -> world +z
    R_world_smpl = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    R = rep155.rep_body_rotation(R_world_smpl)
    np.testing.assert_allclose(R[:, 0], [0, 1, 0])   # x forward
    np.testing.assert_allclose(R[:, 2], [0, 0, 1])   # z up
    np.testing.assert_allclose(R[:, 1], [-1, 0, 0])  # y left (the person's left is world -x)
    assert np.isclose(np.linalg.det(R), 1.0)


def test_rest_offsets_recovered_from_any_posed_frame():
    rng = np.random.default_rng(0)
    off = rest_offsets()
    pose = np.stack([Rotation.from_rotvec(rng.normal(0, 0.4, 3)).as_matrix() for _ in range(23)])
    root = Rotation.from_rotvec(rng.normal(0, 1, 3)).as_matrix()
    joints = forward_kinematics(off, root, pose, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(offsets_from_pose(joints, root, pose), off, atol=1e-12)


def test_urdf_has_the_ros4hri_joints_and_the_persons_sizes():
    lengths = rep155.link_lengths(rest_offsets())
    assert lengths["upperarm_length"] == pytest.approx(np.linalg.norm(REST_JOINTS[18] - REST_JOINTS[16]))
    assert lengths["tibia_length"] == pytest.approx(np.linalg.norm(REST_JOINTS[7] - REST_JOINTS[4]))
    assert lengths["waist_length"] == pytest.approx(0.12)
    text = rep155.urdf("7", lengths)
    roots, pose = urdf_fk(text, {f"{n}_7": 0.0 for n in rep155.JOINT_NAMES})
    assert roots == ["body_7"]
    import xml.etree.ElementTree as ET
    revolute = [j.get("name") for j in ET.fromstring(text).findall("joint") if j.get("type") == "revolute"]
    assert sorted(revolute) == sorted(f"{n}_7" for n in rep155.JOINT_NAMES)
    # zero angles: limbs hang straight down with the person's lengths
    sh, el, wr = (pose[f"l_{n}_7"][1] for n in ("y_shoulder", "elbow", "wrist"))
    np.testing.assert_allclose(el - sh, [0, 0, -lengths["upperarm_length"]], atol=1e-9)
    np.testing.assert_allclose(wr - el, [0, 0, -lengths["forearm_length"]], atol=1e-9)
    np.testing.assert_allclose(pose["r_y_hip_7"][1], [0, -0.06, 0], atol=1e-9)


def test_joint_angles_reproduce_smpl_limb_directions():
    off = rest_offsets()
    lengths = rep155.link_lengths(off)
    text = rep155.urdf("3", lengths)
    # Elbow/knee flexion axes of the model in SMPL joint coordinates: the model link's -y.
    flex = {}
    for side in ("left", "right"):
        for joint, child, lo, hi in (("shoulder", "elbow", 0.1, 2.0), ("hip", "knee", -2.0, -0.1)):
            C = rep155._smallest_rotation(np.array([0, 0, -1.0]), A @ off[J[f"{side}_{child}"]])
            flex[f"{side}_{child}"] = (A.T @ C @ np.array([0, -1.0, 0]), lo, hi)
    rng = np.random.default_rng(4)
    for _ in range(20):
        pose = _random_pose(rng, flex)
        angles = rep155.joint_angles(pose, off)
        _, fk = urdf_fk(text, {f"{n}_3": a for n, a in zip(rep155.JOINT_NAMES, angles)})
        posed = A @ forward_kinematics(off, np.eye(3), pose, np.zeros(3)).T  # 3 x 24, REP axes
        for s, side in (("l", "left"), ("r", "right")):
            for a, b, c, smpl_a, smpl_b, smpl_c in (
                    ("y_shoulder", "elbow", "wrist", "shoulder", "elbow", "wrist"),
                    ("y_hip", "knee", "ankle", "hip", "knee", "ankle")):
                pa, pb, pc = (fk[f"{s}_{n}_3"][1] for n in (a, b, c))
                qa, qb, qc = (posed[:, J[f"{side}_{n}"]] for n in (smpl_a, smpl_b, smpl_c))
                for (u0, u1), (v0, v1) in (((pa, pb), (qa, qb)), ((pb, pc), (qb, qc))):
                    u, v = u1 - u0, v1 - v0
                    np.testing.assert_allclose(u / np.linalg.norm(u), v / np.linalg.norm(v), atol=1e-6)
        # the head link has SMPL's head orientation (relative to the pitched torso)
        head = A @ global_rotations(np.eye(3), pose)[J["head"]] @ A.T
        np.testing.assert_allclose(fk["head_3"][0], head, atol=1e-6)


def test_t_pose_angles_within_limits():
    off = rest_offsets()
    angles = dict(zip(rep155.JOINT_NAMES, rep155.joint_angles(np.stack([np.eye(3)] * 23), off)))
    assert angles["l_p_shoulder"] == pytest.approx(np.pi / 2, abs=0.05)  # arms raised sideways
    assert angles["r_p_shoulder"] == pytest.approx(np.pi / 2, abs=0.05)
    for n in ("waist", "l_elbow", "r_elbow", "l_knee", "r_knee"):
        assert angles[n] == pytest.approx(0.0, abs=1e-6)
    # the person's rest legs splay outwards by atan(0.02 / 0.39): abduction about the hip's x
    assert angles["l_p_hip"] == pytest.approx(np.arctan2(0.02, 0.39), abs=1e-6)
    assert angles["r_p_hip"] == pytest.approx(np.arctan2(0.02, 0.39), abs=1e-6)


def test_skeleton2d_order_and_neck():
    kp = np.zeros((17, 3))
    kp[:, 0] = np.arange(17) * 10.0
    kp[:, 1] = np.arange(17) * 5.0
    kp[:, 2] = np.linspace(0.1, 0.9, 17)
    sk = rep155.skeleton2d(kp, 200, 100)
    assert sk.shape == (18, 3)
    coco = list(COCO_JOINT_NAMES)
    for i, name in enumerate(rep155.SKELETON2D_NAMES):
        if name == "neck":
            sh = kp[[coco.index("left_shoulder"), coco.index("right_shoulder")]]
            np.testing.assert_allclose(sk[i], [sh[:, 0].mean() / 200, sh[:, 1].mean() / 100, sh[:, 2].min()])
        else:
            k = kp[coco.index(name)]
            np.testing.assert_allclose(sk[i], np.clip([k[0] / 200, k[1] / 100, k[2]], 0, 1))
    # hri_msgs/Skeleton2D constants: NOSE 0, NECK 1, RIGHT_SHOULDER 2, LEFT_HIP 11, RIGHT_EAR 17
    assert rep155.SKELETON2D_NAMES[2] == "right_shoulder" and rep155.SKELETON2D_NAMES[11] == "left_hip"
    assert rep155.SKELETON2D_NAMES[17] == "right_ear"
    np.testing.assert_allclose(rep155.normalized_roi([-5, 10, 100, 120], 200, 100), [0, 0.1, 0.5, 1.0])


def test_rest_offsets_and_link_lengths_from_the_smpl_model(smpl_arrays):
    """The person's skeleton recovered from one posed SMPL output (as the node does) equals the
    body model's own rest joints for those betas, whatever the pose."""
    import torch

    from wham_ros.body.joint_names import SMPL_PARENTS
    from wham_ros.body.lbs import blend_shapes
    from wham_ros.body.smpl import SMPLBody

    body = SMPLBody(smpl_arrays, dtype=torch.float64)
    rng = np.random.default_rng(2)
    betas = torch.from_numpy(rng.normal(0, 1, (1, 10)))
    root = Rotation.from_rotvec(rng.normal(0, 1, 3)).as_matrix()
    pose = Rotation.from_rotvec(rng.normal(0, 0.4, (23, 3))).as_matrix()
    out = body(torch.from_numpy(root)[None, None], torch.from_numpy(pose)[None], betas)
    offsets = offsets_from_pose(out.smpl_joints[0].numpy(), root, pose)
    rest = (body.J_template + blend_shapes(betas, body.J_shapedirs))[0].numpy()  # 24 x 3
    expected = np.zeros((24, 3))
    for j, p in enumerate(SMPL_PARENTS):
        if p >= 0:
            expected[j] = rest[j] - rest[p]
    np.testing.assert_allclose(offsets, expected, atol=1e-9)
    lengths = rep155.link_lengths(offsets)
    assert lengths["tight_length"] == pytest.approx(np.mean(
        [np.linalg.norm(rest[J[f"{s}_knee"]] - rest[J[f"{s}_hip"]]) for s in ("left", "right")]))
