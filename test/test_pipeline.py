"""End-to-end pipeline on synthetic scenes with the synthetic model set (real ORT, real WHAM)."""
import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
from synthetic_set import load_paths

from wham_ros.geometry.so3 import angle_between
from wham_ros.pipeline import Pipeline, build_frontend, build_wham_stage
from wham_ros.testing.scenes import make_scene
from wham_ros.testing.synthetic_models import synthetic_pipeline_config
from wham_ros.tracking.tracker import TrackerConfig
from wham_ros.types import CameraFrame


@pytest.fixture(scope="module")
def models(synthetic_models):
    return load_paths(synthetic_models)


def run(pipe, scene, hook=None):
    """Feed IMU up to each frame stamp, then the frame; returns the FrameResults."""
    k, results = 0, []
    for fr in scene.frames:
        while k < len(scene.imu) and scene.imu[k].stamp_ns <= fr.stamp_ns:
            pipe.add_imu(scene.imu[k])
            k += 1
        results.append(pipe.process(fr))
        if hook:
            hook(results[-1])
    return results


def test_two_people_tracked_and_grounded(models):
    pipe = Pipeline(synthetic_pipeline_config(models))
    res = run(pipe, make_scene(12))
    assert [len(r.humans) for r in res] == [0] + [2] * 11  # birth after min_hits=2 frames
    for i, r in enumerate(res[1:], start=2):
        assert r.world_frame_id == "wham_world" and r.frame_id == "camera_optical_frame"
        ids = sorted(h.track_id for h in r.humans)
        assert ids == [1, 2]
        for h in r.humans:
            assert h.age == i - 1
            assert h.body_pose.shape == (23, 3, 3) and h.betas.shape == (10,)
            assert h.smpl_joints_cam.shape == (24, 3) and h.coco_joints_world.shape == (17, 3)
            assert h.trans_cam[2] > 0  # in front of the camera
            assert np.allclose(h.global_orient_cam @ h.global_orient_cam.T, np.eye(3), atol=1e-5)
            assert np.allclose(h.global_orient_world @ h.global_orient_world.T, np.eye(3), atol=1e-5)
            assert h.vertices_cam is None
            # Hip centre: mean of COCO hips, in both frames
            assert np.allclose(h.coco_joints_cam[[11, 12]].mean(0), h.trans_cam, atol=1e-5)
            assert np.allclose(h.coco_joints_world[[11, 12]].mean(0), h.trans_world, atol=1e-5)
    # red person (left) and green person (right) keep their ids
    left = {h.track_id: h.bbox_xyxy[0] for h in res[-1].humans}
    assert left[1] < left[2]
    assert pipe.faces.shape == (13776, 3)


def test_world_follows_the_imu(models):
    pan = 0.5
    scene = make_scene(12, pan_rate_rad_s=pan)
    res = run(Pipeline(synthetic_pipeline_config(models)), scene)
    R0 = res[0].T_world_camera[:3, :3]
    R11 = res[11].T_world_camera[:3, :3]
    # world z is up: camera optical y points down
    assert np.allclose(R0 @ [0, 1, 0], [0, 0, -1], atol=2e-3)
    assert abs(angle_between(R0, R11) - pan * 11 / 30) < 2e-3


