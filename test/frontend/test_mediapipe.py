"""MediaPipe BlazePose fallback on a real photo (skimage astronaut); skipped without mediapipe."""
import numpy as np
import pytest

from wham_ros.frontend.mediapipe_pose import (BLAZEPOSE_INDEX, BLAZEPOSE_LANDMARKS,
                                              COCO_TO_BLAZEPOSE, INSTALL_HINT)
from wham_ros.frontend.wham_inputs import COCO17_JOINTS

ASTRONAUT_BOX = np.array([18, 8, 372, 511])       # the person in skimage.data.astronaut()
J = {name: i for i, name in enumerate(COCO17_JOINTS)}


def test_index_table_maps_names_to_names():
    assert len(BLAZEPOSE_LANDMARKS) == 33 and len(BLAZEPOSE_INDEX) == 17
    for coco_name, idx in zip(COCO17_JOINTS, BLAZEPOSE_INDEX):
        assert BLAZEPOSE_LANDMARKS[idx] == COCO_TO_BLAZEPOSE[coco_name] == coco_name
    assert BLAZEPOSE_INDEX[J["left_hip"]] == 23 and BLAZEPOSE_INDEX[J["right_ankle"]] == 28


@pytest.fixture(scope="module")
def pose():
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        pytest.skip(f"mediapipe not installed ({INSTALL_HINT})")
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the photo")
    from wham_ros.frontend.mediapipe_pose import MediaPipePose
    model = MediaPipePose()
    yield model, skimage_data.astronaut()
    model.close()


def check_on_person(kp, offset=(0, 0)):
    x1, y1, x2, y2 = ASTRONAUT_BOX + np.array([*offset, *offset])
    xy, conf = kp[:, :2], kp[:, 2]
    for name in ("nose", "left_eye", "right_eye", "left_shoulder", "right_shoulder"):
        assert conf[J[name]] > 0.5, name
    sure = conf > 0.5
    assert sure.sum() >= 6
    assert np.all((xy[sure, 0] >= x1 - 5) & (xy[sure, 0] <= x2 + 5)), xy[sure]
    assert np.all((xy[sure, 1] >= y1 - 5) & (xy[sure, 1] <= y2 + 5)), xy[sure]
    nose = xy[J["nose"]] - offset
    assert 150 < nose[0] < 300 and 40 < nose[1] < 220          # her face
    shoulder_y = xy[[J["left_shoulder"], J["right_shoulder"]], 1].mean()
    assert shoulder_y > xy[J["nose"], 1] + 50
    assert xy[[J["left_hip"], J["right_hip"]], 1].min() > shoulder_y + 100
    # the person's left shoulder is on the image's right (she faces the camera)
    assert xy[J["left_shoulder"], 0] > xy[J["right_shoulder"], 0]


def test_keypoints_land_on_the_astronaut(pose):
    model, img = pose
    kp = model.estimate(img)
    assert kp.shape == (1, 17, 3) and kp.dtype == np.float32
    check_on_person(kp[0])


def test_box_crops_map_back_to_image_pixels(pose):
    model, img = pose
    canvas = np.zeros((800, 700, 3), np.uint8)
    canvas[100:612, 150:662] = img
    box = ASTRONAUT_BOX + np.array([150, 100, 150, 100])
    kp = model.estimate(canvas, np.array([np.append(box, 0.9)]))
    assert kp.shape == (1, 17, 3)
    check_on_person(kp[0], offset=(150, 100))
    empty = model.estimate(np.zeros((200, 200, 3), np.uint8), np.array([[10, 10, 150, 190]]))
    np.testing.assert_array_equal(empty, 0.0)                   # nobody there: confidence 0


def test_bad_input(pose):
    model, _ = pose
    with pytest.raises(ValueError, match="uint8 RGB image"):
        model.estimate(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match=r"boxes must be \(N, 4\)"):
        model.estimate(np.zeros((10, 10, 3), np.uint8), np.zeros((2, 3)))
