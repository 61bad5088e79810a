"""Multi-person tracker with stable ids (ByteTrack-style association, causal smoothing).

Per frame (``MultiPersonTracker.update``):

1. Every live track (tentative, confirmed, lost) predicts its box with a constant-velocity
   model (per-frame velocity, an exponential average of measured box motion), and its
   keypoints by shifting the last ones with the predicted box centre.
2. Stage 1: detections with ``score >= high_score`` are matched to all live tracks by the
   Hungarian algorithm on ``1 - similarity``, ``similarity = (1 - w) IoU + w OKS`` where both
   sides have keypoints (``w = keypoint_weight``) and IoU otherwise; pairs below
   ``match_min_similarity`` are not matched.
3. Stage 2: detections with ``low_score <= score < high_score`` are matched by IoU
   (``>= low_match_min_iou``) to the tracks that were confirmed and seen in the previous frame
   and are still unmatched (occluded people keep their track through low-score boxes).
4. Unmatched tentative tracks are removed; unmatched confirmed tracks become lost; lost tracks
   older than ``max_lost`` frames are removed. A lost track that is matched again keeps its id
   (re-identification across short occlusions).
5. Unmatched high-score detections with ``score >= new_track_score`` (and, with keypoints, at
   least ``min_joints`` confident joints) start tentative tracks; ``min_hits`` consecutive
   matches confirm a track, which then gets the next id. Ids are never reused, not even
   after :meth:`MultiPersonTracker.reset` (time jumped back): one id means one person for
   the tracker's lifetime.

Boxes and keypoints of confirmed tracks are smoothed causally with One-Euro filters
(``wham_ros.tracking.one_euro``). Units: pixels; time in seconds; counts in frames.
"""
import enum
import logging
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from wham_ros.detect.boxes import iou_matrix
from wham_ros.frontend.wham_inputs import CONF_THRESHOLD, MIN_CONFIDENT_JOINTS, NUM_JOINTS
from wham_ros.tracking.one_euro import OneEuroFilter
from wham_ros.tracking.similarity import oks_matrix

LOG = logging.getLogger(__name__)
_INFEASIBLE = 1e6


class TrackState(enum.Enum):
    """Life cycle of a track."""

    TENTATIVE = "tentative"   # born, not yet seen in min_hits consecutive frames; no id yet
    CONFIRMED = "confirmed"   # matched in the current frame
    LOST = "lost"             # confirmed earlier, unmatched for 1..max_lost frames
    REMOVED = "removed"       # dead; its id is never given out again


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
        max_lost: death: frames a lost track is kept for re-identification.
        velocity_gain: exponential-average gain of the per-frame box velocity, in (0, 1].
        min_joints: a person is reported only with this many joints above ``joint_conf``.
        joint_conf: joint confidence threshold (WHAM: 0.3).
        fps: frame rate used for timestamps when ``update`` gets none.
        box_min_cutoff_hz, box_beta: One-Euro parameters for the box corners.
        kp_min_cutoff_hz, kp_beta: One-Euro parameters for the keypoint positions.
        d_cutoff_hz: One-Euro derivative cut-off.
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

    def __post_init__(self):
        if not 0.0 <= self.low_score <= self.high_score <= 1.0:
            raise ValueError(f"need 0 <= low_score ({self.low_score}) <= high_score "
                             f"({self.high_score}) <= 1")
        if self.min_hits < 1 or self.max_lost < 0:
            raise ValueError(f"need min_hits >= 1 and max_lost >= 0; got {self.min_hits}, "
                             f"{self.max_lost}")
        if not 0.0 <= self.keypoint_weight <= 1.0 or not 0.0 < self.velocity_gain <= 1.0:
            raise ValueError(f"keypoint_weight ({self.keypoint_weight}) must lie in [0, 1] and "
                             f"velocity_gain ({self.velocity_gain}) in (0, 1]")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive; got {self.fps}")


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
        self.misses = 0
        self.box_filter = OneEuroFilter(cfg.box_min_cutoff_hz, cfg.box_beta, cfg.d_cutoff_hz)
        self.kp_filter = OneEuroFilter(cfg.kp_min_cutoff_hz, cfg.kp_beta, cfg.d_cutoff_hz)
        self.smooth_box = self.box_filter(self.box, t_s)
        self.smooth_kp = None if kp is None else self.kp_filter(self.kp[:, :2], t_s)

    def predicted_box(self) -> np.ndarray:
        return self.box + self.vel * (self.misses + 1)

    def predicted_kp(self) -> Optional[np.ndarray]:
        if self.kp is None:
            return None
        shift = (self.predicted_box() - self.box).reshape(2, 2).mean(0)   # centre motion, 2
        out = self.kp.copy()
        out[:, :2] += shift
        return out

    def update(self, box, score, kp, t_s, gain):
        gap = self.misses + 1
        self.vel = gain * (box - self.box) / gap + (1.0 - gain) * self.vel
        self.box = box.astype(np.float64)
        self.score = float(score)
        self.misses = 0
        self.hits += 1
        self.smooth_box = self.box_filter(self.box, t_s)
        if kp is not None:
            self.kp = kp.astype(np.float64)
            self.smooth_kp = self.kp_filter(self.kp[:, :2], t_s)

    def snapshot(self) -> TrackedPerson:
        kp = None
        if self.kp is not None and self.smooth_kp is not None:
            kp = np.concatenate([self.smooth_kp, self.kp[:, 2:]], -1).astype(np.float32)
        return TrackedPerson(
            track_id=self.track_id, state=self.state,
            box_xyxy=self.smooth_box.astype(np.float32), keypoints=kp,
            raw_box_xyxy=self.box.astype(np.float32),
            raw_keypoints=None if self.kp is None else self.kp.astype(np.float32),
            score=self.score, age=self.age, frames_since_seen=self.misses)


