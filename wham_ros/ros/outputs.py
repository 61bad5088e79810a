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
            ``publish_camera_tf``).
        faces: (F, 3) SMPL triangles for the mesh marker, or None.
        mesh: also build the mesh marker.

    Returns:
        ``humans`` (HumanArray), ``markers`` (skeleton + contacts MarkerArray), ``tf``
        (TFMessage, only when there is a transform to send), ``mesh`` (MarkerArray, only when
        ``mesh``).
    """
    humans = conversions.sorted_humans(result)
    rotations = conversions.human_rotations(humans) if humans else None
    thr = values["contact_threshold"]
    out = {
        "humans": f.serialize(conversions.result_to_msg(
            f, result, thr, values["publish_vertices"], rotations)),
        "markers": f.serialize(markers.skeleton_markers(f, result, thr)),
    }
    bodies = values["publish_tf"] and bool(humans)
    camera = values["publish_camera_tf"] and result.T_world_camera is not None
    if bodies or camera:
        out["tf"] = f.serialize(conversions.tf_msg(f, result, bodies, camera, rotations))
    if mesh:
        out["mesh"] = f.serialize(markers.mesh_markers(f, result, faces))
    return out
