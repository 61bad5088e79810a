"""Replicas of the official model-file layouts, with synthetic values.

Each writer reproduces what the public code that writes the real file puts in it: the same
containers, the same non-tensor objects, the same pickle global names (numpy 1.x
``numpy.core.*``, Python 2 ``__builtin__``, chumpy, scipy, yacs, omegaconf) and, for torch
files, storages tagged ``cuda:0``. Foreign classes are stand-ins defined here whose pickled
form (class name, constructor args, state) is that of the real class; none of those
packages is needed.

Sources: WHAM ``lib/core/trainer.py`` (``save_model``), mmcv 1.x
``runner/checkpoint.py`` (``save_checkpoint``) + ``EvalHook`` (``hook_msgs.best_score``),
Lightning's checkpoint connector (``dump_checkpoint``) for 4D-Humans' ``hmr2a.ckpt``,
chumpy ``ch.py`` (``Ch.__new__``/``__getstate__``), smplx ``tools/clean_ch.py``.
"""
import _compat_pickle
import collections
import io
import pickle
import types
import typing

import numpy as np
import torch


class ReplicaPickler(pickle._Pickler):
    """Pure-Python pickler that writes the names another writer's environment would.

    Args:
        file: binary file.
        protocol: pickle protocol (torch.save uses 2; Python 2 defaults to 0).
        numpy1: write numpy's ``numpy._core`` globals as numpy 1.x's ``numpy.core``.
        py2: write ``str``/``bytes`` as Python-2 ``str`` opcodes and dtypes as Python 2
            numpy did (``('f8', 0, 1)``).
        cuda_tag: storage location written for tensors (torch.save only), e.g. 'cuda:0'.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, protocol=2, numpy1=True, py2=False, cuda_tag=None):
        super().__init__(file, protocol=protocol, fix_imports=True)
        self.numpy1, self.py2, self.cuda_tag = numpy1, py2, cuda_tag

    def reducer_override(self, obj):
        if self.py2 and isinstance(obj, np.dtype):
            _, args, state = obj.__reduce__()
            return np.dtype, (args[0], int(args[1]), int(args[2])), state
        return NotImplemented

    def save_global(self, obj, name=None):
        module, name = getattr(obj, "_pickle_as", None) or (
            pickle.whichmodule(obj, name or obj.__qualname__), name or obj.__qualname__)
        if self.numpy1 and module.startswith("numpy._core"):
            module = "numpy.core" + module[len("numpy._core"):]
        if self.proto < 3:
            module, name = _compat_pickle.REVERSE_NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.REVERSE_IMPORT_MAPPING.get(module, module)
        if self.proto >= 4:
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode("utf-8"))
        self.memoize(obj)

    def save_pers(self, pid):
        if self.cuda_tag and isinstance(pid, tuple) and pid[0] == "storage":
            pid = pid[:3] + (self.cuda_tag,) + pid[4:]
        super().save_pers(pid)

    def save_py2_str(self, obj):
        data = obj.encode("latin-1") if isinstance(obj, str) else bytes(obj)
        if self.proto == 0:
            self.write(pickle.STRING + repr(data)[1:].encode("ascii") + b"\n")
        elif len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + len(data).to_bytes(4, "little") + data)
        self.memoize(obj)

    def save_str(self, obj):
        if self.py2:
            return self.save_py2_str(obj)
        return pickle._Pickler.save_str(self, obj)

    def save_bytes(self, obj):
        if self.py2:
            return self.save_py2_str(obj)
        return pickle._Pickler.save_bytes(self, obj)

    dispatch[str] = save_str
    dispatch[bytes] = save_bytes


def pickle_bytes(obj, **kwargs) -> bytes:
    buf = io.BytesIO()
    ReplicaPickler(buf, **kwargs).dump(obj)
    return buf.getvalue()


def torch_save(obj, path, numpy1=True, cuda_tag=None):
    """``torch.save`` (zip format, protocol 2) through :class:`ReplicaPickler`."""
    module = types.ModuleType("replica_pickle")
    module.Pickler = type("Pickler", (ReplicaPickler,), {
        "__init__": lambda self, f, protocol=2: ReplicaPickler.__init__(
            self, f, protocol, numpy1=numpy1, cuda_tag=cuda_tag)})
    torch.save(obj, path, pickle_module=module, pickle_protocol=2)
    return path


# ---------------------------------------------------------------- foreign classes (stand-ins)

class Ch:
    """chumpy.ch.Ch as pickled: ``__new__`` sets bookkeeping, ``set(x=...)`` marks 'x' dirty;
    ``__getstate__`` drops ``_parents`` and ``_cache``."""

    _pickle_as = ("chumpy.ch", "Ch")

    def __init__(self, x):
        self._dirty_vars = {"x"}                      # a set: __builtin__.set in Python 2
        self._itr = None
        self._make_dense = False
        self._make_sparse = False
        self._depends_on_deps = {}
        self.x = np.asarray(x, np.float64)


class OldCscMatrix:
    """scipy.sparse.csc.csc_matrix as Python-2-era scipy pickled it (instance __dict__)."""

    _pickle_as = ("scipy.sparse.csc", "csc_matrix")

    def __init__(self, dense):
        import scipy.sparse

        m = scipy.sparse.csc_matrix(dense)
        self.maxprint = 50
        self.format = "csc"
        self._shape = m.shape
        self.indices, self.indptr, self.data = m.indices, m.indptr, m.data


class CfgNode(dict):
    """yacs.config.CfgNode: a dict with four bookkeeping entries in ``__dict__``."""

    _pickle_as = ("yacs.config", "CfgNode")

    def __init__(self, items):
        super().__init__({k: CfgNode(v) if isinstance(v, dict) else v for k, v in items.items()})
        self.__dict__.update({"__immutable__": True, "__deprecated_keys__": set(),
                              "__renamed_keys__": {}, "__new_allowed__": False})


class _OmegaMetadata:
    def __init__(self, key, ref_type=typing.Any, object_type=None):
        self.ref_type, self.object_type, self.optional, self.key = ref_type, object_type, True, key
        self.flags, self.flags_root = {}, False
        self.resolver_cache = collections.defaultdict(dict)


class Metadata(_OmegaMetadata):
    _pickle_as = ("omegaconf.base", "Metadata")


class ContainerMetadata(_OmegaMetadata):
    _pickle_as = ("omegaconf.base", "ContainerMetadata")

    def __init__(self, key):
        super().__init__(key, object_type=dict)
        self.key_type = self.element_type = typing.Any


class AnyNode:
    _pickle_as = ("omegaconf.nodes", "AnyNode")

    def __init__(self, value, key, parent):
        self._metadata, self._parent, self._val = Metadata(key), parent, value


class DictConfig:
    """omegaconf.DictConfig as its ``__getstate__`` writes it (``_flags_cache`` dropped)."""

    _pickle_as = ("omegaconf.dictconfig", "DictConfig")

    def __init__(self, items, key=None, parent=None):
        self._metadata, self._parent = ContainerMetadata(key), parent
        self._content = {k: DictConfig(v, k, self) if isinstance(v, dict) else AnyNode(v, k, self)
                         for k, v in items.items()}


# ---------------------------------------------------------------- official layouts

def adam_state(param_group_sizes, with_state=3, lr=5e-5):
    """``torch.optim.Adam.state_dict()``: many groups; state only for params with gradients."""
    groups, index = [], 0
    for size in param_group_sizes:
        groups.append({"lr": lr, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                       "amsgrad": False, "maximize": False, "foreach": None,
                       "capturable": False, "differentiable": False, "fused": None,
                       "params": list(range(index, index + size))})
        index += size
    state = {i: {"step": torch.tensor(float(1000 + i)), "exp_avg": torch.full((4,), 0.1 * i),
                 "exp_avg_sq": torch.full((4,), 0.01 * i)} for i in range(with_state)}
    return {"state": state, "param_groups": groups}


def write_wham_trainer_checkpoint(path, model_state):
    """WHAM ``Trainer.save_model`` under numpy 1.x on a GPU: numpy float64 ``performance``
    (PA-MPJPE, mm), Adam state with one group per sub-network, every tensor on ``cuda:0``."""
    prefixes = sorted({k.split(".")[0] for k in model_state})
    sizes = [sum(k.startswith(p + ".") or k == p for k in model_state) for p in prefixes]
    ckpt = {"epoch": 38, "model": collections.OrderedDict(model_state),
            "performance": np.float64(45.873), "optimizer": adam_state(sizes)}
    return torch_save(ckpt, path, numpy1=True, cuda_tag="cuda:0")


def write_mmcv_checkpoint(path, state_dict):
    """mmcv 1.x ``save_checkpoint`` from mmpose's EpochBasedRunner with an EvalHook."""
    meta = {
        "env_info": "sys.platform: linux\nPython: 3.8.5\nCUDA available: True\n",
        "seed": 0, "exp_name": "ViTPose_huge_coco_256x192.py",
        "config": "model = dict(type='TopDown', ...)\n",
        "epoch": 210, "iter": 393960,
        "hook_msgs": {"last_ckpt": "work_dirs/epoch_210.pth", "best_score": np.float64(0.7891),
                      "best_ckpt": "work_dirs/best_AP_epoch_200.pth"},
        "mmcv_version": "1.3.9", "time": "Tue Mar  1 10:00:00 2022",
    }
    ckpt = {"meta": meta, "state_dict": collections.OrderedDict(state_dict),
            "optimizer": adam_state([len(state_dict)], lr=5e-4)}
    return torch_save(ckpt, path, numpy1=True)