def test_stages_compose_and_match_batch_wham(models):
    """The composed pipeline equals FrontEnd + WhamStage run separately, and the streamed
    WHAM outputs equal the batch forward over the same recorded inputs."""
    cfg = synthetic_pipeline_config(models)
    scene = make_scene(10)
    fe, wham = build_frontend(cfg), build_wham_stage(cfg)
    fed = []  # the WHAMFrame of track 1 on each step
    engine_step = wham.engine.step
    wham.engine.step = lambda frames, **kw: (fed.append(frames.get(1)), engine_step(frames, **kw))[1]
    recorded = {"x": [], "mask": [], "feat": [], "angvel": [], "bbox": [], "trans_cam": [],
                "pose": []}
    k = 0
    for fr in scene.frames:
        while k < len(scene.imu) and scene.imu[k].stamp_ns <= fr.stamp_ns:
            wham.add_imu(scene.imu[k])
            k += 1
        step = wham.decide(fr.stamp_ns)
        fres = fe.process(fr, step.delta_R if step.valid else None)  # as Pipeline does
        out = wham.process(fres, step)
        for ob in fres.observations:
            if ob.track_id == 1:
                if ob.is_new:
                    recorded["init"] = ob
                recorded["x"].append(ob.x)
                recorded["mask"].append(ob.mask)
                recorded["feat"].append(ob.features)
                recorded["angvel"].append(fed[-1].cam_angvel)
                recorded["bbox"].append(ob.bbox_cxcys)
                h = [h for h in out.humans if h.track_id == 1][0]
                recorded["trans_cam"].append(h.trans_cam)
                recorded["pose"].append(h.body_pose)
    composed = run(Pipeline(cfg), scene)
    h_sep = [h for h in out.humans if h.track_id == 1][0]
    h_comp = [h for h in composed[-1].humans if h.track_id == 1][0]
    assert np.array_equal(h_sep.trans_world, h_comp.trans_world)

    net = wham.engine.net
    ob0 = recorded["init"]
    from wham_ros.wham import make_track_init
    kp, sm, _ = make_track_init(net.smpl, torch.as_tensor(ob0.init_global_orient)[None],
                                torch.as_tensor(ob0.init_body_pose)[None],
                                torch.as_tensor(ob0.init_betas)[None], torch.as_tensor(ob0.x)[None])
    init_root = wham.grounding.anchors[1].init_root_6d(ob0.init_global_orient)
    T = len(recorded["x"])
    st = lambda k, dt=torch.float32: torch.as_tensor(np.stack(recorded[k]))[None].to(dt)  # noqa
    K = torch.as_tensor(scene.K, dtype=torch.float32)[None, None]
    with torch.no_grad():
        ref = net(st("x"), (kp[:, None], sm[:, None]), st("feat"), mask=st("mask", torch.bool),
                  init_root=torch.as_tensor(init_root, dtype=torch.float32)[None, None],
                  cam_angvel=st("angvel"), cam_intrinsics=K, bbox=st("bbox"),
                  res=torch.tensor([[640.0, 480.0]]))
    assert T == 9
    assert np.abs(ref["trans_cam"].numpy() - np.stack(recorded["trans_cam"])).max() < 1e-5
    assert np.abs(ref["poses_body"].numpy() - np.stack(recorded["pose"])).max() < 1e-5


def test_person_leaving_ends_its_track(models):
    cfg = synthetic_pipeline_config(models, tracker=TrackerConfig(min_hits=2, max_lost=2))
    pipe = Pipeline(cfg)
    full, alone = make_scene(6, people=2), make_scene(6, people=2, start_ns=1_200_000_000)
    for fr in alone.frames:  # the green person walks out of view
        green = np.all(fr.image == (0, 255, 0), axis=-1)
        fr.image[green] = 110
    res = run(pipe, full) + run(pipe, alone)
    assert {h.track_id for h in res[5].humans} == {1, 2}
    assert {h.track_id for h in res[-1].humans} == {1}
    assert pipe.wham.engine.track_ids == [1]  # track 2 ended in WHAM too
    assert 2 not in pipe.wham.grounding.anchors


def test_60hz_camera_steps_wham_at_30hz(models):
    pipe = Pipeline(synthetic_pipeline_config(models))
    res = run(pipe, make_scene(12, fps=60))
    stepped = [not r.dropped for r in res]
    assert stepped == [True, False] * 6
    assert all(r.skipped_reason for r in res if r.dropped)
    assert max(h.age for h in res[-2].humans) == 5


def test_full_mesh_and_missing_intrinsics(models, caplog):
    pipe = Pipeline(synthetic_pipeline_config(models, full_mesh=True))
    scene = make_scene(3)
    for fr in scene.frames:
        fr.K = None
    with caplog.at_level(logging.WARNING):
        res = run(pipe, scene)
    assert caplog.text.count("No camera intrinsics") == 1
    h = res[-1].humans[0]
    assert h.vertices_cam.shape == (6890, 3)
    assert np.allclose(h.vertices_cam.mean(0), h.trans_cam, atol=1.0)


@pytest.mark.parametrize("image", [np.zeros((480, 640), np.uint8), np.zeros((480, 640, 3), np.float32),
                                   np.zeros((0, 640, 3), np.uint8)])
def test_bad_image_is_a_clear_error(models, image):
    pipe = Pipeline(synthetic_pipeline_config(models))
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 RGB image"):
        pipe.process(CameraFrame(1, image))


def test_missing_model_file_is_a_clear_error(models, tmp_path):
    from wham_ros.ort_session import ModelFileError
    from wham_ros.wham import CheckpointError
    with pytest.raises(ModelFileError, match="not found"):
        Pipeline(replace(synthetic_pipeline_config(models), detector_onnx=str(tmp_path / "x.onnx")))
    with pytest.raises(CheckpointError, match="not found"):
        Pipeline(replace(synthetic_pipeline_config(models), wham_checkpoint=str(tmp_path / "w.tar")))


