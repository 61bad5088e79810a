"""Camera rotation sources -> WHAM's per-frame ``cam_angvel`` (6,).

WHAM's convention (reference yohanshin/WHAM @ 2b54f77), R = world -> camera rotation:

* Training (``lib/data/utils/augmentor.py`` ``SequenceAugmentor.apply``,
  ``lib/data/datasets/bedlam.py`` ``load_camera``, ``lib/data/datasets/dataset_eval.py``):
  ``cam_angvel = (matrix_to_rotation_6d(R[:-1] @ R[1:].mT) - [1,0,0,0,1,0]) * 30`` gives
  N-1 rows for N frames, while the network's targets are frames ``[1:]`` (frame 0 only gives
  the initial state: ``init_pose``, ``init_root``; e.g. ``target['feet'] = output.feet[1:]``).
  Row k therefore belongs to network step k = frame k+1 and holds ``6D(R_{t-1} R_t^T)`` for
  its own frame t: **causal** (``lib/core/loss.py`` ``camera_loss`` confirms the alignment by
  comparing ``pred_R[:, :-1] @ pred_R[:, 1:].mT`` with ``gt_cam_angvel[:, 1:]``).
* Demo (``lib/data/datasets/dataset_custom.py`` ``convert_dpvo_to_cam_angvel``): the same
  formula applied to the DPVO rotations but with the initial state taken from frame 0 *and*
  frame 0 being the first network step, so row t = ``6D(R_t R_{t+1}^T)`` looks one frame
  ahead; the last row is a copy of row 0. The scale there is the video fps.

wham_ros uses the causal training convention: for a WHAM step at frame t with previous
WHAM step at frame t-1, ``cam_angvel_t = (6D(R_{t-1} R_t^T) - 6D(I)) * 30``. The first step of
a stream has no previous frame; its row is zeros (identity): in streaming the initial state
(HMR2.0 on that very frame) and the first step are the same image, so no rotation happened
between them. ``R_{t-1} R_t^T = C_{t-1}^T C_t`` with C = camera -> world, i.e. the current
camera orientation expressed in the previous camera frame (optical axes).

The scale is always WHAM's training rate (30), never the camera rate: the network was
trained on steps 1/30 s apart and reads the 6D change per step; see
:mod:`wham_ros.geometry.frame_rate` for how steps are chosen on cameras that are not 30 Hz.
"""
from __future__ import annotations

import abc
import bisect
import logging
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from wham_ros.geometry.imu import ImuIntegrator, RejectCounter, RelativeRotation
from wham_ros.geometry.so3 import IDENTITY_6D, is_rotation, matrix_to_6d, quat_xyzw_to_matrix, slerp

LOGGER = logging.getLogger(__name__)

WHAM_FPS = 30.0


def relative_rotation_to_cam_angvel(delta_R: np.ndarray, scale: float = WHAM_FPS) -> np.ndarray:
    """``(6D(delta_R) - 6D(I)) * scale`` with 6D = first two rows.

    Args:
        delta_R (np.ndarray): (..., 3, 3) ``R_{t-1} R_t^T`` (R world -> camera).
        scale (float): WHAM's step rate (30).

    Returns:
        np.ndarray: (..., 6) float64.
    """
    return (matrix_to_6d(delta_R) - IDENTITY_6D) * scale


@dataclass
class CameraMotion:
    """Camera motion of one WHAM step.

    Attributes:
        cam_angvel: (6,) WHAM input row (causal convention, scale 30).
        delta_R: (3, 3) ``R_{t-1} R_t^T`` (R world -> camera), camera optical frame.
        valid: False when the source could not measure the interval (gap, no data); the
            values are then a best effort (held rate, or identity without any data).
        reason: empty when valid, else why not.
    """

    cam_angvel: np.ndarray
    delta_R: np.ndarray
    valid: bool = True
    reason: str = ""


class CameraMotionSource(abc.ABC):
    """Gives the camera rotation between two frame stamps (camera clock, ns)."""

    @abc.abstractmethod
    def relative_rotation(self, t0_ns: int, t1_ns: int) -> RelativeRotation:
        """Return ``C(t0)^T C(t1)`` in the camera optical frame, with a validity flag."""

    def step(self, prev_stamp_ns: Optional[int], stamp_ns: int) -> CameraMotion:
        """Camera motion for a WHAM step.

        Args:
            prev_stamp_ns: stamp of the previous WHAM step, or None for the first step.
            stamp_ns: stamp of this step.

        Returns:
            CameraMotion: zeros / identity for the first step, else the measured rotation.
        """
        if prev_stamp_ns is None:
            return CameraMotion(np.zeros(6), np.eye(3))
        rel = self.relative_rotation(prev_stamp_ns, stamp_ns)
        return CameraMotion(relative_rotation_to_cam_angvel(rel.delta_R), rel.delta_R, rel.valid, rel.reason)


class StaticCameraMotion(CameraMotionSource):
    """Camera assumed not to rotate: zeros, as WHAM does without SLAM."""

    def relative_rotation(self, t0_ns: int, t1_ns: int) -> RelativeRotation:
        """Identity, always valid."""
        return RelativeRotation(np.eye(3), True)


