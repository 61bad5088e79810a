"""The model files a configuration needs, where each is expected, and how to get it.

One function, :func:`resolve_model_paths`, turns the node parameters into file paths; the
live node, the offline runner, ``wham-ros models`` and ``wham-ros doctor`` all use it, so
they agree on what is missing and say the same thing about it.

Where files are expected: a parameter that names a path is used as given; an empty one
(the default in ``config/wham.yaml``) means the model cache directory:
``$WHAM_ROS_MODELS``, else ``$XDG_CACHE_HOME/wham_ros``, else ``~/.cache/wham_ros``
(``wham-ros models --dir DIR`` sets it for one command). Cache layout::

    <cache>/wham_vit_bedlam_w_3dpw.pth.tar        wham_checkpoint (WHAM's, used as is)
    <cache>/body_models/smpl/SMPL_NEUTRAL.npz     body_model_dir: SMPL, converted from the .pkl
    <cache>/body_models/J_regressor_wham.npy      (from WHAM's body_models.tar.gz)
    <cache>/body_models/J_regressor_feet.npy
    <cache>/yolox_l.onnx                          detector_onnx (YOLOX-L, Megvii's ONNX export)
    <cache>/vitpose_h.onnx + vitpose_h.onnx.data  vitpose_onnx, exported from
                                                  vitpose-h-multi-coco.pth
    <cache>/hmr2_encoder.onnx + .onnx.data        hmr2_onnx, exported from hmr2a.ckpt
    <cache>/downloads/                            checkpoints and archives the exports start from
    <cache>/sha256.json                           digests by (path, size, mtime)

Megvii's YOLOX ONNX files are the head's raw output (no grid decode), so with the cached
detector a ``detector_format`` of ``auto`` resolves to ``yolox_raw``.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional

from wham_ros.assets.checksums import HashCache
from wham_ros.ort_session import ModelFileError

CACHE_ENV = "WHAM_ROS_MODELS"
MODEL_PARAMETERS = ("wham_checkpoint", "body_model_dir", "detector_onnx", "vitpose_onnx",
                    "hmr2_onnx")
#: Folder of the TensorRT engine and timing caches under the cache directory (trt_cache_dir '').
TRT_CACHE_NAME = "tensorrt"
# Parameter -> its path under the cache directory.
CACHE_NAMES = {
    "wham_checkpoint": "wham_vit_bedlam_w_3dpw.pth.tar",
    "body_model_dir": "body_models",
    "detector_onnx": "yolox_l.onnx",
    "vitpose_onnx": "vitpose_h.onnx",
    "hmr2_onnx": "hmr2_encoder.onnx",
}
DOWNLOADS_DIR = "downloads"
HASH_STORE = "sha256.json"
CACHED_DETECTOR_FORMAT = "yolox_raw"

SMPL_REGISTRATION_URL = "https://smplify.is.tue.mpg.de"
SMPL_FILE = "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
SMPL_HOWTO = (f"register at {SMPL_REGISTRATION_URL}, download 'SMPLify code and model' "
              f"(mpips_smplify_public_v2.zip); the file is smplify_public/code/models/{SMPL_FILE}")

LICENCE_WHAM = "WHAM licence: research only, non-commercial"
LICENCE_SMPL = "SMPL model licence: registration, non-commercial"
LICENCE_VITPOSE = "Apache-2.0 (ViTPose)"
LICENCE_HMR2 = "HMR2.0: code MIT; weights trained with SMPL, the SMPL licence applies"
LICENCE_YOLOX = "Apache-2.0 (YOLOX, Megvii)"


def google_drive_url(file_id: str) -> str:
    """Direct-download URL of a public Google Drive file (no virus-scan page)."""
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


@dataclass(frozen=True)
class Source:
    """A file with a public download location.

    Attributes:
        name: file name (under ``<cache>/downloads`` unless used as is).
        url: where it is downloaded from.
        licence: its licence.
        sha256: expected hex digest, when known (verified after download).
        size: expected size in bytes, when known.
    """

    name: str
    url: str
    licence: str
    sha256: Optional[str] = None
    size: Optional[int] = None


# Google Drive ids and URLs as in WHAM's fetch_demo_data.sh (yohanshin/WHAM); YOLOX-L from
# Megvii's release 0.1.1rc0 (its digest and size as published with that release).
# HMR2.0: WHAM was trained on features of HMR2.0a, so hmr2a.ckpt from WHAM's demo data is used,
# not 4D-Humans' hmr2_data.tar.gz (HMR2.0b, epoch=35-step=1000000.ckpt).
SOURCES: Dict[str, Source] = {
    "wham_checkpoint": Source("wham_vit_bedlam_w_3dpw.pth.tar",
                              google_drive_url("19qkI-a6xuwob9_RFNSPWf1yWErwVVlks"), LICENCE_WHAM),
    "body_models": Source("body_models.tar.gz",
                          google_drive_url("1pbmzRbWGgae6noDIyQOnohzaVnX_csUZ"), LICENCE_WHAM),
    "vitpose": Source("vitpose-h-multi-coco.pth",
                      google_drive_url("1xyF7F3I7lWtdq82xmEPVQ5zl4HaasBso"), LICENCE_VITPOSE),
    "hmr2": Source("hmr2a.ckpt", google_drive_url("1J6l8teyZrL0zFzHhzkC7efRhU0ZJ5G9Y"),
                   LICENCE_HMR2),
    "detector": Source("yolox_l.onnx",
                       "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/"
                       "0.1.1rc0/yolox_l.onnx", LICENCE_YOLOX,
                       sha256="7860ae79de6c89a3c1eb72ae9a2756c0ccfbe04b7791bb5880afabd97855a411",
                       size=216_746_733),
}


class MissingModelFiles(ModelFileError):
    """Model files the configuration needs are absent (the message lists each with its fix)."""


class ModelLoadError(ModelFileError):
    """A model file is present but cannot be loaded (the message says how to re-create it)."""


def default_cache_dir() -> str:
    """``$WHAM_ROS_MODELS``, else ``$XDG_CACHE_HOME/wham_ros``, else ``~/.cache/wham_ros``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.abspath(os.path.join(base, "wham_ros"))


