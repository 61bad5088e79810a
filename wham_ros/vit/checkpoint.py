"""Read, check and load official front-end checkpoints (ViTPose, HMR2.0) into our modules.

One place turns "a path or a state dict" into a validated ``{name: tensor}`` dict and a
ready module, so both loaders give the same clear errors: the file, what was found, what
was expected.
"""
import logging
import os
from typing import Callable, Dict, Iterable, Mapping, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from wham_ros.assets.safe_load import ModelFileReadError, load_torch_file
from wham_ros.ort_session import ModelFileError

LOG = logging.getLogger(__name__)

StateDictLike = Union[str, os.PathLike, Mapping[str, Union[torch.Tensor, np.ndarray]]]

_MAX_LISTED = 5


class CheckpointError(ModelFileError):
    """A checkpoint is missing, unreadable, truncated or holds the wrong tensors."""


def _listing(names: Sequence[str]) -> str:
    names = sorted(names)
    more = f" (+{len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else ""
    return ", ".join(names[:_MAX_LISTED]) + more


def read_state_dict(checkpoint: StateDictLike, device: Union[str, torch.device],
                    model_name: str) -> Tuple[Dict[str, torch.Tensor], str]:
    """Load a checkpoint file (or take a state dict) and return its flat state dict.

    Files are read by ``wham_ros.assets.safe_load`` (nothing in them runs; mmcv's numpy
    ``best_score``, Lightning's yacs/omegaconf hyper-parameters are read as data). Keys must
    be names and array/tensor entries real numbers. A top-level ``state_dict`` entry (mmpose, Lightning) is unwrapped; a leading ``module.`` (DataParallel) is stripped.

    Args:
        checkpoint: path to a ``.pth``/``.ckpt`` file, or a mapping name -> tensor/array.
        device: map_location for the file.
        model_name: for messages ("ViTPose", "HMR2").

    Returns:
        (state dict name -> tensor, description of the source for messages).

    Raises:
        CheckpointError: missing, unreadable or non-state-dict content.
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        path = os.fspath(checkpoint)
        source = f"{model_name} checkpoint '{path}'"
        if not os.path.isfile(path):
            raise CheckpointError(f"{source} not found; give the path of the official file "
                                  f"(see doc/frontend.md, 'Front-end models')")
        try:
            obj = load_torch_file(path, map_location=device)
        except ModelFileReadError as exc:
            raise CheckpointError(f"cannot read {source}: {exc.reason}") from exc
    elif isinstance(checkpoint, Mapping):
        source, obj = f"{model_name} state dict", checkpoint
    else:
        raise CheckpointError(f"{model_name}: expected a checkpoint path or a state dict, "
                              f"got {type(checkpoint).__name__}")
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{source} holds no state dict (found {type(obj).__name__})")
    bad_keys = [repr(k)[:40] for k in obj if not isinstance(k, str)]
    if bad_keys:
        raise CheckpointError(f"{source}: state dict keys must be names, found "
                              f"{_listing(bad_keys)}")
    out, bad = {}, []
    for name, value in obj.items():
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                bad.append(f"{name} ({value.dtype})")
                continue
            value = torch.from_numpy(value)
        if not isinstance(value, torch.Tensor):
            continue  # Lightning stores non-tensor entries (e.g. 'initialized' flags)
        if value.is_complex():
            bad.append(f"{name} ({value.dtype})")
        out[name[len("module."):] if name.startswith("module.") else name] = value
    if bad:
        raise CheckpointError(f"{source}: entries that are not real-valued tensors: "
                              f"{_listing(bad)}")
    return out, source


def select_checked(state: Dict[str, torch.Tensor], expected: Mapping[str, Tuple[int, ...]],
                   source: str, quiet_prefixes: Iterable[str] = ()) -> Dict[str, torch.Tensor]:
    """Keep the expected entries and check names and shapes strictly.

    Entries outside the model's top-level prefixes (e.g. ``associate_keypoint_heads.*``) are
    dropped: silently when they start with one of ``quiet_prefixes``, with a warning
    otherwise. Inside the model's prefixes every name must match.

    Args:
        state: name -> tensor.
        expected: name -> shape of the module's state dict.
        source: description of the checkpoint for messages.
        quiet_prefixes: known extra entries to drop without a warning.

    Returns:
        name -> tensor, exactly the expected names.

    Raises:
        CheckpointError: missing or unexpected names in the model's prefixes, wrong shapes.
    """
    own_prefixes = {name.split(".", 1)[0] + "." for name in expected}
    quiet = tuple(quiet_prefixes)
    extra = [n for n in state if n not in expected]
    foreign = [n for n in extra if not n.startswith(tuple(own_prefixes))]
    loud = [n for n in foreign if not n.startswith(quiet)]
    if loud:
        LOG.warning("%s: ignoring %d entries that this model does not use: %s",
                    source, len(loud), _listing(loud))
    unexpected = [n for n in extra if n not in foreign]
    missing = [n for n in expected if n not in state]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} entries: {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected entries: {_listing(unexpected)}")
    bad_shape = [f"{n} {tuple(state[n].shape)} (expected {tuple(shape)})"
                 for n, shape in expected.items()
                 if n in state and tuple(state[n].shape) != tuple(shape)]
    if bad_shape:
        problems.append(f"{len(bad_shape)} wrong shapes: {_listing(bad_shape)}")
    if problems:
        raise CheckpointError(f"{source} does not match the expected architecture: "
                              + "; ".join(problems))
    return {n: state[n] for n in expected}


def build_loaded(factory: Callable[[], nn.Module], checkpoint: StateDictLike,
                 device: Union[str, torch.device], dtype: torch.dtype, model_name: str,
                 quiet_prefixes: Iterable[str] = ()) -> nn.Module:
    """Build ``factory()`` without initialising it and assign the checkpoint's tensors.

    Floating-point tensors are cast to ``dtype``, integer ones (BatchNorm counters) kept.

    Args:
        factory: builds the module (called under the meta device).
        checkpoint: path or state dict (see :func:`read_state_dict`).
        device: target device.
        dtype: floating-point dtype of the parameters.
        model_name: for messages.
        quiet_prefixes: checkpoint entries to drop without a warning.

    Returns:
        The module in eval mode.

    Raises:
        CheckpointError: see :func:`read_state_dict` and :func:`select_checked`.
    """
    if not dtype.is_floating_point:
        raise ValueError(f"{model_name}: dtype must be floating point, got {dtype}")
    state, source = read_state_dict(checkpoint, device, model_name)
    with torch.device("meta"):
        module = factory()
    expected = {n: tuple(t.shape) for n, t in module.state_dict().items()}
    state = select_checked(state, expected, source, quiet_prefixes)
    state = {n: t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device)
             for n, t in state.items()}
    module.load_state_dict(state, strict=True, assign=True)
    LOG.info("%s: loaded %d tensors from %s (%s, %s)", model_name, len(state), source,
             device, dtype)
    return module.eval().requires_grad_(False)