class MultiPersonTracker:
    """Tracks people across frames; see the module docstring for the algorithm.

    Args:
        config: parameters (defaults: ``TrackerConfig()``).
    """

    def __init__(self, config: Optional[TrackerConfig] = None):
        self.config = config or TrackerConfig()
        self._tracks: List[_Track] = []
        self._next_id = 1
        self._frame = 0
        self._last_t: Optional[float] = None
        self.num_removed = 0

    def reset(self) -> None:
        """Forget every track and the time base; the next id continues after the last one."""
        self._tracks = []
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
        """Snapshots of all live tracks (tentative, confirmed and lost)."""
        return [t.snapshot() for t in self._tracks]

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

    def _similarity(self, tracks: List[_Track], det, kp) -> np.ndarray:
        boxes = np.array([t.predicted_box() for t in tracks]).reshape(-1, 4)
        sim = iou_matrix(det[:, :4], boxes)                                  # D x T
        w = self.config.keypoint_weight
        if kp is None or w == 0 or not tracks:
            return sim
        has_kp = np.array([t.kp is not None for t in tracks])
        if not has_kp.any():
            return sim
        pred_kp = np.stack([t.predicted_kp() if t.kp is not None
                            else np.zeros((NUM_JOINTS, 3)) for t in tracks])
        oks = oks_matrix(kp, pred_kp, det[:, :4], self.config.joint_conf)   # D x T (NaN: none)
        return np.where(np.isnan(oks), sim, (1.0 - w) * sim + w * np.nan_to_num(oks))

    @staticmethod
    def _assign(sim: np.ndarray, gate: float):
        """Hungarian assignment maximising similarity; pairs below ``gate`` are dropped."""
        if sim.size == 0:
            return []
        cost = np.where(sim >= gate, 1.0 - sim, _INFEASIBLE)
        rows, cols = linear_sum_assignment(cost)
        return [(r, c) for r, c in zip(rows, cols) if sim[r, c] >= gate]

    def update(self, detections: np.ndarray, keypoints: Optional[np.ndarray] = None,
               stamp_s: Optional[float] = None) -> List[TrackedPerson]:
        """Advance by one frame.

        Args:
            detections: (N, 5) ``[x1, y1, x2, y2, score]`` in pixels (N may be 0).
            keypoints: (N, 17, 3) COCO-17 ``[x_px, y_px, conf]`` per detection, or None.
            stamp_s: frame time in seconds (strictly increasing); default frame / fps.

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
        scores = det[:, 4]
        high = np.flatnonzero(scores >= cfg.high_score)
        low = np.flatnonzero((scores >= cfg.low_score) & (scores < cfg.high_score))
        tracks = self._tracks
        was_tracked = [t.state == TrackState.CONFIRMED for t in tracks]

        # Stage 1: high-score detections vs all live tracks (IoU + OKS).
        sub_kp = None if kp is None else kp[high]
        pairs = self._assign(self._similarity(tracks, det[high], sub_kp), cfg.match_min_similarity)
        matched_t = {c for _, c in pairs}
        matches = [(high[r], c) for r, c in pairs]
        unmatched_high = [high[r] for r in range(len(high)) if r not in {r for r, _ in pairs}]

        # Stage 2: low-score detections vs tracks confirmed in the previous frame (IoU only).
        rest = [i for i, t in enumerate(tracks) if i not in matched_t and was_tracked[i]]
        if rest and len(low):
            boxes = np.array([tracks[i].predicted_box() for i in rest])
            pairs2 = self._assign(iou_matrix(det[low, :4], boxes), cfg.low_match_min_iou)
            matches += [(low[r], rest[c]) for r, c in pairs2]
            matched_t |= {rest[c] for _, c in pairs2}

        for d, ti in matches:
            track = tracks[ti]
            track.update(det[d, :4], det[d, 4], None if kp is None else kp[d], t_s,
                         cfg.velocity_gain)
            if track.state == TrackState.TENTATIVE and track.hits >= cfg.min_hits:
                self._confirm(track)
            elif track.state == TrackState.LOST:
                track.state = TrackState.CONFIRMED
                LOG.debug("track %d re-identified", track.track_id)

        for i, track in enumerate(tracks):
            track.age += 1
            if i in matched_t:
                continue
            track.misses += 1
            if track.state == TrackState.CONFIRMED:
                track.state = TrackState.LOST
            if track.state == TrackState.TENTATIVE or track.misses > cfg.max_lost:
                track.state = TrackState.REMOVED
        self.num_removed += sum(t.state == TrackState.REMOVED for t in tracks)
        self._tracks = [t for t in tracks if t.state != TrackState.REMOVED]

        for d in unmatched_high:
            if det[d, 4] < cfg.new_track_score:
                continue
            if kp is not None and (kp[d, :, 2] > cfg.joint_conf).sum() < cfg.min_joints:
                continue
            track = _Track(det[d, :4], det[d, 4], None if kp is None else kp[d], t_s, cfg)
            if cfg.min_hits <= 1:
                self._confirm(track)
            self._tracks.append(track)

        out = [t.snapshot() for t in self._tracks
               if t.state == TrackState.CONFIRMED and t.misses == 0
               and (t.kp is None or (t.kp[:, 2] > cfg.joint_conf).sum() >= cfg.min_joints)]
        return sorted(out, key=lambda p: p.track_id)

    def _confirm(self, track: _Track) -> None:
        track.state = TrackState.CONFIRMED
        track.track_id = self._next_id
        self._next_id += 1
        LOG.debug("track %d confirmed", track.track_id)
