"""``wham-ros run --render out.mp4``: the overlay beside the world view, one video frame per
processed camera frame (OpenCV ``VideoWriter``; ``.mp4`` -> mp4v, ``.avi`` -> MJPG)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from wham_ros.render.overlay import render_overlay
from wham_ros.render.world_view import WorldView
from wham_ros.types import CameraFrame, FrameResult

FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v"}


class VideoRenderer:
    """Writes ``[overlay | world view]`` frames to a video file.

    Args:
        path: output video (.mp4, .avi, .mkv, .mov).
        fps: frame rate written in the file.
        faces: (F, 3) SMPL triangles (None: skeletons).
        contact_threshold: foot contact threshold of the overlay.

    Raises:
        ValueError: an unsupported suffix.
    """

    needs_mesh = True  # the runner computes the mesh on every frame while rendering

    def __init__(self, path, fps: float = 30.0, faces: Optional[np.ndarray] = None,
                 contact_threshold: float = 0.5) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in FOURCC:
            raise ValueError(f"cannot write video '{path}': use one of {sorted(FOURCC)}")
        self.fps, self.faces, self.contact_threshold = fps, faces, contact_threshold
        self._writer = None
        self._world: Optional[WorldView] = None
        self.frames = 0

    def add(self, frame: CameraFrame, result: FrameResult) -> None:
        """Render and write one frame."""
        H, W = frame.image.shape[:2]
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(
                *FOURCC[self.path.suffix.lower()]), self.fps, (2 * W, H))
            if not self._writer.isOpened():
                raise OSError(f"OpenCV cannot write the video '{self.path}'")
            self._world = WorldView(W, H)
        picture = np.hstack([render_overlay(frame.image, result, self.faces, self.contact_threshold),
                             self._world.render(result, self.faces)])
        self._writer.write(cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        """Finish the file."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def write_still(video: Path, png: Path, at: float = 0.75, scale: float = 0.5) -> bool:
    """Write the frame at fraction ``at`` of ``video`` as ``png``, resized by ``scale``.

    Returns:
        False when the video has no frame (nothing written).
    """
    cap = cv2.VideoCapture(str(video))
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.set(cv2.CAP_PROP_POS_FRAMES, max(int(count * at), 0))
        ok, image = cap.read()
    finally:
        cap.release()
    if not ok:
        return False
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return bool(cv2.imwrite(str(png), image, [cv2.IMWRITE_PNG_COMPRESSION, 9]))
