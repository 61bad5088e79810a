"""The WHAM network (demo configuration), computed one frame at a time.

Conventions:
    * Camera frame: the image's optical frame (x right, y down, z forward), metres.
    * WHAM world frame: y-down, equal to the frame ``init_root`` is expressed in
      (the first camera frame in WHAM's demo); every track starts at its origin.
    * 6D rotations: first two rows of R (``wham_ros.geometry.rotations``).
    * Root velocity ``vel_root`` is in the previous frame's root coordinates, metres/frame at
      30 fps (WHAM's training rate).

The batch :meth:`WHAMNetwork.forward` equals the reference ``Network.forward`` of
WHAM (``lib/models/wham.py``; demo config, eval mode) and is built from the same
:meth:`WHAMNetwork.step` the streaming engine uses, so batch and streaming agree by
construction. The only non-causal switch of the reference — the feature integrator adds
its residual only if *every* feature of *every* frame is non-zero — is the per-track
``residual`` flag of :class:`WHAMState`: the batch forward computes it over the whole
sequence as the reference does; streaming fixes it when the track starts.
"""
from dataclasses import dataclass, fields
from typing import Dict, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from wham_ros.body.joint_names import WHAM_MAIN_JOINTS
from wham_ros.body.smpl import SMPLBody
from wham_ros.geometry.rotations import rotation_6d_to_matrix
from wham_ros.wham.modules import (HC, Integrator, MotionDecoder, MotionEncoder,
                                   TrajectoryDecoder, TrajectoryRefiner)

N_JOINTS = 17
CROP_RES = 224.0  # WHAM's weak-perspective camera is defined on a 224 px crop
FEET_VEL_SCALE = 30.0  # the refiner sees foot velocities per second at 30 fps
CONTACT_THRESHOLD = 0.5
# Reference y-down -> y-up matrix, built in float32 as WHAM does (R_x(pi); not exactly diag).
_YUP = np.array([[1.0, 0.0, 0.0],
                 [0.0, -1.0, 8.742277657347586e-08],
                 [0.0, -8.742277657347586e-08, -1.0]], dtype=np.float32)


@dataclass
class WHAMState:
    """Recurrent state of B tracks (batch axis first; LSTM states are (h, c) pairs, each an
    (L, B, H) tensor or a list of L (B, H) tensors).

    Attributes:
        enc, traj, dec, ref: (h, c) of the motion encoder, trajectory decoder, motion
            decoder and trajectory refiner LSTMs.
        prev_kp: (B, 51) previous 3D COCO joints of the motion encoder (autoregressive).
        prev_root6: (B, 6) previous world root 6D of the trajectory decoder.
        prev_root: (B, 3, 3) its matrix.
        prev_pose: (B, 144) previous SMPL pose (24 x 6D) of the motion decoder.
        prev_root_ref: (B, 3, 3) previous refined world root.
        trans_unref: (B, 3) unrefined world hip trajectory (feeds the foot positions).
        trans_world: (B, 3) refined world hip trajectory (y-down), metres.
        prev_feet_world: (B, 4, 3) previous unrefined world foot points.
        prev_feet_reset: (B, 4, 3) previous hip-centred feet under the world root.
        residual: (B,) bool, integrator residual flag (fixed per track).
        frame: (B,) frames processed so far (int64; the state dtype in packed slots, where
            only ``frame == 0`` is read).
    """

    enc: HC
    traj: HC
    dec: HC
    ref: HC
    prev_kp: torch.Tensor
    prev_root6: torch.Tensor
    prev_root: torch.Tensor
    prev_pose: torch.Tensor
    prev_root_ref: torch.Tensor
    trans_unref: torch.Tensor
    trans_world: torch.Tensor
    prev_feet_world: torch.Tensor
    prev_feet_reset: torch.Tensor
    residual: torch.Tensor
    frame: torch.Tensor

    @staticmethod
    def _map(fn_b, fn_l, states):
        out = {}
        for f in fields(WHAMState):
            vals = [getattr(s, f.name) for s in states]
            if isinstance(vals[0], tuple):
                out[f.name] = (fn_l([v[0] for v in vals]), fn_l([v[1] for v in vals]))
            else:
                out[f.name] = fn_b(vals)
        return WHAMState(**out)

    @staticmethod
    def cat(states: Sequence["WHAMState"]) -> "WHAMState":
        """Concatenate tracks along the batch axis."""
        return WHAMState._map(lambda v: torch.cat(v, 0), lambda v: torch.cat(v, 1), states)

    def select(self, idx) -> "WHAMState":
        """Tracks ``idx`` (int, slice, list or index tensor) as a new state."""
        if isinstance(idx, int):
            idx = [idx]
        return WHAMState._map(lambda v: v[0][idx], lambda v: v[0][:, idx], [self])


