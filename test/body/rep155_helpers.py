"""A human-like SMPL rest skeleton and a URDF forward kinematics for the REP-155 tests."""
import xml.etree.ElementTree as ET

import numpy as np
from scipy.spatial.transform import Rotation

from wham_ros.body.joint_names import SMPL_PARENTS

# Rest joints (SMPL body coordinates: x left, y up, z forward), m; arms straight in a T-pose
# and legs straight, as the ROS4HRI model's limbs are.
REST_JOINTS = np.array([
    [0.0, 0.0, 0.0], [0.06, -0.09, 0.0], [-0.06, -0.09, 0.0], [0.0, 0.11, -0.02],
    [0.08, -0.48, 0.0], [-0.08, -0.48, 0.0], [0.0, 0.25, 0.0], [0.10, -0.87, 0.0],
    [-0.10, -0.87, 0.0], [0.0, 0.30, 0.02], [0.12, -0.93, 0.08], [-0.12, -0.93, 0.08],
    [0.0, 0.51, -0.01], [0.08, 0.42, 0.0], [-0.08, 0.42, 0.0], [0.0, 0.57, 0.05],
    [0.17, 0.45, -0.02], [-0.17, 0.45, -0.02], [0.43, 0.44, -0.025], [-0.43, 0.44, -0.025],
    [0.69, 0.43, -0.03], [-0.69, 0.43, -0.03], [0.76, 0.43, -0.03], [-0.76, 0.43, -0.03]])


def rest_offsets():
    off = np.zeros((24, 3))
    for j, p in enumerate(SMPL_PARENTS):
        if p >= 0:
            off[j] = REST_JOINTS[j] - REST_JOINTS[p]
    return off


def urdf_fk(text, angles_by_joint):
    """Link name -> (R (3, 3), p (3,)) in the root link's frame, from a URDF string."""
    root = ET.fromstring(text)
    joints = {}
    for j in root.findall("joint"):
        axis = j.find("axis")
        joints[j.find("child").get("link")] = (
            j.get("name"), j.get("type"), j.find("parent").get("link"),
            np.array([float(v) for v in j.find("origin").get("xyz").split()]),
            None if axis is None else np.array([float(v) for v in axis.get("xyz").split()]))
    links = [link.get("name") for link in root.findall("link")]
    roots = [name for name in links if name not in joints]
    pose = {roots[0]: (np.eye(3), np.zeros(3))}

    def solve(link):
        if link not in pose:
            name, kind, parent, xyz, axis = joints[link]
            R, p = solve(parent)
            Rj = np.eye(3) if kind == "fixed" else Rotation.from_rotvec(
                axis * angles_by_joint[name]).as_matrix()
            pose[link] = (R @ Rj, p + R @ xyz)
        return pose[link]

    for name in links:
        solve(name)
    return roots, pose