def resolve_model_paths(values: Dict[str, Any], cache_dir: Optional[str] = None) -> Dict[str, Any]:
    """Parameter values with every model path made absolute (empty: the cache's file), and
    an empty ``trt_cache_dir`` made the cache's ``tensorrt/`` folder.

    Only the model parameters present in ``values`` are touched (a split node has some of
    them). With the cached detector, ``detector_format: auto`` becomes ``yolox_raw``.

    Args:
        values: node parameter values (see ``wham_ros.ros.params``).
        cache_dir: model cache directory (None: :func:`default_cache_dir`).

    Returns:
        A new dict.
    """
    cache = os.path.abspath(os.path.expanduser(cache_dir)) if cache_dir else default_cache_dir()
    out = dict(values)
    for name in MODEL_PARAMETERS:
        if name not in out:
            continue
        given = str(out[name] or "")
        out[name] = (os.path.abspath(os.path.expanduser(given)) if given
                     else os.path.join(cache, CACHE_NAMES[name]))
    if "trt_cache_dir" in out and not out["trt_cache_dir"]:  # TensorRT engines beside the models
        out["trt_cache_dir"] = os.path.join(cache, TRT_CACHE_NAME)
    if ("detector_onnx" in values and not values["detector_onnx"]
            and out.get("detector_format") == "auto"):
        out["detector_format"] = CACHED_DETECTOR_FORMAT
    return out


_LOCATION = re.compile(rb"\x0a\x08location\x12([\x01-\x7f])")
_MAX_GRAPH_BYTES = 64 << 20


def onnx_external_data(path: str) -> List[str]:
    """Files next to ``path`` that hold its external-data tensors (empty: none).

    Reads the protobuf ``StringStringEntryProto`` entries ``{key: "location", value: <file>}``
    of ``TensorProto.external_data`` directly (no ``onnx`` import; names up to 127 bytes, a
    one-byte length). A file above 64 MB holds its weights inline and is not scanned.
    """
    if os.path.getsize(path) > _MAX_GRAPH_BYTES:
        return []
    with open(path, "rb") as fh:
        blob = fh.read()
    found = []
    for m in _LOCATION.finditer(blob):
        start = m.end()
        name = blob[start:start + m.group(1)[0]].decode("utf-8", "replace")
        if name not in found:
            found.append(name)
    return found


@dataclass(frozen=True)
class ModelFile:
    """One file the configuration needs.

    Attributes:
        key: unique name (``smpl_neutral``, ``vitpose_onnx_data``, ...).
        parameter: the node parameter that locates it.
        path: absolute path where it is expected.
        licence: the licence of its content.
        origin: how ``wham-ros models fetch`` makes it.
        source: key of :data:`SOURCES` it comes from (None: the user's own download).
        sha256: expected digest when the file is a download used as is.
    """

    key: str
    parameter: str
    path: str
    licence: str
    origin: str
    source: Optional[str] = None
    sha256: Optional[str] = None