class ImuCameraMotion(CameraMotionSource):
    """Camera rotation from a gyro (:class:`ImuIntegrator`: bias, extrinsic, interpolation)."""

    def __init__(self, integrator: ImuIntegrator):
        """Wrap an integrator that the caller keeps feeding with :meth:`ImuIntegrator.add`.

        Args:
            integrator: the IMU buffer.
        """
        self.integrator = integrator

    def relative_rotation(self, t0_ns: int, t1_ns: int) -> RelativeRotation:
        """Integrated gyro between the stamps, rotated into the camera optical frame."""
        return self.integrator.relative_rotation(t0_ns, t1_ns)


class OrientationCameraMotion(CameraMotionSource):
    """Camera rotation from stamped camera orientations (TF ``odom -> camera``, Odometry).

    Each orientation is ``C = R_parent_cam``: it maps camera **optical** frame vectors into a
    fixed parent frame (the rotation of TF ``lookup_transform(parent, camera_optical_frame)``).
    Orientations are interpolated by slerp; beyond the newest sample the relative rotation is
    extrapolated with the last angular rate for at most ``max_extrapolation_ns`` (invalid after).
    Bad inputs (non-finite, not a rotation, duplicate or out-of-order stamps) are rejected
    with a rate-limited warning.
    """

    def __init__(self, max_gap_ns: int = 200_000_000, max_extrapolation_ns: int = 50_000_000,
                 buffer_ns: int = 10_000_000_000):
        """Create an empty buffer.

        Args:
            max_gap_ns: spacing of orientation samples above which a result is invalid.
            max_extrapolation_ns: longest extrapolation beyond the data.
            buffer_ns: history kept.
        """
        self.max_gap_ns = max_gap_ns
        self.max_extrapolation_ns = max_extrapolation_ns
        self.buffer_ns = buffer_ns
        self._stamps: List[int] = []
        self._rots: List[np.ndarray] = []
        self.rejected = RejectCounter(LOGGER, "camera orientation")

    def add(self, stamp_ns: int, orientation: np.ndarray) -> bool:
        """Store one camera orientation.

        Args:
            stamp_ns: stamp (camera clock), ns.
            orientation (np.ndarray): (3, 3) ``R_parent_cam`` or (4,) quaternion ``(x, y, z, w)``.

        Returns:
            bool: True if stored.
        """
        try:
            o = np.asarray(orientation, dtype=np.float64)
        except (TypeError, ValueError):
            o = np.full(1, np.nan)
        if o.shape == (4,) and np.all(np.isfinite(o)) and abs(np.linalg.norm(o) - 1.0) < 0.1:
            o = quat_xyzw_to_matrix(o)
        if not is_rotation(o, tol=1e-4):
            self.rejected.reject("bad_orientation", f"{orientation!r} at {stamp_ns} ns; expected a unit "
                                                    "quaternion (x, y, z, w) or a 3x3 rotation")
            return False
        if not isinstance(stamp_ns, (int, np.integer)) or (self._stamps and stamp_ns <= self._stamps[-1]):
            self.rejected.reject("bad_stamp", f"stamp {stamp_ns!r} ns; expected an int after "
                                              f"{self._stamps[-1] if self._stamps else 'nothing'} ns")
            return False
        self._stamps.append(int(stamp_ns))
        self._rots.append(o)
        n = bisect.bisect_left(self._stamps, self._stamps[-1] - self.buffer_ns)
        if n > 0:
            del self._stamps[:n], self._rots[:n]
        return True

    def orientation_at(self, t_ns: int) -> Optional[np.ndarray]:
        """Interpolated (slerp) ``R_parent_cam`` at ``t_ns``, extrapolated/held outside the data.

        Args:
            t_ns: query time, ns.

        Returns:
            np.ndarray | None: (3, 3), or None without any sample.
        """
        if not self._stamps:
            return None
        if len(self._stamps) == 1:
            return self._rots[0].copy()
        i = int(np.clip(bisect.bisect_right(self._stamps, t_ns), 1, len(self._stamps) - 1))
        t0, t1 = self._stamps[i - 1], self._stamps[i]
        alpha = (t_ns - t0) / (t1 - t0)
        if alpha < 0.0:  # before the data: hold
            alpha = 0.0
        if alpha > 1.0:  # after the data: extrapolate with the last rate, at most max_extrapolation_ns
            alpha = 1.0 + min(t_ns - t1, self.max_extrapolation_ns) / (t1 - t0)
        return slerp(self._rots[i - 1], self._rots[i], alpha)

    def relative_rotation(self, t0_ns: int, t1_ns: int) -> RelativeRotation:
        """``C(t0)^T C(t1)`` from the interpolated orientations."""
        C0, C1 = self.orientation_at(t0_ns), self.orientation_at(t1_ns)
        if C0 is None:
            return RelativeRotation(np.eye(3), False, "no camera orientation received")
        stamps = np.asarray(self._stamps)
        valid, reason = True, ""
        if t0_ns < stamps[0] or t1_ns > stamps[-1] + self.max_extrapolation_ns:
            valid, reason = False, (f"orientations cover [{stamps[0]}, {stamps[-1]}] ns, "
                                    f"needed [{t0_ns}, {t1_ns}] ns")
        else:
            lo = max(np.searchsorted(stamps, t0_ns, side="right") - 1, 0)
            hi = min(np.searchsorted(stamps, t1_ns, side="left"), len(stamps) - 1)
            if hi > lo and np.diff(stamps[lo:hi + 1]).max() > self.max_gap_ns:
                valid, reason = False, f"orientation gap > max_gap_ns={self.max_gap_ns / 1e6:.0f} ms"
        return RelativeRotation(C0.T @ C1, valid, reason, int(((stamps > t0_ns) & (stamps < t1_ns)).sum()))
