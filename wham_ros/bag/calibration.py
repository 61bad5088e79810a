"""Camera intrinsics for inputs without CameraInfo (videos), and the IMU -> camera rotation
of a bag's ``/tf_static``. ROS-free.

Calibration files are the YAML that ROS ``camera_calibration`` writes (and
``camera_info_manager`` reads)::

    image_width: 640
    image_height: 480
    camera_name: narrow_stereo
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, p1, p2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [...]}
    projection_matrix: {rows: 3, cols: 4, data: [...]}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional, Tuple

import numpy as np

from wham_ros.geometry.so3 import matrix_to_quat_xyzw, quat_xyzw_to_matrix


class CalibrationError(ValueError):
    """A calibration file or value is unusable (the message says what and why)."""


@dataclass
class CameraCalibration:
    """Pinhole intrinsics of a camera.

    Attributes:
        K: (3, 3) ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``, pixels.
        width, height: image size the calibration is for, px (None: any size).
        distortion_model: e.g. 'plumb_bob' ('' when none is given).
        D: distortion coefficients (WHAM ignores distortion; kept for the CameraInfo).
    """

    K: np.ndarray
    width: Optional[int] = None
    height: Optional[int] = None
    distortion_model: str = ""
    D: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        self.K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        fx, fy = self.K[0, 0], self.K[1, 1]
        known = self.K.copy()
        known[:2, 2] = np.nan_to_num(known[:2, 2])  # cx, cy may wait for the image size
        if not np.all(np.isfinite(known)) or fx <= 0 or fy <= 0:
            raise CalibrationError(f"camera matrix {self.K.reshape(-1).tolist()} is invalid; "
                                   "expected finite values with fx, fy > 0")

    @classmethod
    def from_focal(cls, fx: float, fy: Optional[float] = None, cx: Optional[float] = None,
                   cy: Optional[float] = None) -> "CameraCalibration":
        """Intrinsics from focal lengths (fy defaults to fx) and principal point (None: the
        image centre, filled in by :meth:`for_image`)."""
        fy = fx if fy is None else fy
        cx = np.nan if cx is None else cx
        cy = np.nan if cy is None else cy
        return cls(np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]))

    def for_image(self, width: int, height: int) -> "CameraCalibration":
        """This calibration for images of ``width`` x ``height`` px: a principal point left
        open becomes the image centre; the size is the calibration's own when it has one."""
        K = self.K.copy()
        if np.isnan(K[0, 2]):
            K[0, 2] = width / 2.0
        if np.isnan(K[1, 2]):
            K[1, 2] = height / 2.0
        return CameraCalibration(K, self.width or int(width), self.height or int(height),
                                 self.distortion_model, self.D)


def _matrix(doc: dict, key: str, shape: Tuple[int, int], path: str) -> np.ndarray:
    entry = doc.get(key)
    if not isinstance(entry, dict) or "data" not in entry:
        raise CalibrationError(f"{path}: '{key}' missing; expected "
                               f"'{key}: {{rows: {shape[0]}, cols: {shape[1]}, data: [...]}}'")
    data = np.asarray(entry["data"], dtype=np.float64)
    if data.size != shape[0] * shape[1]:
        raise CalibrationError(f"{path}: '{key}' has {data.size} values, expected "
                               f"{shape[0] * shape[1]}")
    return data.reshape(shape)


def load_camera_yaml(path: str) -> CameraCalibration:
    """Read a ROS ``camera_calibration`` YAML file.

    Raises:
        CalibrationError: unreadable file, missing or malformed camera matrix.
    """
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise CalibrationError(f"cannot read camera calibration '{path}': {exc}") from exc
    if not isinstance(doc, dict):
        raise CalibrationError(f"{path}: expected a ROS camera_calibration YAML mapping "
                               "(image_width, image_height, camera_matrix, ...)")
    K = _matrix(doc, "camera_matrix", (3, 3), path)
    D = np.asarray((doc.get("distortion_coefficients") or {}).get("data", []), dtype=np.float64)
    width, height = doc.get("image_width"), doc.get("image_height")
    return CameraCalibration(K, int(width) if width else None, int(height) if height else None,
                             str(doc.get("distortion_model", "")), D)


def rotation_between(transforms: Iterable[Tuple[str, str, np.ndarray]], target: str,
                     source: str) -> Optional[np.ndarray]:
    """Rotation ``target <- source`` from a tree of static transforms, or None if unconnected.

    Args:
        transforms: ``(parent, child, quat_xyzw)`` per TF edge: the child's orientation in
            the parent frame (``v_parent = R v_child``, as ``geometry_msgs/Transform``).
        target: frame the result maps into (e.g. the camera optical frame).
        source: frame the result maps from (e.g. the IMU frame).

    Returns:
        (4,) quaternion (x, y, z, w) of ``R_target_source`` (``v_target = R v_source``).
    """
    edges: Dict[str, list] = {}
    for parent, child, q in transforms:
        R = quat_xyzw_to_matrix(q)
        edges.setdefault(parent, []).append((child, R))      # v_parent = R v_child
        edges.setdefault(child, []).append((parent, R.T))    # v_child = R^T v_parent
    # Breadth-first from the source: R_x_source for every frame x reached.
    found = {source: np.eye(3)}
    queue = [source]
    while queue:
        frame = queue.pop(0)
        for nxt, R_frame_next in edges.get(frame, []):
            if nxt not in found:
                # v_next = R_frame_next^T v_frame = R_frame_next^T R_frame_source v_source
                found[nxt] = R_frame_next.T @ found[frame]
                queue.append(nxt)
    if target not in found:
        return None
    return matrix_to_quat_xyzw(found[target])