def test_four_people_in_one_batched_step(models):
    pipe = Pipeline(synthetic_pipeline_config(models))
    res = run(pipe, make_scene(5, people=4, size=(960, 480)))
    assert sorted(h.track_id for h in res[-1].humans) == [1, 2, 3, 4]
    xs = {h.track_id: h.bbox_xyxy[0] for h in res[-1].humans}
    assert sorted(xs, key=xs.get) == [1, 2, 3, 4]  # detector candidates in colour order, left to right
    assert all(h.age == 4 for h in res[-1].humans)


def test_camera_rotation_during_a_gap_reaches_the_track(models):
    """A track unseen for some frames gets the camera rotation of the whole gap on its next
    step (composed per-frame rotations); its first step sees no camera motion."""
    from wham_ros.geometry.so3 import exp_so3, matrix_to_6d
    pan = 0.6
    cfg = synthetic_pipeline_config(models, tracker=TrackerConfig(min_hits=2, max_lost=10))
    pipe = Pipeline(cfg)
    fed = []
    engine_step = pipe.wham.engine.step
    pipe.wham.engine.step = lambda frames, **kw: (fed.append(dict(frames)), engine_step(frames, **kw))[1]
    scene = make_scene(10, pan_rate_rad_s=pan)
    for i in (4, 5, 6):  # the green person (track 2) hides for three frames
        green = np.all(scene.frames[i].image == (0, 255, 0), axis=-1)
        scene.frames[i].image[green] = 110
    run(pipe, scene)
    angvel_2 = [f[2].cam_angvel for f in fed if 2 in f]
    angvel_1 = [f[1].cam_angvel for f in fed if 1 in f]
    assert np.allclose(angvel_1[0], 0) and np.allclose(angvel_2[0], 0)
    one = (matrix_to_6d(exp_so3(np.array([0, pan / 30, 0]))) - [1, 0, 0, 0, 1, 0]) * 30
    assert np.allclose(angvel_1[1], one, atol=2e-3)
    gap = (matrix_to_6d(exp_so3(np.array([0, 4 * pan / 30, 0]))) - [1, 0, 0, 0, 1, 0]) * 30
    i_back = [k for k, f in enumerate(fed) if 2 in f]
    back = i_back.index(next(k for k in i_back if k > 3))
    assert np.allclose(angvel_2[back], gap, atol=5e-3)
    assert not np.allclose(angvel_2[back], one, atol=5e-3)


def test_flip_eval_pipeline(models):
    """flip_eval: the front-end adds the mirrored view (keypoints mirrored and swapped, HMR2.0
    on the mirrored crop) and WHAM merges both passes, as WHAM's demo with FLIP_EVAL."""
    cfg = synthetic_pipeline_config(models, flip_eval=True)
    pipe = Pipeline(cfg)
    seen = []
    fe_process = pipe.frontend.process
    pipe.frontend.process = lambda fr, *rot: (seen.append(fe_process(fr, *rot)), seen[-1])[1]
    res = run(pipe, make_scene(6))
    plain = run(Pipeline(synthetic_pipeline_config(models)), make_scene(6))
    assert [len(r.humans) for r in res] == [len(r.humans) for r in plain] == [0] + [2] * 5
    ob = seen[-1].observations[0]
    W = 640
    from wham_ros.frontend.wham_inputs import normalize_keypoints
    from wham_ros.vitpose.keypoints import COCO17_FLIP_INDEX
    fkp = ob.keypoints[COCO17_FLIP_INDEX].copy()
    fkp[:, 0] = W - fkp[:, 0]
    fbox = ob.bbox_cxcys.copy()
    fbox[0] = W - fbox[0]
    assert np.allclose(ob.flipped_x, normalize_keypoints(fkp[None], fbox[None], (W, 480))[0])
    assert ob.flipped_features.shape == (1024,) and not np.allclose(ob.flipped_features, ob.features)
    h_flip = {h.track_id: h for h in res[-1].humans}
    h_plain = {h.track_id: h for h in plain[-1].humans}
    assert not np.allclose(h_flip[1].body_pose, h_plain[1].body_pose, atol=1e-4)
    # the WHAM stage refuses observations without the mirrored view rather than guessing
    from wham_ros.geometry.grounding import GroundingStep
    ob.flipped_x = None
    other = seen[-1].observations[1].track_id
    ages = {t: pipe.wham.engine.age(t) for t in (ob.track_id, other)}
    pipe.wham.process(seen[-1], GroundingStep(True, np.zeros(6)))
    assert pipe.wham.engine.age(ob.track_id) == ages[ob.track_id]
    assert pipe.wham.engine.age(other) == ages[other] + 1


