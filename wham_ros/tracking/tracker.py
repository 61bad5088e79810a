"""Multi-person tracker with stable ids (ByteTrack-style association, camera-motion
compensation, re-identification by appearance, body shape and motion).

Per frame (``MultiPersonTracker.update``):

0. Camera-motion compensation: when the caller gives the image motion since the previous
   frame (a homography, see :mod:`wham_ros.tracking.camera_compensation`), every track's last
   box and keypoints, its smoothed box, and every remembered identity's box are moved by it
   first (the smoothed keypoints, WHAM's input, depend on the measurements only).
1. Every live track (tentative, confirmed, lost, out of view) predicts its box with a
   constant-velocity model (per-frame velocity, an exponential average of measured box motion
   after compensation), and its keypoints by shifting the last ones with the box centre.
2. Stage 1: detections with ``score >= high_score`` are matched to all live tracks by the
   Hungarian algorithm on ``1 - similarity``, ``similarity = (1 - w) IoU + w OKS`` where both
   sides have keypoints (``w = keypoint_weight``) and IoU otherwise; pairs below
   ``match_min_similarity`` are not matched. A track not seen in the previous frame is matched
   only to a detection that looks like it (appearance distance within
   ``reid_appearance_gate``, when both have a signature): a box moving into an empty slot is
   not taken for someone else.
3. Stage 2: detections with ``low_score <= score < high_score`` are matched by IoU
   (``>= low_match_min_iou``) to the tracks that were confirmed and seen in the previous frame
   and are still unmatched (occluded people keep their track through low-score boxes).
4. Unmatched tentative tracks are removed. An unmatched confirmed track becomes lost; while
   its predicted box is mostly outside the image it is *out of view* (e.g. carried out by a
   head turn) and kept up to ``reid_window_s``; while it is mostly covered by a person matched
   in this frame it is *occluded* and kept up to ``occlusion_max_lost`` frames; other frames
   count towards ``max_lost``. A lost track that is matched again keeps its id; one unseen for
   more than ``max_lost`` frames is left to re-identification (step 6). A track that ends is
   remembered as an identity (signature, shape, last box) for ``reid_window_s``.
5. Unmatched high-score detections with ``score >= new_track_score`` (and, with keypoints, at
   least ``min_joints`` confident joints) start tentative tracks, except a box mostly inside
   a person matched in this frame (``occluded_birth_cover``: a part of the nearer person, not
   a new one); ``min_hits`` consecutive matches confirm a track.

   Near the image border a detection shows only part of a person: the track keeps the size
   last seen whole (its box reaches beyond the border), association uses the part of the
   predicted box inside the image, and a detection lying inside an unseen track's predicted
   box (a part of a person coming back into view or out from behind someone) can match it.
6. Re-identification at confirmation: the new track is compared with every lost or
   out-of-view track and every remembered identity of the last ``reid_window_s``: appearance
   (Hellinger distance of colour signatures, :mod:`wham_ros.tracking.appearance`) within
   ``reid_appearance_gate``, body shape (HMR2.0 betas, L2) within ``reid_shape_gate`` when
   both are known, and the motion gate (centre moved at most ``reid_max_speed`` box heights
   per second since last seen, plus one box height). The best candidate gives its id back
   only when no other candidate comes within ``reid_margin`` of it (cost = the sum of the
   three gate ratios): when unsure, a new id is better than a swapped one. Otherwise the
   track gets the next id. Ids are never given to two people: not after
   :meth:`MultiPersonTracker.reset` (time jumped back), not after a remembered identity
   expires.

Boxes and keypoints of confirmed tracks are smoothed causally with One-Euro filters
(``wham_ros.tracking.one_euro``). Units: pixels; time in seconds; counts in frames.
"""
import enum
import logging
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Set

import numpy as np
from scipy.optimize import linear_sum_assignment

from wham_ros.detect.boxes import box_area, iou_matrix
from wham_ros.frontend.wham_inputs import CONF_THRESHOLD, MIN_CONFIDENT_JOINTS, NUM_JOINTS
from wham_ros.tracking.appearance import hellinger, signatures
from wham_ros.tracking.camera_compensation import warp_boxes, warp_points
from wham_ros.tracking.one_euro import OneEuroFilter
from wham_ros.tracking.similarity import oks_matrix

LOG = logging.getLogger(__name__)
_INFEASIBLE = 1e6
#: Similarity of a detection lying wholly inside an unseen track's predicted box (a part of a
#: person coming out from behind another or into the image), times the part inside.
_PART_WEIGHT = 0.5
#: A detection covered this much by other detections does not update its track's signature.
_CLEAN_MAX_COVER = 0.1
#: A seen track's signature is updated on every this many frames (appearance changes slowly),
#: with the gain that keeps the time constant of a per-frame update; signatures of this
#: frame's detections are computed only where needed (a gate, an update, a birth).
SIGNATURE_EVERY_FRAMES = 5
#: Shape of a detection, asked only for tracks that have re-identification candidates:
#: ``shape_of(detection indices) -> (n, 10)`` betas.
ShapeFn = Callable[[Sequence[int]], Optional[np.ndarray]]