class WHAMNetwork(nn.Module):
    """WHAM (ViT features, demo configuration): 42,034,668 parameters.

    Args:
        smpl: the body model (its buffers are not part of the state dict).
        d_embed, n_layers, d_feat: demo configuration (512, 3, 1024).
    """

    def __init__(self, smpl: SMPLBody, d_embed: int = 512, n_layers: int = 3,
                 d_feat: int = 1024):
        super().__init__()
        d_context = d_embed + N_JOINTS * 3
        self.mask_embedding = nn.Parameter(torch.zeros(1, 1, N_JOINTS, 2))
        self.motion_encoder = MotionEncoder(N_JOINTS * 2 + 3, d_embed, n_layers, N_JOINTS)
        self.trajectory_decoder = TrajectoryDecoder(d_context, n_layers)
        self.integrator = Integrator(d_feat + d_context, d_context)
        self.motion_decoder = MotionDecoder(d_context, n_layers, len(WHAM_MAIN_JOINTS))
        self.trajectory_refiner = TrajectoryRefiner(d_context, d_embed, 2)
        # Kept out of state_dict(): the body model is loaded from its own files.
        object.__setattr__(self, "smpl", smpl)
        self.register_buffer("main_joints", torch.tensor(WHAM_MAIN_JOINTS), persistent=False)

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.smpl._apply(fn, *args, **kwargs)
        return self

    @property
    def dtype(self) -> torch.dtype:
        return self.mask_embedding.dtype

    @property
    def device(self) -> torch.device:
        return self.mask_embedding.device

    # ------------------------------------------------------------------ state
    def init_state(self, init_kp: torch.Tensor, init_smpl: torch.Tensor, init_root: torch.Tensor,
                   residual: torch.Tensor) -> WHAMState:
        """State of B new tracks.

        Args:
            init_kp (torch.Tensor): (B, 88) 51 root-centred 3D COCO joints of the initial SMPL
                body + the 37 normalised keypoints of the first frame.
            init_smpl (torch.Tensor): (B, 24, 6) initial SMPL pose (6D), camera-frame root.
            init_root (torch.Tensor): (B, 6) initial world root orientation (6D).
            residual (torch.Tensor): (B,) bool integrator residual flag.
        """
        B = init_kp.shape[0]
        enc = self.motion_encoder.neural_init(init_kp)
        dec = self.motion_decoder.neural_init(init_smpl[:, self.main_joints].reshape(B, -1))
        root = rotation_6d_to_matrix(init_root)
        zeros3 = init_kp.new_zeros(B, 3)
        return WHAMState(
            enc=enc, dec=dec,
            traj=self.trajectory_decoder.regressor.zero_state(B, init_kp),
            ref=self.trajectory_refiner.refiner.zero_state(B, init_kp),
            prev_kp=init_kp[:, :N_JOINTS * 3], prev_root6=init_root, prev_root=root,
            prev_pose=init_smpl.reshape(B, -1), prev_root_ref=root,
            trans_unref=zeros3, trans_world=zeros3.clone(),
            prev_feet_world=init_kp.new_zeros(B, 4, 3), prev_feet_reset=init_kp.new_zeros(B, 4, 3),
            residual=residual.to(device=init_kp.device, dtype=torch.bool),
            frame=torch.zeros(B, dtype=torch.int64, device=init_kp.device))

    # ------------------------------------------------------------------- step
    def step(self, state: WHAMState, x: torch.Tensor, mask: torch.Tensor,
             features: torch.Tensor, cam_angvel: torch.Tensor, cam_intrinsics: torch.Tensor,
             bbox: torch.Tensor, res: torch.Tensor, full_mesh: bool = False,
             first_frames: bool = True) -> Tuple[Dict[str, torch.Tensor], WHAMState]:
        """Advance B tracks by one frame.

        Args:
            state: from :meth:`init_state` or a previous step.
            x (torch.Tensor): (B, 37) normalised keypoints.
            mask (torch.Tensor): (B, 17) bool, True = keypoint not visible (conf < 0.3).
            features (torch.Tensor): (B, 1024) image features.
            cam_angvel (torch.Tensor): (B, 6) camera angular velocity (6D - 6D(I)) * fps.
            cam_intrinsics (torch.Tensor): (B, 3, 3) pixels.
            bbox (torch.Tensor): (B, 3) ``[cx, cy, s]`` pixels, box side 200 s.
            res (torch.Tensor): (B, 2) image ``[W, H]`` pixels.
            full_mesh: also return ``verts_cam`` (B, 6890, 3).
            first_frames: False when no track is on its first frame (``state.frame`` >= 1
                everywhere): the first-frame masks are then skipped (the same values).

        Returns:
            (per-frame outputs, each with leading B; new state). World outputs are y-down;
            ``vel_world_refined`` (B, 3) is this step's root displacement in the WHAM world
            (``trans_world - previous trans_world``, m per 1/30 s step) and
            ``poses_root_world_prev`` (B, 3, 3) the previous step's refined world root.
        """
        m, motion_state = self.motion_step(state, x, mask, features, cam_angvel)
        out, body_state = self.body_step(state, m, cam_intrinsics, bbox, res, full_mesh,
                                         first_frames)
        return out, WHAMState(**motion_state, **body_state, residual=state.residual)

    def step_flip_eval(self, state: WHAMState, flipped_state: WHAMState, inputs: Sequence,
                       flipped_inputs: Sequence, cam_intrinsics: torch.Tensor, bbox: torch.Tensor,
                       res: torch.Tensor, full_mesh: bool = False, first_frames: bool = True):
        """One frame of the demo's FLIP_EVAL: both passes, merged pose/shape/contact, then the
        body, trajectory and refinement of the normal pass with the merged values.

        Args:
            state, flipped_state: states of the normal and of the mirrored pass.
            inputs, flipped_inputs: ``(x, mask, features, cam_angvel)`` of each pass.
            cam_intrinsics, bbox, res: of the normal pass (see :meth:`step`).
            full_mesh: also return ``verts_cam``.
            first_frames: see :meth:`step`.

        Returns:
            (outputs, new state, new flipped state); ``pose``/``betas``/``contact`` are merged.
        """
        m, motion_state = self.motion_step(state, *inputs)
        fm, flipped_motion = self.motion_step(flipped_state, *flipped_inputs)
        m = dict(m)
        m["pose"], m["betas"], m["contact"] = merge_flipped(
            m["pose"], m["betas"], m["contact"], fm["pose"], fm["betas"], fm["contact"])
        out, body_state = self.body_step(state, m, cam_intrinsics, bbox, res, full_mesh,
                                         first_frames)
        new_state = WHAMState(**motion_state, **body_state, residual=state.residual)
        # The mirrored pass only contributes its pose, shape and contact: its body and
        # trajectory fields are never read.
        fields_ = {f.name: getattr(flipped_state, f.name) for f in fields(WHAMState)}
        fields_.update(flipped_motion)
        return out, new_state, WHAMState(**fields_)

    def motion_step(self, state: WHAMState, x: torch.Tensor, mask: torch.Tensor,
                    features: torch.Tensor, cam_angvel: torch.Tensor):
        """Motion encoder, trajectory decoder, integrator and motion decoder for one frame.

        Returns:
            (dict of per-frame values, dict of the new motion-state fields).
        """
        B = x.shape[0]
        # Masked keypoints: coordinates replaced by the learned embedding (the reference zeroes
        # them and adds it: the same values); the last 3 (box) untouched.
        xy = torch.where(mask.unsqueeze(-1), self.mask_embedding[0, 0],
                         x[:, :2 * N_JOINTS].reshape(B, N_JOINTS, 2))  # B x 17 x 2
        x = torch.cat((xy.reshape(B, 2 * N_JOINTS), x[:, 2 * N_JOINTS:]), -1)

        # 1. Motion encoder: context (563) = LSTM hidden (512) + 3D joints (51)
        me = self.motion_encoder
        (kp3d,), hid, enc = me.regressor.step([me.embed_layer(x), state.prev_kp], state.enc)
        context = torch.cat((hid, kp3d), -1)

        # 2. Trajectory decoder: root velocity (prev-root frame) and world root 6D
        (vel, root6), _, traj = self.trajectory_decoder.regressor.step(
            [context, state.prev_root6, cam_angvel], state.traj)

        # 3-4. Feature integrator and motion decoder
        ctx_int = self.integrator(context, features, state.residual)
        (pose, betas, cam, contact), _, dec = self.motion_decoder.regressor.step(
            [ctx_int, state.prev_pose], state.dec)
        values = {"context": context, "kp3d": kp3d, "vel": vel, "root6": root6,
                  "integrator_out": ctx_int, "pose": pose, "betas": betas, "cam": cam,
                  "contact": contact}
        new = {"enc": enc, "traj": traj, "dec": dec, "prev_kp": kp3d, "prev_root6": root6,
               "prev_pose": pose}
        return values, new

    def body_step(self, state: WHAMState, m: Dict[str, torch.Tensor],
                  cam_intrinsics: torch.Tensor, bbox: torch.Tensor, res: torch.Tensor,
                  full_mesh: bool = False, first_frames: bool = True):
        """Rotations, SMPL, camera translation, world feet, root-velocity reset, refiner and
        rollout.

        Args:
            state: the state *before* this frame (its trajectory fields are used).
            m: values of :meth:`motion_step` (possibly flip-merged).
            full_mesh, first_frames: see :meth:`step`.

        Returns:
            (per-frame outputs, dict of the new body-state fields).
        """
        pose, betas, cam, contact = m["pose"], m["betas"], m["cam"], m["contact"]
        vel, root6, context = m["vel"], m["root6"], m["context"]
        B = pose.shape[0]
        # Foot velocities are zero on a track's first frame (torch.where(first, 0.0, v))
        first = (state.frame == 0).view(B, 1, 1) if first_frames else None
        not_first = lambda v: v if first is None else torch.where(first, 0.0, v)  # noqa: E731

        # The SMPL pose (camera-frame root) and the world root in one conversion
        rots = rotation_6d_to_matrix(torch.cat((pose.reshape(B, 24, 6), root6.unsqueeze(1)), 1))
        rot, root = rots[:, :24], rots[:, 24]  # B x 24 x 3 x 3, B x 3 x 3
        rot0 = rots[:, 0]  # camera-frame root
        # SMPL in the camera frame (hip-centred), perspective translation of the hip centre
        body = self.smpl.pose(rot, betas, full_mesh=full_mesh)
        trans_cam = pare_to_full_cam(cam, bbox, res, cam_intrinsics[:, 0, 0])

        # Unrefined rollout -> world foot points (input of the refiner)
        trans_unref = state.trans_unref + _matvec(state.prev_root, vel)
        cam_R = torch.bmm(rot0, root.mT)  # world -> camera rotation implied by the two roots
        pelvis_world = _matvec(cam_R.mT, trans_cam)
        cam_T = _matvec(cam_R, pelvis_world - trans_unref)
        feet_cam = body.feet + trans_cam.unsqueeze(1)
        # Rows cam_R^T (f - cam_T) of the feet, as the row vectors (f - cam_T)^T cam_R: the same
        # products summed in the same order (B x 4 x 3, contiguous)
        feet_world = torch.bmm(feet_cam - cam_T.unsqueeze(1), cam_R)

        # Reset root velocity: remove the motion of feet in contact (WHAM reset_root_velocity)
        vel_world = _matvec(root, vel)
        # Hip-centred feet of the same body under the world root instead of the camera root:
        # LBS is equivariant to the root rotation, so they are the camera-root feet rotated by
        # root @ root_cam^T (the reference re-runs SMPL; equal up to rounding). As row vectors
        # that is f^T (root rot0^T)^T = f^T cam_R (the same products: cam_R's entries).
        feet_reset = torch.bmm(body.feet, cam_R)  # B x 4 x 3
        feet_vel = not_first(feet_reset - state.prev_feet_reset + vel_world.unsqueeze(1))
        contact_w = contact.unsqueeze(-1)  # B x 4 x 1
        stationary_vel = feet_vel * (contact_w > CONTACT_THRESHOLD)  # x 1 or 0
        # Count of moving contact coordinates, summed in the network's dtype (an integer count
        # plus 1e-4 would silently be evaluated in torch's default dtype).
        count = (stationary_vel != 0).sum(1, dtype=feet_vel.dtype) + 1e-4
        del_vel = stationary_vel.sum(1) / count
        update_vel = _matvec(root.mT, vel_world - del_vel)

        # 5. Trajectory refiner
        fv = not_first((feet_world - state.prev_feet_world) * FEET_VEL_SCALE)
        feet_in = (fv * contact_w).reshape(B, 12)
        (d_root, d_vel), _, ref = self.trajectory_refiner.refiner.step(
            [context, feet_in, root6, update_vel], state.ref)
        root6_ref = root6 + d_root
        vel_ref = update_vel + d_vel
        root_ref = rotation_6d_to_matrix(root6_ref)
        step_world = _matvec(state.prev_root_ref, vel_ref)  # m per step, WHAM world
        trans_world = state.trans_world + step_world

        out = {
            "pose": pose, "betas": betas, "cam": cam, "contact": contact,
            "feet": feet_world, "poses_root_cam": rots[:, :1], "poses_body": rots[:, 1:24],
            "poses_root_r6d": root6, "vel_root": vel,
            "poses_root_r6d_refined": root6_ref, "vel_root_refined": vel_ref,
            "poses_root_world": root_ref, "poses_root_world_prev": state.prev_root_ref,
            "vel_world_refined": step_world, "trans_world": trans_world, "trans_cam": trans_cam,
            "joints_cam": body.joints, "feet_cam": body.feet, "offset": body.offset,
            "smpl_joints_cam": body.smpl_joints, "kp3d": m["kp3d"].reshape(B, N_JOINTS, 3),
            "motion_context": context, "integrator_out": m["integrator_out"],
            "update_vel": update_vel, "refiner_delta_root": d_root, "refiner_delta_vel": d_vel,
        }
        if full_mesh:
            out["verts_cam"] = body.vertices
        new = {"ref": ref, "prev_root": root, "prev_root_ref": root_ref, "trans_unref": trans_unref,
               "trans_world": trans_world, "prev_feet_world": feet_world,
               "prev_feet_reset": feet_reset, "frame": state.frame + 1}
        return out, new

    # ----------------------------------------------------------------- batch
    def forward(self, x: torch.Tensor, inits, features: torch.Tensor = None,
                mask: torch.Tensor = None, init_root: torch.Tensor = None,
                cam_angvel: torch.Tensor = None, cam_intrinsics: torch.Tensor = None,
                bbox: torch.Tensor = None, res: torch.Tensor = None, return_y_up: bool = False,
                **_unused) -> Dict[str, torch.Tensor]:
        """Whole sequences, with the reference network's call and output names.

        Args:
            x (torch.Tensor): (B, T, 37). Not modified (the reference modifies it in place).
            inits: ``(init_kp (B, 1, 88), init_smpl (B, 1, 24, 6))``.
            features (torch.Tensor): (B, T, 1024).
            mask (torch.Tensor): (B, T, 17) bool.
            init_root (torch.Tensor): (B, 1, 6).
            cam_angvel (torch.Tensor): (B, T, 6).
            cam_intrinsics (torch.Tensor): (B, 1 or T, 3, 3).
            bbox (torch.Tensor): (B, T, 3).
            res (torch.Tensor): (B, 2).
            return_y_up: express ``poses_root_world``/``trans_world`` y-up as the demo does.

        Returns:
            dict: ``pose`` (B,T,144), ``betas`` (B,T,10), ``cam`` (B,T,3), ``contact`` (B,T,4),
            ``feet`` (B,T,4,3), ``poses_root_cam`` (B*T,1,3,3), ``poses_body`` (B*T,23,3,3),
            ``poses_root_r6d``/``pose_root``/``poses_root_r6d_refined`` (B,T+1,6),
            ``vel_root``/``vel_root_refined`` (B,T,3), ``poses_root_world`` (B,T,3,3),
            ``trans_world`` (B,T,3), ``trans_cam`` (B*T,3), ``verts_cam`` (B*T,6890,3), plus
            hip-centred ``joints_cam`` (B*T,31,3), ``offset`` (B*T,3) and intermediates.
        """
        dt, dev = self.dtype, self.device
        cv = lambda t: t.to(device=dev, dtype=dt)  # noqa: E731
        init_kp, init_smpl = inits
        B, T = x.shape[:2]
        residual = (features != 0).all(dim=-1).all(dim=-1)  # B, over the whole sequence
        state = self.init_state(cv(init_kp).reshape(B, -1), cv(init_smpl).reshape(B, 24, 6),
                                cv(init_root).reshape(B, 6), residual.to(dev))
        K = cv(cam_intrinsics)
        steps = []
        for t in range(T):
            out, state = self.step(
                state, cv(x[:, t]), mask[:, t].to(dev), cv(features[:, t]), cv(cam_angvel[:, t]),
                K[:, min(t, K.shape[1] - 1)], cv(bbox[:, t]), cv(res), full_mesh=True,
                first_frames=t == 0)
            steps.append(out)
        st = {k: torch.stack([s[k] for s in steps], 1) for k in steps[0]}  # B x T x ...
        flat = lambda t: t.reshape((B * T,) + t.shape[2:])  # noqa: E731
        root6 = torch.cat((cv(init_root).reshape(B, 1, 6), st["poses_root_r6d"]), 1)
        root6_ref = torch.cat((cv(init_root).reshape(B, 1, 6), st["poses_root_r6d_refined"]), 1)
        root_world, trans_world = st["poses_root_world"], st["trans_world"]
        if return_y_up:
            M = torch.as_tensor(_YUP, device=dev).to(dt)
            root_world = M.mT @ root_world
            trans_world = (M.mT @ trans_world[..., None])[..., 0]
        return {
            "pose": st["pose"], "betas": st["betas"], "cam": st["cam"], "contact": st["contact"],
            "feet": st["feet"], "poses_root_cam": flat(st["poses_root_cam"]),
            "poses_body": flat(st["poses_body"]), "poses_root_r6d": root6, "pose_root": root6,
            "vel_root": st["vel_root"], "poses_root_r6d_refined": root6_ref,
            "vel_root_refined": st["vel_root_refined"], "poses_root_world": root_world,
            "trans_world": trans_world, "trans_cam": flat(st["trans_cam"]),
            "verts_cam": flat(st["verts_cam"]), "joints_cam": flat(st["joints_cam"]),
            "feet_cam": flat(st["feet_cam"]), "offset": flat(st["offset"]),
            "pred_kp3d": st["kp3d"], "old_motion_context": st["motion_context"],
            "integrator_out": st["integrator_out"], "update_vel": st["update_vel"],
        }


