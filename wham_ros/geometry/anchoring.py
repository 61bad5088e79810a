"""``world_anchor: observed``: each track's position fused from WHAM's motion and the camera's view.

WHAM's world trajectory is smooth but drifts slowly (its root translation error grows by a
few % of the distance walked); the camera-frame root (``trans_cam``) placed by the camera's
pose (TF) does not drift but is noisy, mostly along the optical axis. Per track a small
Kalman filter combines them. State: the hip-centre position ``p`` (3,) in the world frame (m)
and the bias ``b`` (3,) of WHAM's world velocity (m/s), which is what a drift is:

* predict with WHAM's world displacement ``d`` of a step of ``dt`` seconds:
  ``p <- p + d - b dt``, ``b <- b``; process noise ``(drift_fraction |d|)^2 +
  position_noise^2 dt`` on ``p`` and ``bias_random_walk^2 dt`` on ``b``;
* correct with the observation ``z = p_world_cam + R_world_cam @ trans_cam``, whose
  covariance is diagonal in the camera frame (``lateral_std_m`` across, ``depth_std_m``
  along the optical axis): ``R = R_world_cam diag(l^2, l^2, d^2) R_world_cam^T``.

With ``world_anchor: start`` nothing of this runs: the track stays where its first frame put
it and follows WHAM's trajectory (:class:`wham_ros.geometry.frames.TrackAnchor`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORLD_ANCHORS = ("start", "observed")


@dataclass(frozen=True)
class ObservedAnchorConfig:
    """Noise model of :class:`PositionFilter` (1-sigma values).

    Attributes:
        lateral_std_m: camera-frame hip centre across the optical axis, m.
        depth_std_m: camera-frame hip centre along the optical axis, m.
        drift_fraction: WHAM's world-trajectory error per metre of its own motion.
        position_noise_m: WHAM's position error growth besides the drift, m/sqrt(s).
        initial_bias_m_s: prior on WHAM's velocity bias, m/s.
        bias_random_walk: how fast that bias changes, m/s/sqrt(s).
    """

    lateral_std_m: float = 0.05
    depth_std_m: float = 0.15
    drift_fraction: float = 0.05
    position_noise_m: float = 0.02
    initial_bias_m_s: float = 0.05
    bias_random_walk: float = 0.01

    def observation_covariance(self, R_world_cam: np.ndarray) -> np.ndarray:
        """(3, 3) covariance of a world-frame observation seen through ``R_world_cam`` (3, 3)."""
        D = np.diag([self.lateral_std_m ** 2, self.lateral_std_m ** 2, self.depth_std_m ** 2])
        return R_world_cam @ D @ R_world_cam.T


class PositionFilter:
    """Kalman filter of one track's world hip centre and WHAM's velocity bias (module docstring)."""

    def __init__(self, config: ObservedAnchorConfig, position: np.ndarray, R_world_cam: np.ndarray):
        """Start at a first observation.

        Args:
            config: noise model.
            position (np.ndarray): (3,) observed hip centre, world frame, m.
            R_world_cam (np.ndarray): (3, 3) camera orientation of that observation.
        """
        self.config = config
        self.state = np.zeros(6)  # [p (3), b (3)]
        self.state[:3] = np.asarray(position, dtype=np.float64).reshape(3)
        self.P = np.zeros((6, 6))  # 6 x 6
        self.P[:3, :3] = config.observation_covariance(np.asarray(R_world_cam, dtype=np.float64))
        self.P[3:, 3:] = config.initial_bias_m_s ** 2 * np.eye(3)

    @property
    def position(self) -> np.ndarray:
        """(3,) filtered hip centre, world frame, m."""
        return self.state[:3].copy()

    def predict(self, displacement: np.ndarray, dt_s: float) -> None:
        """Move by WHAM's world displacement (3,) m of one step of ``dt_s`` seconds."""
        d = np.asarray(displacement, dtype=np.float64).reshape(3)
        c, dt = self.config, max(float(dt_s), 0.0)
        F = np.eye(6)
        F[:3, 3:] = -dt * np.eye(3)
        self.state = F @ self.state
        self.state[:3] += d
        Q = np.zeros((6, 6))
        Q[:3, :3] = ((c.drift_fraction * np.linalg.norm(d)) ** 2 + c.position_noise_m ** 2 * dt) * np.eye(3)
        Q[3:, 3:] = c.bias_random_walk ** 2 * dt * np.eye(3)
        self.P = F @ self.P @ F.T + Q

    def update(self, observation: np.ndarray, R_world_cam: np.ndarray) -> None:
        """Correct with an observed world hip centre (3,) seen with camera orientation (3, 3)."""
        R = self.config.observation_covariance(np.asarray(R_world_cam, dtype=np.float64))
        S = self.P[:3, :3] + R  # H = [I 0]
        K = np.linalg.solve(S, self.P[:3, :]).T  # 6 x 3: P H^T S^-1 (S symmetric)
        self.state = self.state + K @ (np.asarray(observation, dtype=np.float64).reshape(3) - self.state[:3])
        self.P = self.P - K @ self.P[:3, :]
        self.P = 0.5 * (self.P + self.P.T)