def test_root_velocity_and_heading_rate_match_the_trajectory(models):
    """root_velocity_world integrates to trans_world; heading_rate differentiates the world root."""
    from wham_ros.geometry.heading import heading

    pipe = Pipeline(synthetic_pipeline_config(models))
    scene = make_scene(8)
    res = run(pipe, scene)
    H, W = scene.frames[0].image.shape[:2]
    assert res[-1].K.shape == (3, 3) and res[-1].image_size == (W, H)
    by_track = {}
    for r in res:
        for h in r.humans:
            by_track.setdefault(h.track_id, []).append(h)
    assert set(by_track) == {1, 2}
    for hs in by_track.values():
        assert hs[0].heading_rate == 0.0  # no previous step
        moved = 0.0
        for prev, now in zip(hs, hs[1:]):
            # p_t - p_{t-1} = WHAM's refined root displacement of this step = v / 30
            np.testing.assert_allclose(now.trans_world - prev.trans_world,
                                       now.root_velocity_world / 30.0, atol=1e-5)
            d = heading(now.global_orient_world) - heading(prev.global_orient_world)
            d = (d + np.pi) % (2 * np.pi) - np.pi
            assert now.heading_rate == pytest.approx(d * 30.0, abs=1e-3)
            moved += np.linalg.norm(now.root_velocity_world)
        assert moved > 0.0


def test_wham_engine_options_reach_the_engine(models):
    from wham_ros.ros.params import ParameterError, SPECS, pipeline_kwargs
    kw = pipeline_kwargs({"wham_precision": "fp16", "wham_cuda_graph": False})
    cfg = replace(synthetic_pipeline_config(models), **kw)
    engine = build_wham_stage(cfg).engine
    assert engine.precision == "fp16" and not engine.slots.cuda_graph
    with pytest.raises(ParameterError, match="wham_precision"):
        SPECS["wham_precision"].validate("bf16")


def test_wham_outputs_reach_the_host_in_one_copy(models, monkeypatch):
    """Four people: one device -> host copy per frame (not one per output per person)."""
    pipe = Pipeline(synthetic_pipeline_config(models))
    scene = make_scene(5, people=4, size=(960, 480))
    run(pipe, replace(scene, frames=scene.frames[:4]))
    frame = scene.frames[4]
    step = pipe.wham.decide(frame.stamp_ns)
    fe = pipe.frontend.process(frame)
    copies, cpu = [], torch.Tensor.cpu
    monkeypatch.setattr(torch.Tensor, "cpu", lambda t, *a, **k: copies.append(t.shape) or cpu(t, *a, **k))
    res = pipe.wham.process(fe, step)
    monkeypatch.undo()
    assert len(res.humans) == 4 and len(copies) == 1
    assert copies[0].numel() > 4 * 24 * 3  # every output of every person in that one copy


def test_thread_settings_reach_torch_and_opencv(models):
    """``torch_threads`` / ``opencv_threads`` (node parameters) set the libraries' process-wide
    thread counts when a stage is built; 0 leaves a library's own setting alone."""
    import cv2

    from wham_ros.pipeline import _apply_threads
    from wham_ros.ros.params import pipeline_kwargs

    saved_cv, saved_torch = cv2.getNumThreads(), torch.get_num_threads()
    try:
        cv2.setNumThreads(-1)  # OpenCV's default: one per core
        default_cv = cv2.getNumThreads()
        cfg = replace(synthetic_pipeline_config(models),
                      **pipeline_kwargs({"opencv_threads": 0, "torch_threads": 0}))
        _apply_threads(cfg)
        assert cv2.getNumThreads() == default_cv and torch.get_num_threads() == saved_torch
        build_frontend(replace(cfg, opencv_threads=1))  # every OpenCV call on the caller's thread
        assert cv2.getNumThreads() == 1
        _apply_threads(replace(cfg, opencv_threads=2, torch_threads=1))
        assert cv2.getNumThreads() == 2 and torch.get_num_threads() == 1
    finally:
        cv2.setNumThreads(saved_cv if saved_cv > 1 else 0)
        torch.set_num_threads(saved_torch)
