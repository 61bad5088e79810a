"""Overlay and world view: the people's pixels are where their projected joints are."""
import numpy as np
import pytest
from render_helpers import FACES, box_human

from wham_ros.render.overlay import render_overlay
from wham_ros.render.raster import project, track_color
from wham_ros.render.world_view import WorldView
from wham_ros.types import FrameResult

W, H = 320, 240
K = np.array([[300.0, 0, W / 2], [0, 300.0, H / 2], [0, 0, 1]])


def _result(humans):
    return FrameResult(1, "cam", "map", humans=humans, K=K, image_size=(W, H),
                       T_world_camera=np.eye(4))


def _hue_matches(pixel, color):
    """The pixel is a shade of ``color``: same channel order, not background grey."""
    p, c = np.asarray(pixel, float), np.asarray(color, float)
    return p.max() > 40 and np.argmax(p) == np.argmax(c) and np.argmin(p) == np.argmin(c)


@pytest.mark.parametrize("mode", ["mesh", "skeleton"])
def test_people_pixels_at_their_projected_joints(mode):
    people = [box_human(1, [-0.5, 0.0, 4.0]), box_human(2, [0.6, 0.1, 5.0])]
    image = np.full((H, W, 3), 128, np.uint8)
    out = render_overlay(image, _result(people), FACES, mode=mode)
    assert out.shape == image.shape and np.array_equal(image, np.full((H, W, 3), 128, np.uint8))
    for h in people:
        uv, _ = project(h.coco_joints_cam, K)
        inside = [(int(round(u)), int(round(v))) for u, v in uv if 0 <= u < W and 0 <= v < H]
        assert len(inside) >= 10
        hits = [_hue_matches(out[v, u], track_color(h.track_id)) for u, v in inside]
        # ankles carry the contact dot (white), a few joints can hide behind nearer ones
        assert np.mean(hits) >= 0.7, (h.track_id, hits)
    # far from everybody the image is untouched
    assert (out[2, 2] == 128).all()


def test_mesh_needs_faces_and_vertices_else_skeleton():
    h = box_human(3, [0.0, 0.0, 3.0])
    img = np.zeros((H, W, 3), np.uint8)
    with_mesh = render_overlay(img, _result([h]), FACES)
    no_faces = render_overlay(img, _result([h]), None)
    skeleton = render_overlay(img, _result([h]), FACES, mode="skeleton")
    assert np.array_equal(no_faces, skeleton) and not np.array_equal(with_mesh, skeleton)
    h.vertices_cam = None  # no mesh computed on this frame: skeleton too
    assert np.array_equal(render_overlay(img, _result([h]), FACES), skeleton)
    with pytest.raises(ValueError, match="Unknown overlay mode"):
        render_overlay(img, _result([h]), FACES, mode="wire")


def test_world_view_draws_people_trail_and_ground():
    view = WorldView(W, H)
    first = None
    for k in range(5):
        h = box_human(1, [0.0, 0.0, 3.0])
        h.trans_world = np.array([0.2 * k, 0.0, 1.0])
        pic = view.render(_result([h]), FACES)
        first = pic if first is None else first
    assert pic.shape == (H, W, 3)
    colored = np.array([_hue_matches(p, track_color(1)) for p in pic.reshape(-1, 3)[::7]])
    assert colored.sum() > 20  # the person (and trail) in its colour
    assert len(view.trails[1]) == 5 and view.ground_z is not None
    assert not np.array_equal(first, pic)  # it moves
