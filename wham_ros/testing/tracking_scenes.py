"""Simulated recordings with known identities for tracking tests and ``bench/bench_tracking.py``.

A camera at the origin (optical frame: x right, y down, z forward; 1 m above the floor) yaws
about its y axis by ``yaw(t)`` (world <- camera ``C = exp([0, yaw, 0])``, the convention of
:func:`wham_ros.testing.scenes.camera_rotation`); its gyro measures ``[0, d yaw/dt, 0]`` rad/s
in the camera frame. People are upright saturated rectangles (``height_m`` x ``width_m``)
standing on the floor at a world azimuth (rad, positive to the right of the camera's initial
view) and distance (m) that move linearly between keyframes, drawn far to near over a
smoothly textured grey panorama (the background moves with the camera, so an image-based
motion estimate can work). A person's colour is one of
:data:`wham_ros.testing.scenes.COLOURS`, so the synthetic ONNX detector finds them; two people
with the same colour are look-alikes.

Truth per frame: each person's visible box (bounding box of their visible pixels) when at
least ``MIN_VISIBLE_PX`` pixels and ``MIN_VISIBLE_FRACTION`` of their projected box show.
:func:`colour_detections` is a detector for the tracker alone (connected regions per
colour; separates look-alikes, which the ONNX blob detector merges).
"""
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from wham_ros.testing.scenes import COLOURS
from wham_ros.types import CameraFrame, ImuSample

CAMERA_HEIGHT_M = 1.0
MIN_VISIBLE_PX = 400
MIN_VISIBLE_FRACTION = 0.2
RED, GREEN, BLUE, YELLOW = COLOURS


@dataclass
class Person:
    """A simulated person: ``keys`` are ``(t_s, azimuth_rad, distance_m)``, linearly
    interpolated (held before the first and after the last)."""

    name: str
    colour: Tuple[int, int, int]
    keys: Sequence[Tuple[float, float, float]]
    height_m: float = 1.7
    width_m: float = 0.5

    def at(self, t_s: float) -> Tuple[float, float]:
        k = np.asarray(self.keys, dtype=np.float64)
        return float(np.interp(t_s, k[:, 0], k[:, 1])), float(np.interp(t_s, k[:, 0], k[:, 2]))


@dataclass
class TrackingScene:
    """A recording with its truth.

    Attributes:
        name: scene name.
        frames: camera frames in time order (RGB, stamps in ns).
        imu: gyro samples in time order (camera frame = IMU frame), or empty.
        K: (3, 3) intrinsics.
        truth: per frame ``{person name: (4,) visible xyxy box}``.
        yaw: (n_frames,) camera yaw, rad.
        look_alikes: names of people sharing a colour.
    """

    name: str
    frames: List[CameraFrame]
    imu: List[ImuSample]
    K: np.ndarray
    truth: List[Dict[str, np.ndarray]]
    yaw: np.ndarray
    look_alikes: List[str] = field(default_factory=list)


