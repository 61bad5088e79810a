"""WHAM network vs the reference outputs of the parity fixture (batch and streaming)."""
import os

import numpy as np
import pytest
import torch

from wham_ros.wham import StreamingWHAM, WHAMFrame, load_network

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                    "wham_parity")
FINAL = ["pose", "betas", "cam", "contact", "feet", "poses_root_cam", "poses_body",
         "poses_root_r6d", "vel_root", "poses_root_r6d_refined", "vel_root_refined",
         "poses_root_world", "trans_world", "trans_cam"]
# Streaming output name -> reference key (y-down world, per frame).
STREAM_KEYS = {"pose": "pose", "betas": "betas", "cam": "cam", "contact": "contact",
               "feet": "feet", "vel_root": "vel_root", "vel_root_refined": "vel_root_refined",
               "poses_root_world": "poses_root_world_ydown", "trans_world": "trans_world_ydown",
               "trans_cam": "trans_cam", "poses_body": "poses_body",
               "joints_cam": "smpl_joints_cam", "offset": "smpl_offset"}
TOL = {torch.float64: 1e-9, torch.float32: 1e-4}


def load_case(T):
    return np.load(os.path.join(DATA, f"inputs_T{T}.npz")), np.load(os.path.join(DATA, f"outputs_T{T}.npz"))


def rel_err(a, ref):
    a = a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)
    return np.abs(a - ref).max() / max(1.0, np.abs(ref).max())


@pytest.fixture(scope="module", params=[torch.float64, torch.float32], ids=["f64", "f32"])
def net(request, wham_state_dict, body_model_dir):
    sd = {k: torch.from_numpy(v) for k, v in wham_state_dict.items()}
    return load_network(sd, body_model_dir, device="cpu", dtype=request.param)


def batch_call(net, i, return_y_up):
    g = lambda k: torch.from_numpy(i[k].copy())  # noqa: E731
    args = {k: g(k) for k in ("x", "init_kp", "init_smpl", "features", "mask", "init_root",
                              "cam_angvel", "cam_intrinsics", "bbox", "res")}
    with torch.no_grad():
        out = net(args["x"], (args["init_kp"], args["init_smpl"]), args["features"],
                  mask=args["mask"], init_root=args["init_root"], cam_angvel=args["cam_angvel"],
                  cam_intrinsics=args["cam_intrinsics"], bbox=args["bbox"], res=args["res"],
                  return_y_up=return_y_up)
    return out, args


@pytest.mark.parametrize("T", [24, 60])
def test_batch_forward_matches_reference(net, T):
    i, o = load_case(T)
    out, args = batch_call(net, i, return_y_up=True)
    tol = TOL[net.dtype]
    # Against the float64 reference (y-up as the demo returns it) ...
    for k in FINAL:
        assert rel_err(out[k], o[k]) <= tol, (k, rel_err(out[k], o[k]))
    # ... and, in float32, against the float32 reference run as well.
    if net.dtype == torch.float32:
        for k in FINAL:
            assert rel_err(out[k], o["f32_" + k]) <= 1e-4, k
    v = out["verts_cam"]
    assert v.shape == (T, 6890, 3)
    assert rel_err(v[:, ::10], o["verts_cam_sub"]) <= tol
    assert rel_err(v.mean(1), o["verts_cam_mean"]) <= tol
    assert rel_err(out["pred_kp3d"], o["pred_kp3d"]) <= tol
    assert rel_err(out["old_motion_context"], o["old_motion_context"]) <= tol
    assert rel_err(out["integrator_out"], o["int_integrator_out"]) <= tol
    assert rel_err(out["update_vel"], o["int_refiner_update_vel"]) <= tol
    assert rel_err(out["joints_cam"], o["smpl_joints_cam"]) <= tol
    # The caller's inputs are untouched (the reference zeroes masked x in place).
    for k, v in args.items():
        assert np.array_equal(v.numpy(), i[k]), k


def test_batch_forward_y_down(net):
    i, o = load_case(24)
    out, _ = batch_call(net, i, return_y_up=False)
    assert rel_err(out["trans_world"], o["trans_world_ydown"]) <= TOL[net.dtype]
    assert rel_err(out["poses_root_world"], o["poses_root_world_ydown"]) <= TOL[net.dtype]


def frame(i, t):
    return WHAMFrame(x=i["x"][0, t], mask=i["mask"][0, t], features=i["features"][0, t],
                     cam_angvel=i["cam_angvel"][0, t], cam_intrinsics=i["cam_intrinsics"][0, 0],
                     bbox=i["bbox"][0, t], res=i["res"][0])


def start(eng, tid, i):
    eng.start_track(tid, i["init_kp"][0, 0], i["init_smpl"][0, 0], i["init_root"][0, 0],
                    first_features=i["features"][0, 0])