HMR2_CFG = {"MODEL": {"IMAGE_SIZE": 256, "BACKBONE": {"TYPE": "vit"},
                      "SMPL_HEAD": {"TYPE": "transformer_decoder", "IN_CHANNELS": 2048}},
            "TRAIN": {"LR": 1e-5, "WEIGHT_DECAY": 1e-4}, "SMPL": {"NUM_BETAS": 10}}


def write_lightning_checkpoint(path, state_dict, config="omegaconf"):
    """Lightning ``dump_checkpoint`` of 4D-Humans' HMR2 (``save_hyperparameters``) with the
    config as an omegaconf ``DictConfig`` (hydra) or a yacs ``CfgNode``."""
    cfg = DictConfig(HMR2_CFG) if config == "omegaconf" else CfgNode(HMR2_CFG)
    ckpt = {
        "epoch": 35, "global_step": 1_000_000, "pytorch-lightning_version": "2.0.2",
        "state_dict": collections.OrderedDict(state_dict),
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 36}}}},
        "callbacks": {"ModelCheckpoint{'monitor': None, 'mode': 'min'}": {
            "monitor": None, "best_model_score": None, "dirpath": "logs/checkpoints",
            "best_k_models": {}, "kth_value": torch.tensor(float("inf")),
            "last_model_path": "logs/checkpoints/last.ckpt"}},
        "optimizer_states": [adam_state([len(state_dict)], lr=1e-5)], "lr_schedulers": [],
        "hparams_name": "kwargs", "hyper_parameters": {"cfg": cfg},
    }
    return torch_save(ckpt, path, numpy1=True, cuda_tag="cuda:0")