def _panorama(height: int, f_px: float, seed: int) -> np.ndarray:
    """(height, columns) uint8 smooth grey texture over 360 degrees of azimuth."""
    import cv2

    cols = int(np.ceil(2 * np.pi * f_px))
    rng = np.random.default_rng(seed)
    tex = np.zeros((height, cols), np.float32)
    for cell, amp in ((48, 40.0), (12, 20.0), (4, 8.0)):
        coarse = rng.uniform(-1, 1, (height // cell + 2, cols // cell + 2)).astype(np.float32)
        tex += amp * cv2.resize(coarse, (cols, height), interpolation=cv2.INTER_CUBIC)[:height, :cols]
    return np.clip(110 + tex, 40, 180).astype(np.uint8)


def yaw_turn(t0_s: float, angle_rad: float, rate_rad_s: float, hold_s: float) -> Callable:
    """Yaw profile: still, turn by ``angle_rad`` at ``rate_rad_s``, hold, turn back."""
    dur = abs(angle_rad) / rate_rad_s
    keys = np.array([[t0_s, 0.0], [t0_s + dur, angle_rad], [t0_s + dur + hold_s, angle_rad],
                     [t0_s + 2 * dur + hold_s, 0.0]])
    return lambda t: float(np.interp(t, keys[:, 0], keys[:, 1]))


def render(name: str, people: Sequence[Person], duration_s: float,
           yaw: Callable[[float], float] = lambda t: 0.0, fps: float = 30.0,
           size: Tuple[int, int] = (640, 480), f_px: float = 600.0, imu_rate_hz: float = 200.0,
           gyro: bool = True, start_ns: int = 1_000_000_000, seed: int = 0) -> TrackingScene:
    """Render a recording (see the module docstring).

    Args:
        name: scene name.
        people: the people.
        duration_s: length, s.
        yaw: camera yaw (rad) as a function of time (s).
        fps: camera rate.
        size: (W, H) pixels.
        f_px: focal length, pixels (principal point at the centre).
        imu_rate_hz: gyro rate.
        gyro: include gyro samples.
        start_ns: first frame stamp.
        seed: background texture seed.
    """
    W, H = size
    cx, cy = W / 2.0, H / 2.0
    K = np.array([[f_px, 0, cx], [0, f_px, cy], [0, 0, 1]])
    pano = _panorama(H, f_px, seed)
    n = int(round(duration_s * fps))
    cols_rad = np.arctan((np.arange(W) - cx + 0.5) / f_px)                   # W
    frames, truth, yaws = [], [], []
    colours = [p.colour for p in people]
    look_alikes = [p.name for p in people if colours.count(p.colour) > 1]
    for i in range(n):
        t = i / fps
        psi = yaw(t)
        col = ((cols_rad + psi) / (2 * np.pi) % 1.0 * pano.shape[1]).astype(int) % pano.shape[1]
        img = np.repeat(pano[:, col][:, :, None], 3, 2)
        ids = np.full((H, W), -1, np.int32)
        full = {}
        order = []
        for k, p in enumerate(people):
            az, dist = p.at(t)
            z = dist * np.cos(az - psi)
            if z < 0.3:
                continue
            u = cx + f_px * np.tan(az - psi)
            half = f_px * p.width_m / (2 * z)
            box = np.array([u - half, cy - f_px * (p.height_m - CAMERA_HEIGHT_M) / z,
                            u + half, cy + f_px * CAMERA_HEIGHT_M / z])
            full[k] = box
            order.append((z, k))
        for z, k in sorted(order, reverse=True):  # far to near
            b = np.round(full[k]).astype(int)
            x0, y0, x1, y1 = max(b[0], 0), max(b[1], 0), min(b[2], W), min(b[3], H)
            if x1 > x0 and y1 > y0:
                img[y0:y1, x0:x1] = people[k].colour
                ids[y0:y1, x0:x1] = k
        t_frame = {}
        for k, box in full.items():
            ys, xs = np.nonzero(ids == k)
            area = max((box[2] - box[0]) * (box[3] - box[1]), 1.0)
            if len(xs) >= MIN_VISIBLE_PX and len(xs) / area >= MIN_VISIBLE_FRACTION:
                t_frame[people[k].name] = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1],
                                                   np.float64)
        truth.append(t_frame)
        yaws.append(psi)
        frames.append(CameraFrame(start_ns + int(round(i * 1e9 / fps)), img, "camera_optical_frame",
                                  K.copy()))
    imu = []
    if gyro:
        dt = 1.0 / imu_rate_hz
        t = -0.6
        while t <= duration_s + 0.05:
            rate = (yaw(t + 1e-4) - yaw(t - 1e-4)) / 2e-4
            imu.append(ImuSample(start_ns + int(round(t * 1e9)), np.array([0.0, rate, 0.0]),
                                 np.array([0.0, -9.81, 0.0]), None, "camera_optical_frame"))
            t += dt
    return TrackingScene(name, frames, imu, K, truth, np.array(yaws), look_alikes)


def colour_detections(image: np.ndarray, min_area_px: int = 200) -> np.ndarray:
    """Person boxes of one frame: connected regions of each of :data:`COLOURS`.

    Args:
        image: (H, W, 3) uint8 RGB.
        min_area_px: smallest region reported.

    Returns:
        (N, 5) ``[x1, y1, x2, y2, score]``, score ``min(1, area / 400)`` (the ONNX detector's).
    """
    import cv2

    out = []
    for c in COLOURS:
        c = np.array(c, np.int16)
        mask = cv2.inRange(image, np.clip(c - 64, 0, 255).astype(np.uint8),
                           np.clip(c + 64, 0, 255).astype(np.uint8))
        if cv2.countNonZero(mask) < min_area_px:
            continue
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            area = cv2.countNonZero(mask[y:y + h, x:x + w])
            if area >= min_area_px:
                out.append([x, y, x + w, y + h, min(1.0, area / 400.0)])
    return np.array(out, np.float64).reshape(-1, 5)


