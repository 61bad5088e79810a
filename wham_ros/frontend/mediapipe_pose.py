"""2D keypoint fallback backend: MediaPipe BlazePose mapped onto COCO-17.

For machines without a GPU for ViTPose-H. BlazePose (``mediapipe.solutions.pose``, model
complexity 1, whose weights ship inside the mediapipe wheel, so nothing is downloaded)
gives 33 landmarks for one person per image; with detector boxes each box is cropped
and processed on its own (top-down, like ViTPose). Landmark ``visibility`` is used as the
joint confidence. Output: COCO-17 ``[x_px, y_px, conf]`` in full-image pixels.

mediapipe is an optional dependency (``pip install --no-deps mediapipe==0.10.21`` plus the
``mediapipe`` extra; see doc/frontend.md) and is imported only when this backend is built.
"""
import logging
from typing import Optional

import numpy as np

from wham_ros.detect.detector import check_image
from wham_ros.frontend.wham_inputs import COCO17_JOINTS, NUM_JOINTS

LOG = logging.getLogger(__name__)

#: BlazePose's 33 landmarks, in model output order (mediapipe ``PoseLandmark``).
BLAZEPOSE_LANDMARKS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
#: COCO-17 joint -> BlazePose landmark (same anatomical point; left/right = the person's).
COCO_TO_BLAZEPOSE = {
    "nose": "nose", "left_eye": "left_eye", "right_eye": "right_eye",
    "left_ear": "left_ear", "right_ear": "right_ear",
    "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder",
    "left_elbow": "left_elbow", "right_elbow": "right_elbow",
    "left_wrist": "left_wrist", "right_wrist": "right_wrist",
    "left_hip": "left_hip", "right_hip": "right_hip",
    "left_knee": "left_knee", "right_knee": "right_knee",
    "left_ankle": "left_ankle", "right_ankle": "right_ankle",
}
#: (17,) BlazePose index of each COCO-17 joint, in COCO order.
BLAZEPOSE_INDEX = np.array([BLAZEPOSE_LANDMARKS.index(COCO_TO_BLAZEPOSE[name])
                            for name in COCO17_JOINTS])

INSTALL_HINT = ("pip install 'absl-py' 'attrs' 'flatbuffers' 'matplotlib' 'protobuf>=4.25.3,<7' "
                "&& pip install --no-deps mediapipe==0.10.21")


class MediaPipePose:
    """COCO-17 keypoints from MediaPipe BlazePose (CPU).

    Args:
        min_detection_confidence: BlazePose's person-detection threshold.
        box_margin: each detector box is enlarged by this fraction of its size per side
            before cropping (BlazePose wants some context around the body).

    Raises:
        ImportError: mediapipe is not installed (the message gives the install line).
    """

    def __init__(self, min_detection_confidence: float = 0.5, box_margin: float = 0.1):
        try:
            import mediapipe as mp
        except ImportError as exc:
            raise ImportError(f"MediaPipe backend needs mediapipe 0.10.21: {INSTALL_HINT}") from exc
        names = tuple(lm.name.lower() for lm in mp.solutions.pose.PoseLandmark)
        if names != BLAZEPOSE_LANDMARKS:
            raise RuntimeError(f"mediapipe {mp.__version__} has a different landmark order than "
                               f"this backend expects: {names}")
        # model_complexity 1 is the model that ships in the wheel (0 and 2 are downloaded).
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True, model_complexity=1, enable_segmentation=False,
            min_detection_confidence=min_detection_confidence)
        self.box_margin = box_margin
        LOG.info("keypoints: MediaPipe BlazePose %s (CPU)", mp.__version__)

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self._pose.close()

    def _run(self, image_rgb: np.ndarray) -> Optional[np.ndarray]:
        """(17, 3) keypoints in the pixels of ``image_rgb``, or None without a person."""
        result = self._pose.process(np.ascontiguousarray(image_rgb))
        if result.pose_landmarks is None:
            return None
        lms = result.pose_landmarks.landmark
        h, w = image_rgb.shape[:2]
        out = np.array([[lms[i].x * w, lms[i].y * h, lms[i].visibility] for i in BLAZEPOSE_INDEX])
        return out.astype(np.float32)                               # 17 x 3

    def estimate(self, image_rgb: np.ndarray,
                 boxes_xyxy: Optional[np.ndarray] = None) -> np.ndarray:
        """Keypoints of the people in an image.

        Args:
            image_rgb: (H, W, 3) uint8 RGB image.
            boxes_xyxy: (N, 4+) person boxes in pixels (extra columns ignored), or None to
                look for one person in the whole image.

        Returns:
            (N, 17, 3) float32 COCO-17 ``[x_px, y_px, conf]``; a box where BlazePose finds
            nobody gives an all-zero row (confidence 0). Without boxes N is 0 or 1.
        """
        img = check_image(image_rgb)
        if boxes_xyxy is None:
            kp = self._run(img)
            return np.zeros((0, NUM_JOINTS, 3), np.float32) if kp is None else kp[None]
        boxes = np.asarray(boxes_xyxy, dtype=np.float64)
        if boxes.ndim != 2 or boxes.shape[1] < 4:
            raise ValueError(f"boxes must be (N, 4) xyxy pixels; got shape {boxes.shape}")
        h, w = img.shape[:2]
        out = np.zeros((len(boxes), NUM_JOINTS, 3), np.float32)
        for n, (x1, y1, x2, y2) in enumerate(boxes[:, :4]):
            mx, my = self.box_margin * (x2 - x1), self.box_margin * (y2 - y1)
            c0, r0 = int(max(0, np.floor(x1 - mx))), int(max(0, np.floor(y1 - my)))
            c1, r1 = int(min(w, np.ceil(x2 + mx))), int(min(h, np.ceil(y2 + my)))
            if c1 - c0 < 2 or r1 - r0 < 2:
                continue
            kp = self._run(img[r0:r1, c0:c1])
            if kp is not None:
                kp[:, 0] += c0
                kp[:, 1] += r0
                out[n] = kp
        return out