class TrackState(enum.Enum):
    """Life cycle of a track."""

    TENTATIVE = "tentative"     # born, not yet seen in min_hits consecutive frames; no id yet
    CONFIRMED = "confirmed"     # matched in the current frame
    LOST = "lost"               # confirmed earlier, unmatched (in view, maybe occluded)
    OUT_OF_VIEW = "out_of_view"  # lost with its predicted box mostly outside the image
    REMOVED = "removed"         # ended; its id is never given to another person


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker parameters (defaults suit 30 fps video and a YOLO person detector).

    Attributes:
        high_score: detections at or above this score take part in stage 1.
        low_score: detections below this score are ignored.
        new_track_score: an unmatched detection starts a track only at or above this score.
        match_min_similarity: stage-1 gate on the combined IoU/OKS similarity.
        low_match_min_iou: stage-2 gate on IoU.
        keypoint_weight: weight w of OKS in the similarity, in [0, 1].
        min_hits: birth: consecutive matched frames before a track is confirmed (>= 1).
        max_lost: death: frames a lost track (in view, not occluded) is kept.
        velocity_gain: exponential-average gain of the per-frame box velocity, in (0, 1].
        min_joints: a person is reported only with this many joints above ``joint_conf``.
        joint_conf: joint confidence threshold (WHAM: 0.3).
        fps: frame rate used for timestamps when ``update`` gets none.
        box_min_cutoff_hz, box_beta: One-Euro parameters for the box corners.
        kp_min_cutoff_hz, kp_beta: One-Euro parameters for the keypoint positions.
        d_cutoff_hz: One-Euro derivative cut-off.
        reid_window_s: how long an out-of-view track or a remembered identity can be
            re-identified, s (0: no re-identification of ended tracks).
        reid_appearance_gate: largest Hellinger distance of two colour signatures of the same
            person, in [0, 1].
        reid_shape_gate: largest L2 distance of the body-shape betas of the same person.
        reid_max_speed: motion gate: box heights per second a person may have moved while
            unseen.
        reid_margin: the best re-identification candidate must beat the second by this much
            (cost units: the sum of gate ratios); else a new id.
        occlusion_max_lost: frames a lost track hidden behind a person is kept.
        occlusion_min_cover: a lost track's predicted box covered this much by a person
            matched in the frame counts as occluded, in (0, 1].
        occluded_birth_cover: a new box covered this much by a person matched in the frame
            starts no track, in (0, 1].
        out_of_view_fraction: a lost track with less than this fraction of its predicted box
            inside the image is out of view, in [0, 1].
        appearance_gain: exponential-average gain of a track's signature, in (0, 1].
    """

    high_score: float = 0.5
    low_score: float = 0.1
    new_track_score: float = 0.6
    match_min_similarity: float = 0.2
    low_match_min_iou: float = 0.5
    keypoint_weight: float = 0.5
    min_hits: int = 3
    max_lost: int = 30
    velocity_gain: float = 0.5
    min_joints: int = MIN_CONFIDENT_JOINTS
    joint_conf: float = CONF_THRESHOLD
    fps: float = 30.0
    box_min_cutoff_hz: float = 1.0
    box_beta: float = 0.01
    kp_min_cutoff_hz: float = 1.7
    kp_beta: float = 0.02
    d_cutoff_hz: float = 1.0
    reid_window_s: float = 30.0
    reid_appearance_gate: float = 0.35
    reid_shape_gate: float = 1.5
    reid_max_speed: float = 1.5
    reid_margin: float = 0.3
    occlusion_max_lost: int = 90
    occlusion_min_cover: float = 0.5
    occluded_birth_cover: float = 0.8
    out_of_view_fraction: float = 0.5
    appearance_gain: float = 0.1

    def __post_init__(self):
        if not 0.0 <= self.low_score <= self.high_score <= 1.0:
            raise ValueError(f"need 0 <= low_score ({self.low_score}) <= high_score "
                             f"({self.high_score}) <= 1")
        if self.min_hits < 1 or self.max_lost < 0 or self.occlusion_max_lost < 0:
            raise ValueError(f"need min_hits >= 1, max_lost >= 0 and occlusion_max_lost >= 0; "
                             f"got {self.min_hits}, {self.max_lost}, {self.occlusion_max_lost}")
        if not 0.0 <= self.keypoint_weight <= 1.0 or not 0.0 < self.velocity_gain <= 1.0:
            raise ValueError(f"keypoint_weight ({self.keypoint_weight}) must lie in [0, 1] and "
                             f"velocity_gain ({self.velocity_gain}) in (0, 1]")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive; got {self.fps}")
        if min(self.reid_window_s, self.reid_appearance_gate, self.reid_shape_gate,
               self.reid_max_speed, self.reid_margin) < 0:
            raise ValueError("reid_window_s, reid_appearance_gate, reid_shape_gate, "
                             "reid_max_speed and reid_margin must be >= 0")
        for name in ("occlusion_min_cover", "occluded_birth_cover", "appearance_gain"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in (0, 1]; got {getattr(self, name)}")
        if not 0.0 <= self.out_of_view_fraction <= 1.0:
            raise ValueError(f"out_of_view_fraction must lie in [0, 1]; got "
                             f"{self.out_of_view_fraction}")


@dataclass
class TrackedPerson:
    """One tracked person in one frame (a snapshot; changing it does not touch the tracker).

    Attributes:
        track_id: stable id (>= 1), or -1 while tentative.
        state: the track's state after this frame.
        box_xyxy: (4,) smoothed box, pixels.
        keypoints: (17, 3) smoothed ``[x_px, y_px, conf]`` (conf not smoothed), or None.
        raw_box_xyxy: (4,) last matched detection box.
        raw_keypoints: (17, 3) last matched detection keypoints, or None.
        score: last matched detection score.
        age: frames since the track was born.
        frames_since_seen: 0 when matched in this frame.
        reidentified: the track got an earlier person's id back in this frame (its WHAM
            state restarts).
    """

    track_id: int
    state: TrackState
    box_xyxy: np.ndarray
    keypoints: Optional[np.ndarray]
    raw_box_xyxy: np.ndarray
    raw_keypoints: Optional[np.ndarray]
    score: float
    age: int
    frames_since_seen: int
    reidentified: bool = False


class _Track:
    """Mutable track state (internal)."""

    def __init__(self, box, score, kp, t_s, cfg: TrackerConfig):
        self.track_id = -1
        self.state = TrackState.TENTATIVE
        self.box = box.astype(np.float64)
        self.vel = np.zeros(4)
        self.kp = None if kp is None else kp.astype(np.float64)
        self.score = float(score)
        self.hits = 1
        self.age = 0
        self.misses = 0          # frames since last matched
        self.lost_count = 0      # unmatched frames in view and not occluded (vs max_lost)
        self.occluded_count = 0  # unmatched frames hidden behind a person
        self.last_seen_s = float(t_s)
        self.signature: Optional[np.ndarray] = None
        self.since_signature = 0  # frames since the signature was last updated
        self.shape: Optional[np.ndarray] = None
        self.reidentified = False
        self.full_wh: Optional[np.ndarray] = None  # (2,) last size seen whole in the image
        self.box_filter = OneEuroFilter(cfg.box_min_cutoff_hz, cfg.box_beta, cfg.d_cutoff_hz)
        self.kp_filter = OneEuroFilter(cfg.kp_min_cutoff_hz, cfg.kp_beta, cfg.d_cutoff_hz)
        self.box_filter(self.box, t_s)
        self.smooth_kp = None if kp is None else self.kp_filter(self.kp[:, :2], t_s)

    @property
    def smooth_box(self) -> np.ndarray:
        """(4,) the One-Euro smoothed box (the box filter's state, a copy)."""
        return self.box_filter.value

    def predicted_box(self, max_frames: int) -> np.ndarray:
        """Constant-velocity box (at most ``max_frames + 1`` frames ahead); sides that close
        in (a person going behind another) keep at least half the last size."""
        p = self.box + self.vel * min(self.misses + 1, max_frames + 1)
        centre = (p[:2] + p[2:]) / 2
        half = np.maximum(p[2:] - p[:2], 0.5 * (self.box[2:] - self.box[:2])) / 2
        return np.concatenate([centre - half, centre + half])

    def predicted_kp(self, max_frames: int) -> Optional[np.ndarray]:
        if self.kp is None:
            return None
        d = self.predicted_box(max_frames) - self.box
        shift = (d[:2] + d[2:]) / 2  # centre, 2
        out = self.kp.copy()
        out[:, :2] += shift
        return out

    def update(self, box, score, kp, t_s, gain, size=None):
        """Take a matched detection. In an image of ``size`` (W, H), a box cut by the border
        keeps the size last seen whole (beyond the border) and does not update the velocity."""
        gap = self.misses + 1
        cut = size is not None and _at_border(box, size)
        if cut and self.full_wh is not None:  # keep the person's size beyond the border
            box = _extend_at_border(box, self.full_wh, size)
        elif not cut:
            self.full_wh = box[2:] - box[:2]
        if size is not None and (cut or _at_border(self.box, size)):
            self.vel = (1.0 - gain) * self.vel  # a box cut by the image border: not the motion
        else:
            self.vel = gain * (box - self.box) / gap + (1.0 - gain) * self.vel
        self.box = box.astype(np.float64)
        self.score = float(score)
        self.misses = self.lost_count = self.occluded_count = 0
        self.last_seen_s = float(t_s)
        self.hits += 1
        self.box_filter(self.box, t_s)
        if kp is not None:
            self.kp = kp.astype(np.float64)
            self.smooth_kp = self.kp_filter(self.kp[:, :2], t_s)

    def signature_due(self) -> bool:
        """The signature is updated on this frame (none yet, or every SIGNATURE_EVERY_FRAMES)."""
        return self.signature is None or self.since_signature + 1 >= SIGNATURE_EVERY_FRAMES

    def observe_signature(self, sig: Optional[np.ndarray], gain: float) -> None:
        """Fold in a signature (exponential average); ``gain`` per frame since the last one."""
        if sig is None:
            return
        gain = 1.0 - (1.0 - gain) ** (self.since_signature + 1)
        self.signature = sig.copy() if self.signature is None else \
            gain * sig + (1.0 - gain) * self.signature
        self.since_signature = 0

    def observe_shape(self, betas: np.ndarray, gain: float) -> None:
        betas = np.asarray(betas, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(betas)):
            return
        self.shape = betas.copy() if self.shape is None or self.shape.shape != betas.shape \
            else gain * betas + (1.0 - gain) * self.shape

    def snapshot(self, size=None) -> TrackedPerson:
        """The track now; boxes clipped to an image of ``size`` (W, H) when given."""
        kp = None
        if self.kp is not None and self.smooth_kp is not None:
            kp = np.concatenate([self.smooth_kp, self.kp[:, 2:]], -1).astype(np.float32)
        box, raw = self.smooth_box, self.box
        if size is not None:
            hi = np.array([size[0], size[1], size[0], size[1]], float)
            box, raw = np.minimum(np.maximum(box, 0.0), hi), np.minimum(np.maximum(raw, 0.0), hi)
        return TrackedPerson(
            track_id=self.track_id, state=self.state,
            box_xyxy=box.astype(np.float32), keypoints=kp,
            raw_box_xyxy=raw.astype(np.float32),
            raw_keypoints=None if self.kp is None else self.kp.astype(np.float32),
            score=self.score, age=self.age, frames_since_seen=self.misses,
            reidentified=self.reidentified)


@dataclass
class _Identity:
    """An ended confirmed track, remembered for re-identification (internal)."""

    track_id: int
    box: np.ndarray          # (4,) last box, moved by camera-motion compensation since
    last_seen_s: float
    signature: Optional[np.ndarray]
    shape: Optional[np.ndarray]


class _FrameSignatures:
    """Appearance signatures of a frame's detections, computed on demand (several at once)."""

    def __init__(self, image: Optional[np.ndarray], det: np.ndarray, kp: Optional[np.ndarray],
                 joint_conf: float):
        self._image, self._det, self._kp, self._joint_conf = image, det, kp, joint_conf
        self._sigs: Dict[int, Optional[np.ndarray]] = {}

    def compute(self, indices) -> None:
        """Compute the signatures of the detections ``indices`` not computed yet."""
        todo = [int(i) for i in indices if int(i) not in self._sigs]
        if self._image is None or not todo:
            return
        kp = None if self._kp is None else self._kp[todo]
        for i, sig in zip(todo, signatures(self._image, self._det[todo, :4], kp, self._joint_conf)):
            self._sigs[i] = sig

    def get(self, index: int) -> Optional[np.ndarray]:
        """The signature of detection ``index`` if computed (and inside the image), else None."""
        return self._sigs.get(int(index))

    def of(self, indices) -> List[Optional[np.ndarray]]:
        """The signatures of the detections ``indices`` (computed now where needed)."""
        self.compute(indices)
        return [self.get(i) for i in indices]


def _cover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) fraction of each box of ``a`` (N, 4) that lies inside each box of ``b`` (M, 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.maximum(rb - lt, 0.0).prod(-1)                                   # N x M
    return inter / np.maximum(box_area(a), 1e-9)[:, None]


def _at_border(box: np.ndarray, size) -> bool:
    """True if an xyxy box touches the border of an image of ``size`` (W, H)."""
    return any(any(_at_border_side(box, size, axis)) for axis in (0, 1))


def _extend_at_border(box: np.ndarray, wh: np.ndarray, size) -> np.ndarray:
    """A box cut by the image border, extended beyond it to the size ``wh`` (2,) seen whole
    (a side inside the image stays)."""
    out = np.asarray(box, dtype=np.float64).copy()
    for axis in (0, 1):
        lo_cut, hi_cut = _at_border_side(out, size, axis)
        if lo_cut and not hi_cut:
            out[axis] = min(out[axis], out[axis + 2] - wh[axis])
        elif hi_cut and not lo_cut:
            out[axis + 2] = max(out[axis + 2], out[axis] + wh[axis])
    return out


def _at_border_side(box: np.ndarray, size, axis: int, margin_px: float = 2.0):
    """(low side cut, high side cut) of an xyxy box along x (0) or y (1)."""
    return bool(box[axis] <= margin_px), bool(box[axis + 2] >= size[axis] - margin_px)


def _centre_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Distance of two box centres in units of the taller box's height."""
    d = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
    return float(d / max(a[3] - a[1], b[3] - b[1], 1.0))


class MultiPersonTracker:
    """Tracks people across frames; see the module docstring for the algorithm.

    Args:
        config: parameters (defaults: ``TrackerConfig()``).
    """

    def __init__(self, config: Optional[TrackerConfig] = None):
        self.config = config or TrackerConfig()
        self._tracks: List[_Track] = []
        self._identities: List[_Identity] = []
        self._next_id = 1
        self._frame = 0
        self._last_t: Optional[float] = None
        self.num_removed = 0
        self.num_reidentified = 0   # new tracks that got an earlier person's id back
        self.num_reid_ambiguous = 0  # new tracks given a new id because two candidates fit

    def reset(self) -> None:
        """Forget every track, remembered identity and the time base; the next id continues
        after the last one."""
        self._tracks = []
        self._identities = []
        self._frame = 0
        self._last_t = None

    @property
    def next_id(self) -> int:
        """The id the next confirmed track will get."""
        return self._next_id

    def continue_ids(self, next_id: int) -> None:
        """Give new tracks ids from ``next_id`` on (if higher), e.g. those of an earlier tracker
        in the same process, so no id is given out twice."""
        self._next_id = max(self._next_id, int(next_id))

    @property
    def tracks(self) -> List[TrackedPerson]:
        """Snapshots of all live tracks (tentative, confirmed, lost and out of view)."""
        return [t.snapshot() for t in self._tracks]

    def ids_seen_within(self, frames: int) -> Set[int]:
        """Ids of live tracks (with an id) unseen for at most ``frames`` frames."""
        return {t.track_id for t in self._tracks if t.track_id >= 0 and t.misses <= frames}

    @property
    def remembered_ids(self) -> List[int]:
        """Ids of ended tracks that can still be re-identified (within ``reid_window_s``)."""
        return [i.track_id for i in self._identities]

    def observe_shapes(self, shapes: Dict[int, np.ndarray], gain: float = 0.2) -> None:
        """Give confirmed tracks a body-shape measurement (e.g. HMR2.0 betas (10,) by id)."""
        by_id = {t.track_id: t for t in self._tracks if t.track_id >= 0}
        for tid, betas in shapes.items():
            if tid in by_id:
                by_id[tid].observe_shape(betas, gain)

    def _compensate(self, H: np.ndarray) -> None:
        """Move every track and remembered identity into this frame's image by the camera's
        image motion ``H`` (3, 3), all boxes in one warp and all keypoints in another: a
        track's last box and keypoints (what association predicts from) and its smoothed box
        (the box filter's state). The smoothed keypoints (WHAM's input) stay a function of
        the measurements alone, so a front-end with or without a rotation source gives WHAM
        the same inputs when it associates the same."""
        tracks, idents = self._tracks, self._identities
        boxes = [t.box for t in tracks] + [t.smooth_box for t in tracks] + [i.box for i in idents]
        if not boxes:
            return
        warped = iter(warp_boxes(H, np.stack(boxes)))
        for t in tracks:
            t.box = next(warped)
        for t in tracks:
            t.box_filter.move(lambda _, moved=next(warped): moved)
        for i in idents:
            i.box = next(warped)
        with_kp = [t for t in tracks if t.kp is not None]
        if with_kp:
            moved = warp_points(H, np.stack([t.kp[:, :2] for t in with_kp]))  # T x 17 x 2
            for t, m in zip(with_kp, moved):
                t.kp[:, :2] = m

    def _check(self, detections, keypoints):
        det = np.asarray(detections, dtype=np.float64)
        if det.size == 0:
            det = det.reshape(0, 5)
        if det.ndim != 2 or det.shape[1] != 5:
            raise ValueError(f"detections must be (N, 5) [x1, y1, x2, y2, score]; got shape "
                             f"{det.shape}")
        if keypoints is None:
            return det, None
        kp = np.asarray(keypoints, dtype=np.float64)
        if kp.size == 0:
            kp = kp.reshape(0, NUM_JOINTS, 3)
        if kp.shape != (len(det), NUM_JOINTS, 3):
            raise ValueError(f"keypoints must be ({len(det)}, {NUM_JOINTS}, 3) to match "
                             f"{len(det)} detections; got shape {kp.shape}")
        return det, kp

    def _similarity(self, tracks: List[_Track], det, kp, signatures_of, size) -> np.ndarray:
        """(D, T) similarity of detections ``det`` (D, 5) to ``tracks``: IoU with the predicted
        box, blended with OKS, a part of an unseen track, zero where the appearance gate
        fails; ``signatures_of(rows)`` gives the signatures of detection rows."""
        cfg = self.config
        boxes = np.array([t.predicted_box(cfg.max_lost) for t in tracks]).reshape(-1, 4)
        if size is not None:  # the part in the image is what a detector can see
            boxes = np.minimum(np.maximum(boxes, 0.0), np.array([size[0], size[1], size[0], size[1]], float))
        sim = iou_matrix(det[:, :4], boxes)                                  # D x T
        w = cfg.keypoint_weight
        if kp is not None and w > 0 and tracks and any(t.kp is not None for t in tracks):
            pred_kp = np.stack([t.predicted_kp(cfg.max_lost) if t.kp is not None
                                else np.zeros((NUM_JOINTS, 3)) for t in tracks])
            oks = oks_matrix(kp, pred_kp, det[:, :4], cfg.joint_conf)      # D x T (NaN: none)
            # A pose shifted over a gap (lost, out of view) says little: IoU alone there.
            oks[:, [t.misses > 0 for t in tracks]] = np.nan
            sim = np.where(np.isnan(oks), sim, (1.0 - w) * sim + w * oks)  # oks: [0, 1] or NaN
        unseen = [j for j, t in enumerate(tracks) if t.misses > 0]
        if unseen and len(det):  # a person coming out from behind another shows a part first
            part = _cover(det[:, :4], boxes[unseen])                          # D x U
            sim[:, unseen] = np.maximum(sim[:, unseen], _PART_WEIGHT * part)
        for j, t in enumerate(tracks):
            if t.misses > cfg.max_lost:  # long unseen: only re-identification (margin) matches
                sim[:, j] = 0.0
            if t.misses == 0 or t.signature is None:  # unseen last frame: only a look-alike
                continue
            rows = np.flatnonzero(sim[:, j] > 0)  # the detections that could match it
            for i, s in zip(rows, signatures_of(rows)):
                if s is not None and hellinger(s, t.signature) > cfg.reid_appearance_gate:
                    sim[i, j] = 0.0
        return sim

    @staticmethod
    def _assign(sim: np.ndarray, gate: float):
        """Hungarian assignment maximising similarity; pairs below ``gate`` are dropped."""
        if sim.size == 0:
            return []
        cost = np.where(sim >= gate, 1.0 - sim, _INFEASIBLE)
        rows, cols = linear_sum_assignment(cost)
        return [(r, c) for r, c in zip(rows, cols) if sim[r, c] >= gate]

    def update(self, detections: np.ndarray, keypoints: Optional[np.ndarray] = None,
               stamp_s: Optional[float] = None, image: Optional[np.ndarray] = None,
               homography: Optional[np.ndarray] = None,
               shape_of: Optional[ShapeFn] = None) -> List[TrackedPerson]:
        """Advance by one frame.

        Args:
            detections: (N, 5) ``[x1, y1, x2, y2, score]`` in pixels (N may be 0).
            keypoints: (N, 17, 3) COCO-17 ``[x_px, y_px, conf]`` per detection, or None.
            stamp_s: frame time in seconds (strictly increasing); default frame / fps.
            image: (H, W, 3) uint8 RGB of the frame: appearance signatures (re-identification)
                and the image bounds (out of view). None: neither.
            homography: (3, 3) image motion previous frame -> this frame (camera-motion
                compensation), or None.
            shape_of: body shape of detections (see :data:`ShapeFn`), or None.

        Returns:
            The confirmed people matched in this frame that have at least ``min_joints``
            confident joints (any, without keypoints), sorted by id.
        """
        cfg = self.config
        det, kp = self._check(detections, keypoints)
        t_s = self._frame / cfg.fps if stamp_s is None else float(stamp_s)
        if self._last_t is not None and t_s <= self._last_t:
            raise ValueError(f"tracker timestamps must increase; got {t_s} s after "
                             f"{self._last_t} s")
        self._last_t = t_s
        self._frame += 1
        if homography is not None:
            self._compensate(np.asarray(homography, dtype=np.float64))
        for track in self._tracks:
            track.reidentified = False
        scores = det[:, 4]
        high = np.flatnonzero(scores >= cfg.high_score)
        low = np.flatnonzero((scores >= cfg.low_score) & (scores < cfg.high_score))
        sigs = _FrameSignatures(image, det, kp, cfg.joint_conf)
        tracks = self._tracks
        was_tracked = [t.state == TrackState.CONFIRMED for t in tracks]

        # Stage 1: high-score detections vs all live tracks (IoU + OKS, appearance gate).
        sub_kp = None if kp is None else kp[high]
        size = None if image is None else (image.shape[1], image.shape[0])   # W, H
        pairs = self._assign(self._similarity(tracks, det[high], sub_kp, lambda rows: sigs.of(high[rows]),
                                              size), cfg.match_min_similarity)
        matched_t = {c for _, c in pairs}
        matches = [(high[r], c) for r, c in pairs]
        unmatched_high = [high[r] for r in range(len(high)) if r not in {r for r, _ in pairs}]

        # Stage 2: low-score detections vs tracks confirmed in the previous frame (IoU only).
        rest = [i for i, t in enumerate(tracks) if i not in matched_t and was_tracked[i]]
        if rest and len(low):
            boxes = np.array([tracks[i].predicted_box(cfg.max_lost) for i in rest])
            pairs2 = self._assign(iou_matrix(det[low, :4], boxes), cfg.low_match_min_iou)
            matches += [(low[r], rest[c]) for r, c in pairs2]
            matched_t |= {rest[c] for _, c in pairs2}

        # A detection overlapped by another does not update a signature (mixed colours).
        cover = _cover(det[:, :4], det[:, :4])
        np.fill_diagonal(cover, 0.0)
        clean = cover.sum(1) <= _CLEAN_MAX_COVER if len(det) else np.zeros(0, bool)
        updating = {d for d, ti in matches if clean[d] and tracks[ti].signature_due()}
        sigs.compute(sorted(updating) + [d for d in unmatched_high if clean[d]])  # + births
        confirming: List[tuple] = []
        for d, ti in matches:
            track = tracks[ti]
            unseen = track.misses
            track.update(det[d, :4], det[d, 4], None if kp is None else kp[d], t_s,
                         cfg.velocity_gain, size)
            if d in updating:
                track.observe_signature(sigs.get(d), cfg.appearance_gain)
            track.since_signature += d not in updating
            if track.state == TrackState.TENTATIVE and track.hits >= cfg.min_hits:
                confirming.append((track, d))
            elif track.state in (TrackState.LOST, TrackState.OUT_OF_VIEW):
                track.state = TrackState.CONFIRMED
                LOG.debug("track %d found again after %d frames", track.track_id, unseen)

        matched_boxes = det[[d for d, _ in matches], :4].reshape(-1, 4)
        for i, track in enumerate(tracks):
            track.age += 1
            if i in matched_t:
                continue
            self._miss(track, t_s, image, matched_boxes)
        ended = [t for t in tracks if t.state == TrackState.REMOVED]
        self.num_removed += len(ended)
        self._identities = [i for i in self._identities
                            if t_s - i.last_seen_s <= cfg.reid_window_s]
        for t in ended:
            if t.track_id >= 0 and cfg.reid_window_s > 0 and t_s - t.last_seen_s <= cfg.reid_window_s:
                self._identities.append(_Identity(t.track_id, t.box.copy(), t.last_seen_s,
                                                  t.signature, t.shape))
        self._tracks = [t for t in tracks if t.state != TrackState.REMOVED]

        self._confirm_all(confirming, t_s, shape_of)

        for d in unmatched_high:
            if det[d, 4] < cfg.new_track_score:
                continue
            if kp is not None and (kp[d, :, 2] > cfg.joint_conf).sum() < cfg.min_joints:
                continue
            if len(matched_boxes) and _cover(det[d, :4], matched_boxes).max() >= cfg.occluded_birth_cover:
                continue  # inside a person seen in this frame: a part of them, not a new one
            track = _Track(det[d, :4], det[d, 4], None if kp is None else kp[d], t_s, cfg)
            if clean[d]:
                track.observe_signature(sigs.get(d), cfg.appearance_gain)
            self._tracks.append(track)
            if cfg.min_hits <= 1:
                self._confirm_all([(track, d)], t_s, shape_of)

        out = [t.snapshot(size) for t in self._tracks
               if t.state == TrackState.CONFIRMED and t.misses == 0
               and (t.kp is None or (t.kp[:, 2] > cfg.joint_conf).sum() >= cfg.min_joints)]
        return sorted(out, key=lambda p: p.track_id)

    def _miss(self, track: _Track, t_s: float, image: Optional[np.ndarray],
              matched_boxes: np.ndarray) -> None:
        """Account one unmatched frame of a track: out of view, occluded or lost."""
        cfg = self.config
        track.misses += 1
        if track.state == TrackState.TENTATIVE:
            track.state = TrackState.REMOVED
            return
        pred = track.predicted_box(cfg.max_lost)
        out_of_view = False
        if image is not None:
            H, W = image.shape[:2]
            out_of_view = _cover(pred, np.array([0.0, 0.0, W, H]))[0, 0] < cfg.out_of_view_fraction
        occluded = (len(matched_boxes) > 0
                    and _cover(pred, matched_boxes).max() >= cfg.occlusion_min_cover)
        if out_of_view:
            track.state = TrackState.OUT_OF_VIEW
        else:
            track.state = TrackState.LOST
            if occluded and track.occluded_count < cfg.occlusion_max_lost:
                track.occluded_count += 1
            else:
                track.lost_count += 1
        if track.lost_count > cfg.max_lost or t_s - track.last_seen_s > cfg.reid_window_s:
            track.state = TrackState.REMOVED

    def _confirm_all(self, confirming: List[tuple], t_s: float,
                     shape_of: Optional[ShapeFn]) -> None:
        """Confirm tracks: an earlier person's id back when re-identified, else a new id."""
        if not confirming:
            return
        cfg = self.config
        cands = ([t for t in self._tracks if t.state in (TrackState.LOST, TrackState.OUT_OF_VIEW)]
                 + self._identities)
        usable = [c for c in cands if c.signature is not None]
        with_sig = [(tr, d) for tr, d in confirming if tr.signature is not None]
        if usable and with_sig and shape_of is not None:
            need = [(tr, d) for tr, d in with_sig if tr.shape is None]
            shapes = shape_of([d for _, d in need]) if need else None
            if shapes is not None:
                for (tr, _), betas in zip(need, shapes):
                    tr.observe_shape(betas, 1.0)
        cost = np.full((len(confirming), len(usable)), np.inf)
        for i, (tr, _) in enumerate(confirming):
            if tr.signature is None:
                continue
            for j, c in enumerate(usable):
                cost[i, j] = self._reid_cost(tr, c, t_s)
        taken = set()
        for i, (tr, _) in enumerate(confirming):
            row = cost[i]
            order = np.argsort(row)
            j = int(order[0]) if len(order) else -1
            if j < 0 or not np.isfinite(row[j]) or j in taken:
                self._new_id(tr)
                continue
            rivals = np.concatenate([np.delete(row, j), np.delete(cost[:, j], i)])
            if np.isfinite(rivals).any() and rivals.min() - row[j] < cfg.reid_margin:
                self.num_reid_ambiguous += 1
                LOG.info("new track looks like %d candidates (costs %.2f, %.2f): new id rather "
                         "than a possible swap", int(np.isfinite(row).sum()), row[j], rivals.min())
                self._new_id(tr)
                continue
            taken.add(j)
            self._reidentify(tr, usable[j], row[j])

    def _reid_cost(self, track: _Track, cand, t_s: float) -> float:
        """Sum of the gate ratios (appearance, shape, motion); inf when a gate fails."""
        cfg = self.config
        app = hellinger(track.signature, cand.signature)
        if app > cfg.reid_appearance_gate:
            return np.inf
        cost = app / max(cfg.reid_appearance_gate, 1e-9)
        if track.shape is not None and cand.shape is not None and track.shape.shape == cand.shape.shape:
            shape = float(np.linalg.norm(track.shape - cand.shape))
            if shape > cfg.reid_shape_gate:
                return np.inf
            cost += shape / max(cfg.reid_shape_gate, 1e-9)
        allowed = cfg.reid_max_speed * max(t_s - cand.last_seen_s, 0.0) + 1.0
        boxes = [cand.box] if isinstance(cand, _Identity) else \
            [cand.box, cand.predicted_box(cfg.max_lost)]
        moved = min(_centre_distance(track.box, b) for b in boxes)
        if moved > allowed:
            return np.inf
        return cost + moved / allowed

    def _new_id(self, track: _Track) -> None:
        track.state = TrackState.CONFIRMED
        track.track_id = self._next_id
        self._next_id += 1
        LOG.debug("track %d confirmed", track.track_id)

    def _reidentify(self, track: _Track, cand, cost: float) -> None:
        """``track`` takes ``cand``'s id (and its signature and shape); ``cand`` ends."""
        track.state = TrackState.CONFIRMED
        track.track_id = cand.track_id
        track.reidentified = True
        if cand.signature is not None and track.signature is not None:
            track.signature = 0.5 * (cand.signature + track.signature)
        if track.shape is None:
            track.shape = cand.shape
        if isinstance(cand, _Identity):
            self._identities.remove(cand)
        else:
            self._tracks.remove(cand)
        self.num_reidentified += 1
        LOG.info("track %d re-identified (cost %.2f)", track.track_id, cost)
