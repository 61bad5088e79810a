"""The doctor's checks: what will run here and what will not, and the fixes.

Checks Python, torch (and its CUDA device), ONNX Runtime and its execution providers, ROS 2
(distro, rclpy, this package's messages) and the model files of the configured pipeline.
``wham-ros doctor`` (:mod:`wham_ros.cli.doctor`) prints :func:`format_findings` of
:func:`diagnose`. The offline runner (``wham-ros run``) can start when no finding is FAIL; the
live node also needs rclpy and the generated messages, whose absence is a warning, not an error.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

OK, WARN, FAIL, INFO = "ok", "warn", "FAIL", "info"


@dataclass
class Finding:
    """One line of the report.

    Attributes:
        topic: what was checked.
        level: OK, WARN (runs, degraded), FAIL (the pipeline cannot start) or INFO.
        text: what was found.
        fix: the command or action that fixes it ('' when nothing to do).
    """

    topic: str
    level: str
    text: str
    fix: str = ""


def _version(module: str) -> Optional[str]:
    try:
        mod = importlib.import_module(module)
    except Exception:  # a broken install raises anything; reported as absent
        return None
    return str(getattr(mod, "__version__", "?"))


def check_python() -> List[Finding]:
    ok = sys.version_info >= (3, 10)
    return [Finding("python", OK if ok else FAIL,
                    f"{platform.python_version()} ({sys.executable})",
                    "" if ok else "use Python 3.10 or newer")]


def check_torch(device: str) -> List[Finding]:
    """torch version, CUDA devices, and whether the WHAM ``device`` parameter is usable."""
    version = _version("torch")
    if version is None:
        return [Finding("torch", FAIL, "not importable", 'pip install "torch==2.13.0"  '
                        "(CPU; see tools/setup_env.sh)")]
    import torch

    out = [Finding("torch", OK, version)]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            out.append(Finding(f"cuda:{i}", OK, f"{props.name}, "
                               f"{props.total_memory / 2 ** 30:.1f} GiB (CUDA {torch.version.cuda})"))
    else:
        out.append(Finding("gpu", INFO, "no CUDA device visible to torch (WHAM runs on CPU)"))
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            out.append(Finding("device", FAIL, f"parameter device '{device}' but torch has no such "
                               "CUDA device", "set device: cpu, or install a CUDA build of torch "
                               "(pip install torch==2.13.0 --index-url "
                               "https://download.pytorch.org/whl/cu128)"))
        else:
            out.append(Finding("device", OK, f"WHAM on {device}"))
    else:
        out.append(Finding("device", OK, f"WHAM on {device}"))
    return out


def check_onnxruntime(providers: str) -> List[Finding]:
    """ONNX Runtime version, available providers and what ``providers`` resolves to."""
    version = _version("onnxruntime")
    if version is None:
        return [Finding("onnxruntime", FAIL, "not importable",
                        "pip install onnxruntime  (or onnxruntime-gpu for CUDA/TensorRT)")]
    import onnxruntime as ort

    from wham_ros.ort_session import PROVIDER_ALIASES, resolve_providers

    available = ort.get_available_providers()
    out = [Finding("onnxruntime", OK, f"{version}; providers: {', '.join(available)}")]
    chosen = resolve_providers(providers, available)[0]
    wanted = PROVIDER_ALIASES.get(providers.lower(), [chosen])[0]
    if providers.lower() not in ("auto", "cpu") and chosen != wanted:
        out.append(Finding("providers", WARN, f"parameter providers '{providers}' but this "
                           f"onnxruntime lacks {wanted}: the front-end falls back to {chosen}",
                           "pip uninstall onnxruntime && pip install onnxruntime-gpu"))
    else:
        out.append(Finding("providers", OK, f"'{providers}': front-end models run on {chosen}"))
    return out


def check_tensorrt_models(values: Dict[str, Any], cache_dir: Optional[str]) -> List[Finding]:
    """Front-end models TensorRT cannot take: over 2 GB of weights (fp32 ViT-H) they run on
    the CUDA provider (``wham_ros.ort_session.too_big_for_tensorrt``)."""
    providers = str(values.get("providers", "auto")).lower()
    if providers not in ("auto", "tensorrt") or _version("onnxruntime") is None:
        return []  # (a missing onnxruntime is check_onnxruntime's FAIL)
    import onnxruntime as ort

    from wham_ros.models.registry import resolve_model_paths
    from wham_ros.ort_session import model_bytes, too_big_for_tensorrt

    trt = "TensorrtExecutionProvider" in ort.get_available_providers()
    resolved = resolve_model_paths(values, cache_dir)
    out = []
    for key in ("vitpose_onnx", "hmr2_onnx"):
        path = str(resolved.get(key) or "")
        if path and too_big_for_tensorrt(path):
            out.append(Finding(key, WARN if trt else INFO,
                               f"{model_bytes(path) / 1e9:.1f} GB of weights: more than the 2 GB "
                               "the TensorRT provider can serialise, so with TensorRT this model "
                               "runs on CUDAExecutionProvider (fp32)",
                               f"for TensorRT: wham-ros export {key.split('_')[0]} <checkpoint> "
                               "<model>.onnx --fp16, and point the parameter at it"))
    return out


def check_ros() -> List[Finding]:
    """ROS 2 distro (environment), rclpy and the generated messages (live node only)."""
    distro = os.environ.get("ROS_DISTRO")
    out = [Finding("ros2", INFO, f"ROS_DISTRO={distro}" if distro else "no ROS 2 environment "
                   "sourced (ROS_DISTRO unset)")]
    rclpy = _version("rclpy")
    if rclpy is None:
        out.append(Finding("rclpy", WARN, "not importable: the live node (ros2 launch) cannot run; "
                           "the offline runner (wham-ros run) does not need it",
                           "source /opt/ros/<distro>/setup.bash, or bash tools/setup_env.sh "
                           "(ROS 2 wheels from PyPI)"))
    else:
        out.append(Finding("rclpy", OK, "importable"))
        try:
            importlib.import_module("wham_ros.msg")
            out.append(Finding("wham_ros.msg", OK, "generated messages importable"))
        except ImportError:
            out.append(messages_finding(message_builds(checkout_root(), Path.cwd())))
    return out


def checkout_root() -> Optional[Path]:
    """The source checkout this wham_ros runs from (editable install), or None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "tools" / "ros_env.sh").is_file() else None