SMPL_EXTRA_KEYS = ("J_regressor_prior", "J", "weights_prior", "vert_sym_idxs",
                   "pose_training_info", "bs_style", "bs_type")


def mpi_smpl_dict(arrays):
    """The dict of MPI's ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl`` (chumpy arrays, CSC
    regressors, training info) from synthetic ``arrays`` (smpl .npz names)."""
    reg = arrays["J_regressor"].astype(np.float64)
    return {
        "J_regressor_prior": OldCscMatrix(reg), "f": arrays["f"].astype(np.uint32),
        "J_regressor": OldCscMatrix(reg), "kintree_table": arrays["kintree_table"].astype(np.int64),
        "J": reg @ arrays["v_template"].astype(np.float64),
        "weights_prior": arrays["weights"].astype(np.float64),
        "weights": Ch(arrays["weights"]), "vert_sym_idxs": np.arange(len(arrays["v_template"])),
        "posedirs": Ch(arrays["posedirs"]),
        "pose_training_info": {"begin_frame": 0, "end_frame": 1000, "subjects": ["s1"]},
        "bs_style": "lbs", "v_template": Ch(arrays["v_template"]),
        "shapedirs": Ch(arrays["shapedirs"]), "bs_type": "lrotmin",
    }


def write_mpi_smpl_pickle(path, arrays):
    """MPI's file as Python 2 wrote it: protocol 2, ``str`` opcodes, numpy 1 names."""
    with open(path, "wb") as fh:
        fh.write(pickle_bytes(mpi_smpl_dict(arrays), protocol=2, py2=True))
    return path


def write_clean_ch_pickle(path, arrays):
    """smplx ``tools/clean_ch.py`` output: chumpy values turned into ndarrays, the rest kept,
    ``pickle.dump`` with Python 2's default protocol 0."""
    data = {k: (np.array(v.x) if isinstance(v, Ch) else v)
            for k, v in mpi_smpl_dict(arrays).items()}
    with open(path, "wb") as fh:
        fh.write(pickle_bytes(data, protocol=0, py2=True))
    return path


def write_py3_repickle(path, arrays, protocol):
    """MPI's file loaded with chumpy under Python 3 and re-pickled (numpy 1 names, scipy's
    current module ``scipy.sparse._csc``, Python 3 strings)."""
    import scipy.sparse

    data = mpi_smpl_dict(arrays)
    for key in ("J_regressor", "J_regressor_prior"):
        data[key] = scipy.sparse.csc_matrix(arrays["J_regressor"].astype(np.float64))
    with open(path, "wb") as fh:
        fh.write(pickle_bytes(data, protocol=protocol))
    return path


class RunsCode:
    """What a malicious file holds: a reduce that calls ``os.system``."""

    def __reduce__(self):
        import os

        return os.system, ("echo pwned > /dev/null",)