def _walk(t0: float, az0: float, t1: float, az1: float, dist: float) -> List[Tuple[float, float, float]]:
    return [(t0, az0, dist), (t1, az1, dist)]


def exits_and_returns(gyro: bool = True) -> TrackingScene:
    """A leaves left, then B leaves right; A comes back first, then B (a tracker that
    revives the most recently lost track gives B's id to A); C stays in view."""
    people = [
        Person("A", RED, [(0, -0.1, 4.0), (1.5, -0.55, 4.0), (3.5, -0.55, 4.0), (4.5, -0.2, 4.0),
                          (8, -0.2, 4.0)]),
        Person("B", GREEN, [(0, 0.15, 4.5), (2.5, 0.6, 4.5), (5.0, 0.6, 4.5), (6.0, 0.3, 4.5),
                            (8, 0.3, 4.5)]),
        Person("C", BLUE, _walk(0, 0.02, 8, -0.02, 5.0)),
    ]
    return render("exits_and_returns", people, 8.0, gyro=gyro)


def occlusion(gyro: bool = True) -> TrackingScene:
    """B walks behind A (hidden for about 0.5 s) and on; C stands aside."""
    people = [
        Person("A", RED, _walk(0, -0.05, 6, 0.0, 3.5)),
        Person("B", GREEN, _walk(0, 0.35, 6, -0.35, 6.0)),
        Person("C", BLUE, _walk(0, 0.3, 6, 0.32, 4.0)),
    ]
    return render("occlusion", people, 6.0, gyro=gyro)


def head_turn(gyro: bool = True) -> TrackingScene:
    """The camera turns 0.6 rad at 2 rad/s, holds 0.5 s and turns back; four people."""
    people = [
        Person("A", RED, _walk(0, -0.25, 5, -0.2, 4.0)),
        Person("B", GREEN, _walk(0, -0.05, 5, 0.0, 5.0)),
        Person("C", BLUE, _walk(0, 0.15, 5, 0.1, 4.5)),
        Person("D", YELLOW, _walk(0, 0.3, 5, 0.3, 5.5)),
    ]
    return render("head_turn" + ("" if gyro else "_no_gyro"), people, 5.0,
                  yaw=yaw_turn(1.5, 0.6, 2.0, 0.5), gyro=gyro)


def look_alikes(gyro: bool = True) -> TrackingScene:
    """A and A2 wear the same (red): A leaves left, A2 leaves right, each comes back on its
    own side 1.5 s later (the motion gate decides); B (green) stays."""
    people = [
        Person("A", RED, [(0, -0.2, 4.0), (1.2, -0.6, 4.0), (2.7, -0.6, 4.0), (3.5, -0.3, 4.0),
                          (6, -0.3, 4.0)]),
        Person("A2", RED, [(0, 0.2, 4.0), (1.7, 0.6, 4.0), (3.2, 0.6, 4.0), (4.0, 0.3, 4.0),
                           (6, 0.3, 4.0)]),
        Person("B", GREEN, _walk(0, 0.0, 6, 0.02, 5.0)),
    ]
    return render("look_alikes", people, 6.0, gyro=gyro)


def acceptance(gyro: bool = True) -> TrackingScene:
    """Issue 19's recording: 10 s, four people; A and B leave and come back (B leaves last,
    A comes back first), D is hidden behind C for about 0.5 s, and the camera turns 0.6 rad at
    2 rad/s and back (gyro on the camera)."""
    people = [
        Person("A", RED, [(0, -0.15, 4.0), (1.5, -0.6, 4.0), (4.5, -0.6, 4.0), (5.5, -0.25, 4.0),
                          (10, -0.2, 4.0)]),
        Person("B", GREEN, [(0, 0.1, 4.5), (2.5, 0.6, 4.5), (6.0, 0.6, 4.5), (7.0, 0.15, 4.5),
                            (10, 0.15, 4.5)]),
        Person("C", BLUE, _walk(0, 0.0, 10, 0.0, 3.5)),
        Person("D", YELLOW, [(0, -0.3, 6.0), (2.5, -0.2, 6.0), (4.5, 0.2, 6.0), (10, 0.35, 6.0)]),
    ]
    return render("acceptance", people, 10.0, yaw=yaw_turn(7.5, 0.6, 2.0, 0.3), gyro=gyro)


