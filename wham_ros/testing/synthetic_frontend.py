"""Name-seeded synthetic weights of the front-end parity fixture (numpy; torch only for
``synthetic_weights_for``).

Each state-dict entry is a deterministic function of its name (see the fixture README,
``shared/fixtures/frontend_parity``): PCG64 seeded with the first 8 bytes (little endian) of
sha256(name), one ``uniform`` draw for the whole tensor, a bound from the fan-in and a gain,
plus a few structured offsets, rounded once to float32.
"""
import hashlib
from typing import TYPE_CHECKING, Callable, Dict, Sequence

import numpy as np

if TYPE_CHECKING:  # torch is only needed by synthetic_weights_for
    import torch


_QKV_SUFFIXES = (".attn.qkv.weight", ".fn.to_qkv.weight", ".fn.to_q.weight", ".fn.to_kv.weight")
_DECONVS = ("keypoint_head.deconv_layers.0.weight", "keypoint_head.deconv_layers.3.weight")
_BILINEAR = np.array([0.25, 0.75, 0.75, 0.25])
_IDENTITY_6D_COLUMNS = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
_OFFSETS = {
    "smpl_head.init_body_pose": [1.0, 0.0, 0.0, 0.0, -1.0, 0.0] + _IDENTITY_6D_COLUMNS * 23,
    "smpl_head.init_cam": [0.9, 0.0, 0.0],
    "keypoint_head.final_layer.bias": [1.0] * 17,
}


def _gain(name: str) -> float:
    if name.endswith(_QKV_SUFFIXES):
        return 3.0
    return 0.25 if name in _DECONVS else 1.0


def _offset(name: str, shape: Sequence[int]):
    if name in _DECONVS:
        off = np.zeros(shape)
        diag = np.arange(min(shape[0], shape[1]))
        off[diag, diag] = np.outer(_BILINEAR, _BILINEAR)  # bilinear x2 kernel on [c, c]
        return off
    if name in _OFFSETS:
        return np.asarray(_OFFSETS[name], dtype=np.float64).reshape(shape)
    return None


def synthetic_tensor(name: str, shape: Sequence[int]) -> np.ndarray:
    """The fixture's value for state-dict entry ``name`` of ``shape`` (float32, int64 counters)."""
    shape = tuple(int(s) for s in shape)
    if name.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    if name.endswith("running_var"):
        a = rng.uniform(0.5, 1.5, size=shape)
    elif name.endswith("running_mean"):
        a = rng.uniform(-0.1, 0.1, size=shape)
    elif len(shape) in (2, 3, 4):
        fan = np.prod(shape[1:]) if len(shape) == 4 else shape[-1]
        bound = _gain(name) / np.sqrt(float(fan))
        a = rng.uniform(-bound, bound, size=shape)
    elif len(shape) == 1 and name.endswith(".weight"):
        a = 1.0 + rng.uniform(-0.05, 0.05, size=shape)
    else:
        a = np.asarray(rng.uniform(-0.05, 0.05, size=shape))
    off = _offset(name, shape)
    if off is not None:
        a = a + off
    return np.ascontiguousarray(a.astype(np.float32))


def sha256_of(a: np.ndarray) -> str:
    """sha256 of the little-endian C-order bytes (as in keys_*.json)."""
    a = np.ascontiguousarray(a)
    return hashlib.sha256(a.astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()


def synthetic_state_dict_for(shapes: Dict[str, Sequence[int]]) -> Dict[str, np.ndarray]:
    """Same rule for any name -> shape mapping (tiny test models)."""
    return {name: synthetic_tensor(name, shape) for name, shape in shapes.items()}


def synthetic_weights_for(build: Callable[[], "torch.nn.Module"]) -> Dict[str, "torch.Tensor"]:
    """Name-seeded weights (torch tensors) for the module ``build()`` makes, of any size.

    The module is built on the meta device, only for its state-dict names and shapes.
    """
    import torch

    with torch.device("meta"):
        shapes = {n: t.shape for n, t in build().state_dict().items()}
    return {n: torch.from_numpy(a) for n, a in synthetic_state_dict_for(shapes).items()}