def check_stream_frame(out, o, t, tol):
    for k, ref in STREAM_KEYS.items():
        r = o[ref]
        r = r[t] if r.shape[0] != 1 else r[0, t]
        assert rel_err(out[k], r) <= tol, (k, t, rel_err(out[k], r))


@pytest.mark.parametrize("T", [24, 60])
def test_streaming_one_track_matches_batch_reference(net, T):
    i, o = load_case(T)
    eng = StreamingWHAM(net)
    start(eng, "a", i)
    for t in range(T):
        res = eng.step({"a": frame(i, t)}, full_mesh=(t % 7 == 0))
        check_stream_frame(res["a"], o, t, TOL[net.dtype])
        if t % 7 == 0:
            assert rel_err(res["a"]["verts_cam"][::10], o["verts_cam_sub"][t]) <= TOL[net.dtype]
        else:
            assert "verts_cam" not in res["a"]
    assert eng.age("a") == T


def test_streaming_tracks_of_different_ages_batched(net):
    """T60 starts at frame 0, T24 joins at frame 10 and a third track ends early; each
    track's outputs equal its own reference while they share batched steps."""
    i60, o60 = load_case(60)
    i24, o24 = load_case(24)
    eng = StreamingWHAM(net)
    start(eng, 60, i60)
    start(eng, "short", i24)
    tol = TOL[net.dtype]
    for t in range(40):
        frames = {60: frame(i60, t)}
        if 10 <= t < 34:
            if t == 10:
                start(eng, 24, i24)
            frames[24] = frame(i24, t - 10)
        if t < 5:
            frames["short"] = frame(i24, t)
        elif t == 5:
            eng.end_track("short")
        res = eng.step(frames)
        check_stream_frame(res[60], o60, t, tol)
        if 24 in frames:
            check_stream_frame(res[24], o24, t - 10, tol)
        if "short" in frames:
            check_stream_frame(res["short"], o24, t, tol)
    assert "short" not in eng and eng.age(24) == 24 and eng.age(60) == 40


def test_step_for_unknown_track_is_an_error(net):
    i, _ = load_case(24)
    eng = StreamingWHAM(net)
    with pytest.raises(KeyError, match="never started"):
        eng.step({"nobody": frame(i, 0)})


def test_residual_flag_is_per_track(net):
    """A zero feature in a later frame switches the reference's residual off for the whole
    sequence (non-causal); streaming fixes the flag at track start."""
    i, o = load_case(24)
    eng = StreamingWHAM(net)
    eng.start_track("off", i["init_kp"][0, 0], i["init_smpl"][0, 0], i["init_root"][0, 0],
                    residual=False)
    start(eng, "on", i)
    res = eng.step({"off": frame(i, 0), "on": frame(i, 0)})
    assert rel_err(res["on"]["pose"], o["pose"][0, 0]) <= TOL[net.dtype]
    assert rel_err(res["off"]["pose"], o["pose"][0, 0]) > 1e-4


def flipped_frame(i, t):
    from wham_ros.wham import FlippedFrame
    return FlippedFrame(x=i["flipped_x"][0, t], mask=i["flipped_mask"][0, t],
                        features=i["flipped_features"][0, t])


FLIP_KEYS = {"pose": "pose", "betas": "betas", "contact": "contact", "cam": "cam",
             "feet": "feet", "vel_root_refined": "vel_root_refined", "trans_cam": "trans_cam",
             "poses_root_world": "poses_root_world_ydown", "trans_world": "trans_world_ydown",
             "poses_body": "poses_body"}


@pytest.mark.parametrize("T", [24, 60])
def test_streaming_flip_eval_matches_demo(net, T):
    """The demo's FLIP_EVAL (mirrored pass, merged pose/shape/contact, refinement of the
    merged prediction) computed frame by frame equals the reference's flipeval outputs."""
    i, o = load_case(T)
    eng = StreamingWHAM(net, flip_eval=True)
    eng.start_track("a", i["init_kp"][0, 0], i["init_smpl"][0, 0], i["init_root"][0, 0],
                    first_features=i["features"][0, 0],
                    flipped_init=(i["flipped_init_kp"][0, 0], i["flipped_init_smpl"][0, 0],
                                  i["flipped_init_root"][0, 0], i["flipped_features"][0, 0]))
    tol = TOL[net.dtype]
    for t in range(T):
        res = eng.step({"a": frame(i, t)}, flipped={"a": flipped_frame(i, t)})["a"]
        for k, ref in FLIP_KEYS.items():
            r = o["flipeval_" + ref]
            r = r[t] if r.shape[0] != 1 else r[0, t]
            assert rel_err(res[k], r) <= tol, (k, t, rel_err(res[k], r))
    with pytest.raises(KeyError, match="without mirrored inputs"):
        eng.step({"a": frame(i, 0)})
    with pytest.raises(ValueError, match="mirrored initial state"):
        eng.start_track("b", i["init_kp"][0, 0], i["init_smpl"][0, 0], i["init_root"][0, 0])
