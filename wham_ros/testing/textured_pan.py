"""Images rendered through the true camera rotation: a textured world around a turning camera.

The background is a sphere at infinity (a camera that only turns sees no parallax) with an
equirectangular texture: blurred noise at several scales plus random rectangles, so it has
corners at every scale. An image of camera orientation ``C`` (camera optical frame -> REP-103
z-up world) is rendered by turning each pixel's ray ``C K^-1 [u, v, 1]`` into azimuth and
elevation and sampling the texture (``cv2.remap``, bilinear, wrapping in azimuth). People are
saturated upright rectangles (what the synthetic detector finds) walking across the image in
front of the background; the lighting may change over time (a gain and an offset) and sensor
noise is added.

:class:`TurningRig` is a camera that never rests: yaw rate ``0.15 + 0.1 sin(2 pi t / 40)``
rad/s (0.05-0.25), a pitch wobble, a constant roll. It has the interface of
:class:`wham_ros.testing.imu_rig.LongRig` (``duration_s``, ``angles``, ``orientations``,
``body_rates``), so :class:`wham_ros.testing.imu_rig.NoisyImu` simulates its IMU.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import cv2
import numpy as np

from wham_ros.geometry.frames import R_ZUP_YDOWN
from wham_ros.testing.imu_rig import _rx, _rz

COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0))  # as wham_ros.testing.scenes


def world_texture(width: int = 2048, seed: int = 0, contrast: float = 1.0) -> np.ndarray:
    """Equirectangular grey texture (height = width / 2), uint8.

    Args:
        width: texels around the horizon.
        seed: random seed.
        contrast: 1 for a richly textured world; near 0 for a blank one (a flat grey wall
            with a faint gradient).

    Returns:
        np.ndarray: (width // 2, width) uint8.
    """
    rng = np.random.default_rng(seed)
    h = width // 2
    tex = np.zeros((h, width), np.float32)
    for sigma, amp in ((24.0, 50.0), (8.0, 40.0), (3.0, 30.0), (1.5, 20.0)):
        noise = rng.normal(0.0, 1.0, (h, width)).astype(np.float32)
        blurred = cv2.GaussianBlur(noise, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        tex += amp * blurred / max(float(blurred.std()), 1e-6)
    for _ in range(width // 4):  # rectangles: corners
        x, y = int(rng.integers(0, width)), int(rng.integers(0, h))
        w, hh = int(rng.integers(4, 40)), int(rng.integers(4, 40))
        tex[y:y + hh, x:x + w] += float(rng.uniform(-60.0, 60.0))
    tex = 128.0 + contrast * (tex - tex.mean())
    tex += np.linspace(-10.0, 10.0, width, dtype=np.float32)[None]  # a faint gradient
    return np.clip(tex, 0, 255).astype(np.uint8)


@dataclass
class TexturedCamera:
    """Renders views of a world texture.

    Attributes:
        texture: (Ht, Wt) uint8 equirectangular texture (row 0 = straight up, column 0 =
            azimuth -pi).
        K: (3, 3) intrinsics, pixels.
        size: (W, H) of the images.
    """

    texture: np.ndarray
    K: np.ndarray
    size: Tuple[int, int] = (160, 120)

    def __post_init__(self) -> None:
        W, H = self.size
        u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
        pix = np.stack([u, v, np.ones_like(u)], axis=-1).reshape(-1, 3)  # HW x 3
        rays = pix @ np.linalg.inv(self.K).T
        self._rays = rays / np.linalg.norm(rays, axis=1, keepdims=True)  # HW x 3, optical frame

    def render(self, C: np.ndarray, gain: float = 1.0, offset: float = 0.0, noise_std: float = 1.5,
               people: Optional[List[Tuple[int, int, int, int]]] = None,
               rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """One RGB image.

        Args:
            C (np.ndarray): (3, 3) camera optical frame -> world (z up) rotation.
            gain, offset: lighting: ``grey * gain + offset``.
            noise_std: sensor noise, grey levels.
            people: boxes ``(x0, y0, x1, y1)`` drawn in :data:`COLOURS` order.
            rng: noise generator.

        Returns:
            np.ndarray: (H, W, 3) uint8 RGB.
        """
        W, H = self.size
        Ht, Wt = self.texture.shape
        d = self._rays @ np.asarray(C).T  # HW x 3, world
        az = np.arctan2(d[:, 1], d[:, 0])
        el = np.arcsin(np.clip(d[:, 2], -1.0, 1.0))
        map_x = ((az + np.pi) / (2 * np.pi) * Wt - 0.5).astype(np.float32).reshape(H, W)
        map_y = ((np.pi / 2 - el) / np.pi * Ht - 0.5).astype(np.float32).reshape(H, W)
        grey = cv2.remap(self.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        rng = rng or np.random.default_rng(0)
        img = grey.astype(np.float32) * gain + offset + rng.normal(0.0, noise_std, grey.shape).astype(np.float32)
        rgb = np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        for i, (x0, y0, x1, y1) in enumerate(people or []):
            rgb[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = COLOURS[i % len(COLOURS)]
        return rgb


def walking_people(t_s: float, size: Tuple[int, int], count: int = 2,
                   speed_px_s: float = 12.0) -> List[Tuple[int, int, int, int]]:
    """Boxes of ``count`` people crossing the image back and forth at ``t_s``.

    Args:
        t_s: time, s.
        size: (W, H) image size.
        count: people (0-4).
        speed_px_s: walking speed in the image, px/s.

    Returns:
        list of (x0, y0, x1, y1) int boxes.
    """
    W, H = size
    boxes = []
    for p in range(count):
        span = W * 0.8
        phase = (t_s * speed_px_s * (1 + 0.3 * p) + p * span / max(count, 1)) % (2 * span)
        cx = W * 0.1 + (phase if phase < span else 2 * span - phase)
        half = max(int(W * 0.05), 2)
        boxes.append((int(cx) - half, int(H * 0.3), int(cx) + half, int(H * 0.95)))
    return boxes


@dataclass
class TurningRig:
    """A camera that turns from the first instant to the last (no rest).

    Attributes:
        duration_s: length of the recording.
        yaw_mean, yaw_amp, yaw_period_s: yaw rate ``mean + amp sin(2 pi t / period)``, rad/s.
        pitch0, pitch_amp, pitch_period_s: pitch down ``pitch0 + amp sin(2 pi t / period)``, rad.
        roll: constant roll, rad.
    """

    duration_s: float = 120.0
    yaw_mean: float = 0.15
    yaw_amp: float = 0.1
    yaw_period_s: float = 40.0
    pitch0: float = np.deg2rad(10.0)
    pitch_amp: float = np.deg2rad(6.0)
    pitch_period_s: float = 7.0
    roll: float = np.deg2rad(3.0)

    def _rates(self, t: np.ndarray) -> np.ndarray:
        """(N, 3) yaw, pitch, roll rates at ``t`` (N,)."""
        yaw = self.yaw_mean + self.yaw_amp * np.sin(2 * np.pi * t / self.yaw_period_s)
        w = 2 * np.pi / self.pitch_period_s
        pitch = self.pitch_amp * w * np.cos(w * t)
        return np.stack([yaw, pitch, np.zeros_like(t)], axis=-1)

    def angles(self, t: np.ndarray) -> np.ndarray:
        """(N, 3) yaw, pitch down, roll at ``t`` (N,) s (closed form)."""
        t = np.asarray(t, dtype=np.float64)
        a = 2 * np.pi / self.yaw_period_s
        yaw = self.yaw_mean * t + self.yaw_amp / a * (1.0 - np.cos(a * t))
        pitch = self.pitch0 + self.pitch_amp * np.sin(2 * np.pi * t / self.pitch_period_s)
        return np.stack([yaw, pitch, np.full_like(t, self.roll)], axis=-1)

    def orientations(self, t: np.ndarray) -> np.ndarray:
        """(N, 3, 3) ``C(t)`` = R_world_cam."""
        a = self.angles(np.atleast_1d(t))
        return _rz(a[:, 0]) @ R_ZUP_YDOWN @ _rx(-a[:, 1]) @ _rz(a[:, 2])

    def body_rates(self, t: np.ndarray) -> np.ndarray:
        """(N, 3) angular velocity in the camera optical frame, rad/s (as ``LongRig.body_rates``)."""
        t = np.asarray(t, dtype=np.float64)
        a, d = self.angles(t), self._rates(t)
        Rr = _rz(a[:, 2])
        Y = R_ZUP_YDOWN @ _rx(-a[:, 1]) @ Rr
        return d[:, :1] * Y[:, 2, :] - d[:, 1:2] * Rr[:, 0, :] + d[:, 2:3] * np.array([0.0, 0.0, 1.0])


def vertical_bias(rig, R_cam_imu: np.ndarray, rate_rad_s: float = 0.004) -> np.ndarray:
    """(3,) IMU-frame gyro bias pointing along the world vertical at t = 0."""
    C0 = rig.orientations(np.array([0.0]))[0]
    return (C0 @ R_cam_imu).T @ np.array([0.0, 0.0, rate_rad_s])


def render_recording(rig, camera: TexturedCamera, stamps_s: np.ndarray, people: int = 2,
                     lighting: bool = True, seed: int = 0) -> Tuple[List[np.ndarray], List[list]]:
    """Images at ``stamps_s`` (N,) and the people's boxes in each.

    Args:
        rig: a rig with ``orientations``.
        camera: the renderer.
        stamps_s: image times, s.
        people: walking people in front of the background.
        lighting: slow gain / offset changes (+-25 %, +-10 grey levels).
        seed: sensor-noise seed.

    Returns:
        tuple: images (H, W, 3) uint8 RGB, and per image a list of (x0, y0, x1, y1) boxes.
    """
    rng = np.random.default_rng(seed)
    C = rig.orientations(np.asarray(stamps_s))
    images, boxes = [], []
    for t, Ci in zip(stamps_s, C):
        gain = 1.0 + (0.25 * np.sin(2 * np.pi * t / 23.0) if lighting else 0.0)
        offset = 10.0 * np.sin(2 * np.pi * t / 31.0) if lighting else 0.0
        b = walking_people(float(t), camera.size, people)
        images.append(camera.render(Ci, gain, offset, people=b, rng=rng))
        boxes.append(b)
    return images, boxes

