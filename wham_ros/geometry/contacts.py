"""WHAM's 4 foot-contact scores: names, booleans per point and per foot.

WHAM regresses ``contact`` (4,) per frame for the 4 points of ``J_regressor_feet`` (4, 6890),
and its trajectory refiner treats a point as in contact when the score is > 0.5
(``reset_root_velocity(..., thr=0.5)`` in ``lib/models/wham.py``; ``sliding_loss`` in
``lib/core/loss.py`` uses the same ``contact_prob > 0.5``, and describes the 4 points as
"3D foot (heel and toe) position").

Order of the 4 points: the reference repository does not ship ``J_regressor_feet.npy`` nor say
how its rows are ordered. The only place that names 4 foot points is
``lib/eval/eval_utils.py`` ``compute_foot_sliding``: ``foot_idxs = [3216, 3387, 6617, 6787]``,
which are the SMPL(-H) vertices LBigToe, LHeel, RBigToe, RHeel (``smplx/vertex_ids.py``). We
take the regressor rows in that order: left toe, left heel, right toe, right heel. If a
regressor file with another order is used, change :data:`CONTACT_POINT_NAMES` only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

CONTACT_POINT_NAMES: Tuple[str, ...] = ("left_toe", "left_heel", "right_toe", "right_heel")
"""Meaning of the 4 rows of ``J_regressor_feet`` / the 4 contact scores, in order."""

CONTACT_POINT_SMPL_VERTICES: Tuple[int, ...] = (3216, 3387, 6617, 6787)
"""SMPL vertex ids of the same points (WHAM ``compute_foot_sliding``)."""

FOOT_POINTS: Dict[str, Tuple[int, ...]] = {"left": (0, 1), "right": (2, 3)}
"""Indices into the 4 points for each foot."""

CONTACT_THRESHOLD = 0.5
"""Score above which WHAM treats a point as in contact."""


@dataclass
class FootContacts:
    """Contacts of one person in one frame.

    Attributes:
        scores: (4,) raw WHAM scores, order :data:`CONTACT_POINT_NAMES`.
        points_in_contact: (4,) bool, ``scores > threshold``.
        left: True if the left toe or heel is in contact.
        right: True if the right toe or heel is in contact.
    """

    scores: np.ndarray
    points_in_contact: np.ndarray
    left: bool
    right: bool

    def as_dict(self) -> Dict[str, float]:
        """Scores keyed by point name."""
        return {name: float(s) for name, s in zip(CONTACT_POINT_NAMES, self.scores)}


def foot_contacts(scores: np.ndarray, threshold: float = CONTACT_THRESHOLD) -> FootContacts:
    """Threshold WHAM's contact scores.

    Args:
        scores (np.ndarray): (4,) contact scores (WHAM ``contact`` row; raw linear outputs,
            not probabilities, so values outside [0, 1] occur). NaN counts as no contact.
        threshold: contact when ``score > threshold`` (WHAM uses 0.5).

    Returns:
        FootContacts.

    Raises:
        ValueError: if scores is not 4 numbers.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (4,):
        raise ValueError(f"contact scores must have shape (4,) ({', '.join(CONTACT_POINT_NAMES)}), "
                         f"got {s.shape}")
    on = np.nan_to_num(s, nan=-np.inf) > threshold
    return FootContacts(scores=s, points_in_contact=on,
                        left=bool(on[list(FOOT_POINTS["left"])].any()),
                        right=bool(on[list(FOOT_POINTS["right"])].any()))