def pare_to_full_cam(cam: torch.Tensor, bbox: torch.Tensor, res: torch.Tensor,
                     focal: torch.Tensor) -> torch.Tensor:
    """Weak-perspective crop camera -> hip-centre translation in the full camera frame.

    Args:
        cam (torch.Tensor): (..., 3) ``[s, tx, ty]`` w.r.t. the 224 px crop.
        bbox (torch.Tensor): (..., 3) ``[cx, cy, s_box]``, box side ``200 s_box`` pixels.
        res (torch.Tensor): (..., 2) ``[W, H]`` pixels.
        focal (torch.Tensor): (...) focal length, pixels.

    Returns:
        torch.Tensor: (..., 3) translation in metres (camera optical frame).
    """
    s = cam[..., 0]
    box = bbox[..., 2] * 200.0
    tz = 2 * focal / ((box / CROP_RES) * CROP_RES * s)
    cxy = 2 * (bbox[..., :2] - res / 2.0) / (s * box).unsqueeze(-1)  # ... x 2
    return torch.cat((cam[..., 1:] + cxy, tz.unsqueeze(-1)), dim=-1)


def _matvec(A: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) @ (B, 3) -> (B, 3): one ``torch.bmm`` (what ``A @ v[..., None]`` runs)."""
    return torch.bmm(A, v.unsqueeze(-1)).squeeze(-1)


# SMPL joint order under a left/right mirror (WHAM's SMPL_JOINTS_FLIP_PERM).
SMPL_FLIP_PERM = [0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22]
# Contact points (left toe, left heel, right toe, right heel) under the mirror.
CONTACT_FLIP_PERM = [2, 3, 0, 1]


def merge_flipped(pose: torch.Tensor, betas: torch.Tensor, contact: torch.Tensor,
                  flipped_pose: torch.Tensor, flipped_betas: torch.Tensor,
                  flipped_contact: torch.Tensor):
    """WHAM's flip-eval merge (demo ``avg_preds``) of a pass and its mirrored pass.

    The mirrored pose is mapped back (joints swapped left/right, each rotation conjugated by
    the mirror M = diag(-1, 1, 1): R -> M R M, i.e. axis-angle (x, y, z) -> (x, -y, -z)); the
    two rotations are averaged and projected back onto SO(3) (``U V^T`` of the SVD of the mean);
    shapes and contacts (left/right swapped) are averaged.

    Args:
        pose, flipped_pose (torch.Tensor): (B, 144) 24 x 6D.
        betas, flipped_betas (torch.Tensor): (B, 10).
        contact, flipped_contact (torch.Tensor): (B, 4).

    Returns:
        (pose (B, 144), betas (B, 10), contact (B, 4)).
    """
    B = pose.shape[0]
    R = rotation_6d_to_matrix(pose.reshape(B, 24, 6))
    Rf = rotation_6d_to_matrix(flipped_pose.reshape(B, 24, 6))[:, SMPL_FLIP_PERM]
    M = torch.ones(3, dtype=R.dtype, device=R.device)
    M[0] = -1.0
    Rf = Rf * M[:, None] * M[None, :]  # M R M with diagonal M: entry (i, j) times m_i m_j
    U, _, Vh = torch.linalg.svd((R + Rf) / 2.0)
    avg = U @ Vh
    pose_avg = avg[..., :2, :].reshape(B, 144)
    return (pose_avg, (betas + flipped_betas) / 2.0,
            (flipped_contact[:, CONTACT_FLIP_PERM] + contact) / 2.0)
