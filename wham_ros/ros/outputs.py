"""One frame's output messages as CDR bytes: the one code path of the node and the runner.

The live node publishes these bytes with rclpy (``Publisher.publish(bytes)``) and the offline
runner writes them to its rosbag2 (``OutputBag.write_raw``); both build them here with a
:class:`wham_ros.ros.serialization.CdrFactory`. The rotation conversions of a frame run once
and serve both the ``HumanArray`` and the TF message.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from wham_ros.ros import conversions, markers
from wham_ros.ros.serialization import CdrFactory
from wham_ros.types import FrameResult


def frame_output_bytes(f: CdrFactory, result: FrameResult, values: Dict[str, Any],
                       faces: Optional[np.ndarray], mesh: bool) -> Dict[str, bytes]:
    """Serialised outputs of one processed frame.

    Args:
        f: the CDR factory (one per thread).
        result: the pipeline's result for the frame.
        values: node parameters (``contact_threshold``, ``publish_vertices``, ``publish_tf``,
            ``publish_camera_tf``, ``fixed_frame``). The camera transform is sent only without
            a fixed frame (with one the camera frame is the robot's) and only when the
            caller has not found the camera frame parented already (set
            ``publish_camera_tf`` false then); nothing world-framed is sent for a frame without
            a world pose (``result.world_frame_id`` empty).
        faces: (F, 3) SMPL triangles for the mesh marker, or None.
        mesh: also build the mesh marker.

    Returns:
        ``humans`` (HumanArray), ``markers`` (skeleton + contacts MarkerArray, with a world
        pose), ``tf`` (TFMessage, only when there is a transform to send), ``mesh``
        (MarkerArray, only when ``mesh`` and with a world pose).
    """
    humans = conversions.sorted_humans(result)
    rotations = conversions.human_rotations(humans) if humans else None
    thr = values["contact_threshold"]
    out = {"humans": f.serialize(conversions.result_to_msg(
        f, result, thr, values["publish_vertices"], rotations))}
    world = bool(result.world_frame_id)
    if world:  # the markers are world-framed
        out["markers"] = f.serialize(markers.skeleton_markers(f, result, thr))
    bodies = values["publish_tf"] and bool(humans) and world
    camera = (values["publish_camera_tf"] and not values.get("fixed_frame")
              and result.T_world_camera is not None and world)
    if bodies or camera:
        out["tf"] = f.serialize(conversions.tf_msg(f, result, bodies, camera, rotations))
    if mesh and world:
        out["mesh"] = f.serialize(markers.mesh_markers(f, result, faces))
    return out
