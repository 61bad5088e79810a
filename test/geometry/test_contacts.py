"""Foot contacts: names of the 4 points, the 0.5 threshold, per-foot booleans."""
from pathlib import Path

import numpy as np
import pytest

from wham_ros.geometry.contacts import (
    CONTACT_POINT_NAMES, CONTACT_POINT_SMPL_VERTICES, CONTACT_THRESHOLD, FOOT_POINTS, foot_contacts)

DATA = Path(__file__).parent / "data" / "wham_T24_geometry.npz"


def test_names_order_and_feet():
    assert CONTACT_POINT_NAMES == ("left_toe", "left_heel", "right_toe", "right_heel")
    assert CONTACT_POINT_SMPL_VERTICES == (3216, 3387, 6617, 6787)  # WHAM compute_foot_sliding
    for foot, idx in FOOT_POINTS.items():
        assert all(CONTACT_POINT_NAMES[i].startswith(foot) for i in idx)
    assert CONTACT_THRESHOLD == 0.5


@pytest.mark.parametrize("scores, points, left, right", [
    ([0.9, 0.1, 0.2, 0.3], [True, False, False, False], True, False),
    ([0.1, 0.2, 0.3, 0.51], [False, False, False, True], False, True),
    ([0.5, 0.5, 0.5, 0.5], [False] * 4, False, False),  # strictly greater, as WHAM
    ([1.3, -0.2, np.nan, 0.7], [True, False, False, True], True, True),  # raw scores, NaN = no contact
])
def test_threshold(scores, points, left, right):
    c = foot_contacts(np.array(scores))
    np.testing.assert_array_equal(c.points_in_contact, points)
    assert (c.left, c.right) == (left, right)
    assert list(c.as_dict()) == list(CONTACT_POINT_NAMES)


def test_reference_scores_exercise_both_branches():
    contact = np.load(DATA)["contact"]  # (T, 4) WHAM reference output
    flags = np.array([foot_contacts(c).points_in_contact for c in contact])
    np.testing.assert_array_equal(flags, contact > 0.5)
    assert flags.any() and not flags.all()


def test_bad_shape_is_rejected():
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        foot_contacts(np.zeros(3))