@dataclass
class FileStatus:
    """What is on disk for a :class:`ModelFile`.

    Attributes:
        file: the entry.
        size: bytes (None: missing).
        sha256: hex digest (None: missing or not hashed).
        problem: '' when usable, else 'missing' or 'sha256 mismatch'.
        fix: the command that gets it ('' when usable).
    """

    file: ModelFile
    size: Optional[int]
    sha256: Optional[str]
    problem: str
    fix: str

    @property
    def ok(self) -> bool:
        return not self.problem


def _onnx_files(parameter: str, path: str, source: str, licence: str,
                origin: str) -> List[ModelFile]:
    """The .onnx and the external-data files it references (expected: ``<name>.data``)."""
    files = [ModelFile(parameter, parameter, path, licence, origin, source)]
    data = (onnx_external_data(path) if os.path.isfile(path)
            else [os.path.basename(path) + ".data"])
    for i, name in enumerate(data):
        key = f"{parameter}_data" + (f"{i}" if i else "")
        files.append(ModelFile(key, parameter, os.path.join(os.path.dirname(path), name), licence,
                               f"external weights of {os.path.basename(path)}", source))
    return files


class ModelSet:
    """The model files of one configuration.

    Args:
        values: node parameter values (unresolved; see :func:`resolve_model_paths`).
        cache_dir: model cache directory (None: :func:`default_cache_dir`).
        command_args: arguments repeated in the fix commands (e.g. ``--config my.yaml``).
        sources: public download locations (default: :data:`SOURCES`).
    """

    def __init__(self, values: Dict[str, Any], cache_dir: Optional[str] = None,
                 command_args: Iterable[str] = (),
                 sources: Optional[Dict[str, Source]] = None) -> None:
        self.sources = SOURCES if sources is None else sources
        self.cache_dir = (os.path.abspath(os.path.expanduser(cache_dir)) if cache_dir
                          else default_cache_dir())
        self.values = resolve_model_paths(values, self.cache_dir)
        self.command_args = list(command_args)
        self.explicit = {p for p in MODEL_PARAMETERS if values.get(p)}

    @property
    def downloads_dir(self) -> str:
        return os.path.join(self.cache_dir, DOWNLOADS_DIR)

    def files(self) -> List[ModelFile]:
        """Every file the configured pipeline needs, in start-up order."""
        v, out = self.values, []
        if "wham_checkpoint" in v:
            out.append(ModelFile("wham_checkpoint", "wham_checkpoint", v["wham_checkpoint"],
                                 LICENCE_WHAM, "downloaded (WHAM demo data)", "wham_checkpoint"))
        if "body_model_dir" in v:
            body = v["body_model_dir"]
            out.append(ModelFile("smpl_neutral", "body_model_dir",
                                 os.path.join(body, "smpl", "SMPL_NEUTRAL.npz"), LICENCE_SMPL,
                                 f"converted from your {SMPL_FILE} ({SMPL_REGISTRATION_URL})"))
            for name in ("J_regressor_wham", "J_regressor_feet"):
                out.append(ModelFile(name.lower(), "body_model_dir",
                                     os.path.join(body, name + ".npy"), LICENCE_WHAM,
                                     "extracted from WHAM's body_models.tar.gz", "body_models"))
        if "detector_onnx" in v:
            src = self.sources["detector"]
            cached = v["detector_onnx"] == os.path.join(self.cache_dir,
                                                        CACHE_NAMES["detector_onnx"])
            out.append(ModelFile("detector_onnx", "detector_onnx", v["detector_onnx"], src.licence,
                                 "downloaded (YOLOX-L ONNX)", "detector",
                                 src.sha256 if cached else None))
        if "vitpose_onnx" in v and v.get("keypoint_backend", "vitpose") == "vitpose":
            out += _onnx_files("vitpose_onnx", v["vitpose_onnx"], "vitpose", LICENCE_VITPOSE,
                               "exported from vitpose-h-multi-coco.pth")
        if "hmr2_onnx" in v:
            out += _onnx_files("hmr2_onnx", v["hmr2_onnx"], "hmr2", LICENCE_HMR2,
                               "exported from hmr2a.ckpt")
        return out

    def fetch_command(self, *extra: str, explicit: bool = False) -> str:
        """``wham-ros models fetch`` with this set's arguments (and ``extra``).

        ``explicit``: the file's path comes from the parameters, so the command needs them
        (``--config``); a placeholder is written when this set was not made from a file.
        """
        args = [shlex.quote(a) for a in (*self.command_args, *extra)]
        if explicit and "--config" not in self.command_args:
            args.append("--config YOUR_PARAMETERS.yaml")
        return " ".join(["wham-ros", "models", "fetch"] + args)

    def fix_for(self, f: ModelFile) -> str:
        """The command that gets ``f``."""
        explicit = f.parameter in self.explicit
        if f.key == "detector_onnx" and explicit:  # a model of the user's choice: not fetched
            return (f"export your detector to {shlex.quote(f.path)} (e.g. yolo export "
                    "model=yolov8n.pt format=onnx), or set detector_onnx to \"\" for the cached "
                    f"YOLOX-L: {self.fetch_command()}")
        if f.key == "smpl_neutral":
            pkl = os.path.join(os.path.dirname(f.path), "SMPL_NEUTRAL.pkl")
            if os.path.isfile(pkl):
                return f"wham-ros convert-smpl {shlex.quote(pkl)} {shlex.quote(f.path)}"
            return (f"{self.fetch_command('--smpl', 'PATH/TO/' + SMPL_FILE, explicit=explicit)}"
                    f"  ({SMPL_HOWTO})")
        return self.fetch_command(explicit=explicit)

    def status(self, hash_files: bool = True) -> List[FileStatus]:
        """Presence, size and (with ``hash_files``) SHA-256 of every file."""
        cache = HashCache(os.path.join(self.cache_dir, HASH_STORE)) if hash_files else None
        out = []
        for f in self.files():
            if not os.path.isfile(f.path):
                out.append(FileStatus(f, None, None, "missing", self.fix_for(f)))
                continue
            digest = cache.sha256(f.path) if cache is not None else None
            problem = ""
            if digest and f.sha256 and digest != f.sha256:
                problem = "sha256 mismatch"
            fix = (f"rm {shlex.quote(f.path)} && {self.fix_for(f)}" if problem else "")
            out.append(FileStatus(f, os.path.getsize(f.path), digest, problem, fix))
        return out

    def missing_message(self, problems: List[FileStatus]) -> str:
        """The start-up / check message for unusable files: one line each, with its fix."""
        lines = [f"{len(problems)} model file(s) missing or wrong (model cache {self.cache_dir}):"]
        for s in problems:
            lines.append(f"  {s.file.key}: {s.problem}: {s.file.path}")
            lines.append(f"    fix: {s.fix}")
        return "\n".join(lines)

    def require(self) -> Dict[str, Any]:
        """The resolved values, after checking every file is present (no hashing).

        Raises:
            MissingModelFiles: listing each missing file with the command that gets it.
        """
        problems = [s for s in self.status(hash_files=False) if not s.ok]
        if problems:
            raise MissingModelFiles(self.missing_message(problems))
        return self.values

    def load_error(self, exc: Exception) -> ModelLoadError:
        """``exc`` of a loader, as the error that names the file and how to re-create it."""
        text = str(exc)
        hit = next((f for f in self.files() if f.path in text), None)
        if hit is None:
            return ModelLoadError(f"{text}\n    check: wham-ros models check "
                                  + " ".join(shlex.quote(a) for a in self.command_args))
        return ModelLoadError(f"{hit.key} '{hit.path}' cannot be loaded: {text}\n"
                              f"    fix: rm {shlex.quote(hit.path)} && {self.fix_for(hit)}")


def build_with_models(values: Dict[str, Any], build, cache_dir: Optional[str] = None,
                      command_args: Iterable[str] = ()):
    """``build(resolved values)`` once every model file is present; loader errors explained.

    The node's and the runner's start-up: the same resolution and messages as
    ``wham-ros models check``.

    Args:
        values: node parameter values.
        build: ``resolved values -> object`` (loads the models).
        cache_dir: model cache directory (None: the default).
        command_args: arguments repeated in the fix commands.

    Raises:
        MissingModelFiles: a file is absent.
        ModelLoadError: a file is present but its loader refused it.
    """
    from wham_ros.body.model_file import BodyModelError
    from wham_ros.vit.checkpoint import CheckpointError as VitCheckpointError
    from wham_ros.wham.checkpoint import CheckpointError

    models = ModelSet(values, cache_dir, command_args)
    resolved = models.require()
    try:
        return build(resolved)
    except (ModelFileError, CheckpointError, VitCheckpointError, BodyModelError) as exc:
        raise models.load_error(exc) from exc