SCENES: Dict[str, Callable[..., TrackingScene]] = {
    "exits_and_returns": exits_and_returns, "occlusion": occlusion, "head_turn": head_turn,
    "look_alikes": look_alikes, "acceptance": acceptance}



def track_scene(scene: TrackingScene, config=None, cmc: str = "gyro", features: bool = True,
                detect: Callable[[np.ndarray], np.ndarray] = colour_detections,
                tracker=None) -> List[Dict[int, np.ndarray]]:
    """Run :class:`wham_ros.tracking.MultiPersonTracker` alone over a scene (no keypoints).

    Args:
        scene: the recording.
        config: tracker parameters (None: defaults).
        cmc: camera-motion compensation: 'gyro' (the true rotation between frames, as the
            integrated gyro gives it), 'image' or 'off'.
        features: give the tracker the image (appearance, image bounds); False: boxes only
            (the tracker before issue 19).
        detect: ``image -> (N, 5)`` detector.
        tracker: the tracker to use (None: a new one with ``config``).

    Returns:
        per frame ``{track id: (4,) box}`` of the people the tracker reports.
    """
    from wham_ros.geometry.so3 import exp_so3
    from wham_ros.tracking.camera_compensation import CameraCompensation
    from wham_ros.tracking.tracker import MultiPersonTracker

    tracker = tracker if tracker is not None else MultiPersonTracker(config)
    comp = CameraCompensation(cmc)
    out = []
    prev_R = None
    for i, fr in enumerate(scene.frames):
        det = detect(fr.image)
        C = exp_so3(np.array([0.0, scene.yaw[i], 0.0]))   # world <- camera
        rot = np.eye(3) if prev_R is None else prev_R.T @ C  # R_{t-1} R_t^T = C_{t-1}^T C_t
        prev_R = C
        H = comp.homography(fr.image, scene.K, rot if scene.imu else None, det[:, :4])
        people = tracker.update(det, None, fr.stamp_ns * 1e-9, fr.image if features else None,
                                H if features else None)
        out.append({p.track_id: np.asarray(p.box_xyxy, np.float64) for p in people})
    return out


def mot_metrics(scene: TrackingScene, hypotheses: List[Dict[int, np.ndarray]]) -> Dict[str, float]:
    """IDF1, ID switches, MOTA (py-motmetrics; IoU >= 0.5 matches) against the scene's truth.

    Returns:
        ``idf1``, ``num_switches``, ``mota``, ``num_misses``, ``num_false_positives``,
        ``ids_per_person`` (the most track ids any one person got) and ``people_per_id`` (the
        most people any one track id was given to).
    """
    import motmetrics as mm

    from wham_ros.detect.boxes import iou_matrix

    acc = mm.MOTAccumulator(auto_id=True)
    names = sorted({n for f in scene.truth for n in f})
    ids_of: Dict[str, set] = {n: set() for n in names}
    for gt, hyp in zip(scene.truth, hypotheses):
        g = list(gt)
        h = list(hyp)
        # 1 - IoU, NaN (no match) below IoU 0.5; motmetrics' own iou_matrix needs numpy < 2.
        iou = iou_matrix(np.array([gt[n] for n in g]).reshape(-1, 4),
                         np.array([hyp[k] for k in h]).reshape(-1, 4))
        dist = np.where(iou >= 0.5, 1.0 - iou, np.nan)
        acc.update([names.index(n) for n in g], h, dist)
    summary = mm.metrics.create().compute(
        acc, metrics=["idf1", "num_switches", "mota", "num_misses", "num_false_positives"])
    row = {k: float(summary[k].iloc[0]) for k in summary.columns}
    events = acc.mot_events
    matched = events[events["Type"].isin(["MATCH", "SWITCH"])]
    people_of: Dict[int, set] = {}
    for oid, hid in zip(matched["OId"], matched["HId"]):
        ids_of[names[int(oid)]].add(hid)
        people_of.setdefault(hid, set()).add(oid)
    row["ids_per_person"] = float(max((len(v) for v in ids_of.values()), default=0))
    row["people_per_id"] = float(max((len(v) for v in people_of.values()), default=0))
    return row
