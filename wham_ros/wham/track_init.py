"""Inputs that start a WHAM track, from the HMR2.0 estimate of its first frame.

As WHAM's demo (``CustomDataset``): the initial SMPL body is posed with HMR2.0's camera-
frame root, pose and shape; ``init_kp`` = its 17 COCO joints (WHAM regressor) centred on the
hip midpoint, followed by the first frame's 37 normalised keypoints; ``init_smpl`` = the 24
joint rotations in 6D (first two rows); ``init_root`` = 6D of the root rotation in the frame
WHAM's world is to be expressed in (the camera frame in the demo; a gravity-aligned frame
when the IMU knows gravity, see ``wham_ros.geometry.gravity``).
"""
from typing import Optional, Tuple

import torch

from wham_ros.body.smpl import SMPLBody
from wham_ros.geometry.rotations import matrix_to_rotation_6d


def make_track_init(smpl: SMPLBody, global_orient: torch.Tensor, body_pose: torch.Tensor,
                    betas: torch.Tensor, x0: torch.Tensor,
                    root_in_world: Optional[torch.Tensor] = None
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Build ``(init_kp, init_smpl, init_root)`` for B new tracks.

    Args:
        smpl: body model (its dtype/device are used).
        global_orient (torch.Tensor): (B, 3, 3) camera-frame root rotation (HMR2.0).
        body_pose (torch.Tensor): (B, 23, 3, 3) body joint rotations (HMR2.0).
        betas (torch.Tensor): (B, 10).
        x0 (torch.Tensor): (B, 37) normalised keypoints of the first frame.
        root_in_world (torch.Tensor): (B, 3, 3) root rotation in WHAM's world frame, or None to
            use the camera frame (WHAM's demo behaviour).

    Returns:
        init_kp (B, 88), init_smpl (B, 24, 6), init_root (B, 6).
    """
    dt, dev = smpl.v_template.dtype, smpl.v_template.device
    go = global_orient.to(dev, dt).reshape(-1, 1, 3, 3)
    bp = body_pose.to(dev, dt).reshape(-1, 23, 3, 3)
    B = go.shape[0]
    body = smpl(go, bp, betas.to(dev, dt).reshape(B, -1))
    coco = body.joints[:, :17]  # B x 17 x 3, hip-centred
    coco = coco - coco[:, [12, 11]].mean(-2, keepdim=True)  # WHAM root_centering('coco')
    init_kp = torch.cat((coco.reshape(B, -1), x0.to(dev, dt).reshape(B, -1)), -1)
    init_smpl = matrix_to_rotation_6d(torch.cat((go, bp), 1))  # B x 24 x 6
    root = go[:, 0] if root_in_world is None else root_in_world.to(dev, dt).reshape(B, 3, 3)
    return init_kp, init_smpl, matrix_to_rotation_6d(root)
