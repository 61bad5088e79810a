"""Loading the official WHAM checkpoint safely and strictly.

Official files (research-only licence, from the WHAM authors):
``wham_vit_bedlam_w_3dpw.pth.tar`` (demo default) or ``wham_vit_w_3dpw.pth.tar``: a dict whose
key ``model`` holds the network state dict (83 learned entries) plus ``smpl.*`` body-model
buffers. The learned entries are loaded with ``strict=True``; the ``smpl.*`` entries are
checked against the body model files (the reference overwrites its SMPL buffers with them,
so when they differ the checkpoint's values are used and a warning says so).
"""
import logging
import os
from typing import Dict, Mapping, Union

import torch

from wham_ros.assets.safe_load import ModelFileReadError, load_torch_file
from wham_ros.body.smpl import SMPLBody, read_body_model_dir
from wham_ros.wham.network import WHAMNetwork

LOG = logging.getLogger(__name__)

# smpl.* checkpoint entries that correspond to our body-model buffers (others are unused by WHAM).
_SMPL_BUFFER_MAP = {
    "smpl.v_template": "v_template", "smpl.shapedirs": "shapedirs",
    "smpl.posedirs": "posedirs", "smpl.J_regressor": "J_regressor",
    "smpl.lbs_weights": "lbs_weights", "smpl.J_regressor_wham": "J_regressor_wham",
    "smpl.J_regressor_feet": "J_regressor_feet", "smpl.faces_tensor": "faces",
}


class CheckpointError(RuntimeError):
    """The WHAM checkpoint is missing, unreadable, or does not fit the network."""


def read_checkpoint(path: str, device="cpu") -> Dict[str, torch.Tensor]:
    """Read the state dict from an official checkpoint file (``wham_ros.assets.safe_load``).

    The trainer's other entries (``epoch``, numpy ``performance``, ``optimizer``) are read
    as data and dropped; tensors saved on ``cuda:0`` are mapped to ``device``.

    Raises:
        CheckpointError: naming the file and what is wrong.
    """
    if not os.path.isfile(path):
        raise CheckpointError(
            f"WHAM checkpoint not found: '{path}'. Download wham_vit_bedlam_w_3dpw.pth.tar "
            "(see doc/models.md, 'Model files').")
    try:
        ckpt = load_torch_file(path, map_location=device)
    except ModelFileReadError as exc:
        raise CheckpointError(f"Cannot read WHAM checkpoint '{path}': {exc.reason}") from exc
    if not isinstance(ckpt, Mapping) or "model" not in ckpt:
        found = (sorted(repr(k)[:40] for k in ckpt)[:10] if isinstance(ckpt, Mapping)
                 else type(ckpt).__name__)
        raise CheckpointError(f"WHAM checkpoint '{path}' has no 'model' entry (found {found}); "
                              "expected the official file layout {'model': state_dict, ...}")
    sd = ckpt["model"]
    if not isinstance(sd, Mapping):
        raise CheckpointError(f"WHAM checkpoint '{path}': 'model' is a {type(sd).__name__}, "
                              "expected a state dict")
    bad = sorted(repr(k)[:40] for k, v in sd.items() if not isinstance(k, str)
                 or not isinstance(v, torch.Tensor) or v.is_complex())
    if bad:
        raise CheckpointError(f"WHAM checkpoint '{path}': 'model' must map names to real-valued "
                              f"tensors; {len(bad)} entries do not: {bad[:5]}")
    return dict(sd)


def _check_and_load(net: WHAMNetwork, sd: Mapping[str, torch.Tensor], source: str) -> None:
    learned = {k: v for k, v in sd.items() if not k.startswith("smpl.")}
    expected = net.state_dict()
    missing = sorted(set(expected) - set(learned))
    unexpected = sorted(set(learned) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"WHAM weights from {source} do not match the network: missing {len(missing)} "
            f"{missing[:5]}, unexpected {len(unexpected)} {unexpected[:5]}")
    wrong = [f"{k}: {tuple(v.shape)} != {tuple(expected[k].shape)}"
             for k, v in learned.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        raise CheckpointError(f"WHAM weights from {source} have wrong shapes: {wrong[:5]}")
    bad = [k for k, v in learned.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"WHAM weights from {source} contain NaN/inf in {bad[:5]}")
    net.load_state_dict(learned, strict=True)
    smpl = net.smpl
    for key, buf in _SMPL_BUFFER_MAP.items():
        if key not in sd:
            continue
        mine = getattr(smpl, buf)
        theirs = sd[key].to(device=mine.device, dtype=mine.dtype)
        if tuple(theirs.shape) != tuple(mine.shape):
            raise CheckpointError(f"{source}: '{key}' has shape {tuple(theirs.shape)}, the body "
                                  f"model has {tuple(mine.shape)}")
        if not torch.equal(theirs, mine):
            LOG.warning("%s: '%s' differs from the body model files; using the checkpoint's "
                        "values as the reference implementation does", source, key)
            mine.copy_(theirs)
            smpl.refresh()


def load_network(checkpoint: Union[str, Mapping[str, torch.Tensor]], body_model_dir: str,
                 device="cpu", dtype: torch.dtype = torch.float32) -> WHAMNetwork:
    """Build WHAM (demo configuration) and load its weights strictly.

    Args:
        checkpoint: path to the official file (``{'model': state_dict}``) or an already-loaded
            state dict (the 83 learned entries, optionally with ``smpl.*`` entries).
        body_model_dir: WHAM's ``dataset/body_models`` layout: ``smpl/SMPL_NEUTRAL.npz`` (or
            ``.pkl``), ``J_regressor_wham.npy``, ``J_regressor_feet.npy``.
        device: torch device.
        dtype: torch.float32 or torch.float64.

    Returns:
        WHAMNetwork in eval mode.

    Raises:
        CheckpointError, wham_ros.body.BodyModelError: with the file and the problem.
    """
    smpl = SMPLBody(read_body_model_dir(body_model_dir), dtype=dtype)
    net = WHAMNetwork(smpl).to(device=device, dtype=dtype)
    if isinstance(checkpoint, (str, os.PathLike)):
        sd, source = read_checkpoint(str(checkpoint), device=device), f"'{checkpoint}'"
    elif isinstance(checkpoint, Mapping):
        sd, source = dict(checkpoint), "the given state dict"
    else:
        raise TypeError(f"checkpoint must be a path or a state dict, got {type(checkpoint).__name__}")
    with torch.no_grad():
        _check_and_load(net, {k: torch.as_tensor(v) for k, v in sd.items()}, source)
    LOG.info("WHAM loaded from %s on %s (%s)", source, device, dtype)
    return net.eval()