def message_builds(checkout: Optional[Path], cwd: Path) -> List[Tuple[Path, str]]:
    """Builds of the generated messages that exist here, with the line that sources each.

    Looks for ``tools/build_ros.sh``'s ``<checkout>/build/ros_install`` (sourced with
    ``tools/ros_env.sh``) and a colcon workspace's ``<cwd>/install`` (``install/setup.bash``;
    merged or isolated layout).

    Returns:
        ``(build prefix, "source …")`` per build found, the checkout's first.
    """
    found = []
    candidates = []
    if checkout is not None:
        candidates.append((checkout / "build" / "ros_install",
                           f"source {shlex.quote(str(checkout / 'tools' / 'ros_env.sh'))}"))
    install = cwd / "install"
    for prefix in (install, install / "wham_ros"):
        candidates.append((prefix, f"source {shlex.quote(str(install / 'setup.bash'))}"))
    for prefix, line in candidates:
        if any(prefix.glob("lib/python3*/site-packages/wham_ros/msg/__init__.py")) \
                or any(prefix.glob("local/lib/python3*/dist-packages/wham_ros/msg/__init__.py")):
            found.append((prefix, line))
    return found


def messages_finding(builds: List[Tuple[Path, str]]) -> Finding:
    """The finding for messages that do not import: built but not sourced, or not built."""
    if builds:
        prefix, line = builds[0]
        return Finding("wham_ros.msg", WARN, f"messages built in {prefix} but not sourced in this "
                       "shell: the live node cannot run", line)
    return Finding("wham_ros.msg", WARN, "messages not built: the live node cannot run",
                   "bash tools/build_ros.sh && source tools/ros_env.sh  (or in a colcon "
                   "workspace: colcon build && source install/setup.bash)")


def check_keypoints(backend: str) -> List[Finding]:
    if backend != "mediapipe":
        return []
    if importlib.util.find_spec("mediapipe") is None:
        return [Finding("mediapipe", FAIL, "keypoint_backend 'mediapipe' but mediapipe is not "
                        "installed", 'pip install -e ".[mediapipe]" && pip install --no-deps '
                        "mediapipe==0.10.21")]
    return [Finding("mediapipe", OK, "installed")]


def check_models(values: Dict[str, Any], cache_dir: Optional[str],
                 command_args: Sequence[str]) -> List[Finding]:
    """Presence of every model file (sizes; ``wham-ros models check`` adds digests)."""
    from wham_ros.models.fetch import onnx_export_available
    from wham_ros.models.registry import ModelSet

    models = ModelSet(values, cache_dir, command_args)
    out = []
    exports = False
    for s in models.status(hash_files=False):
        text = f"{s.file.path}" + ("" if s.ok else f" ({s.problem})")
        out.append(Finding(f"model {s.file.key}", OK if s.ok else FAIL, text, s.fix))
        exports |= not s.ok and s.file.source in ("vitpose", "hmr2")
    if exports and not onnx_export_available():
        out.append(Finding("onnx", WARN, "not installed: 'wham-ros models fetch' cannot export "
                           "ViTPose-H / HMR2.0", "pip install onnx"))
    return out


def diagnose(values: Dict[str, Any], cache_dir: Optional[str] = None,
             command_args: Sequence[str] = ()) -> List[Finding]:
    """Every finding for parameter ``values`` (see ``wham_ros.ros.params``)."""
    return (check_python() + check_torch(str(values.get("device", "cpu")))
            + check_onnxruntime(str(values.get("providers", "auto")))
            + check_tensorrt_models(values, cache_dir) + check_ros()
            + check_keypoints(str(values.get("keypoint_backend", "vitpose")))
            + check_models(values, cache_dir, command_args))


def format_findings(findings: List[Finding]) -> str:
    width = max(len(f.topic) for f in findings)
    lines = []
    for f in findings:
        lines.append(f"[{f.level:>4}] {f.topic:<{width}}  {f.text}")
        if f.fix:
            lines.append(f"       {'':<{width}}  fix: {f.fix}")
    fails = [f for f in findings if f.level == FAIL]
    ros_missing = [f for f in findings if f.level == WARN and f.topic in ("rclpy", "wham_ros.msg")]
    node = not fails and not ros_missing
    lines.append("offline runner (wham-ros run): " + ("can start" if not fails else
                 f"cannot start: {len(fails)} problem(s) marked FAIL"))
    blockers = [f.topic for f in fails + ros_missing]
    lines.append("live node (ros2 launch wham_ros wham.launch.py): "
                 + ("can start" if node else f"cannot start (see: {', '.join(blockers)})"))
    return "\n".join(lines)
