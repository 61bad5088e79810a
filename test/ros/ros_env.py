"""Locate and activate the ROS build of tools/build_ros.sh (build/ros_install) for tests.

The editable ``wham_ros`` stays the package under test; the generated ``wham_ros.msg``
(and the test-only ``tf2_msgs``) come from the install prefix through ``extend_path``.
Their C type-support libraries are preloaded (RTLD_GLOBAL), so rmw finds them by soname
without LD_LIBRARY_PATH; subprocesses get LD_LIBRARY_PATH from :func:`subprocess_env`.
"""
from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Optional, Tuple

ROOT = Path(__file__).resolve().parents[2]
PREFIX = Path(os.environ.get("WHAM_ROS_INSTALL", ROOT / "build" / "ros_install"))
_ACTIVE = False


def site_packages() -> Optional[Path]:
    """site-packages of the ROS install prefix holding the generated wham_ros.msg."""
    for sp in sorted(PREFIX.glob("lib/python3*/site-packages")):
        if (sp / "wham_ros" / "msg").is_dir():
            return sp
    return None


def sourced() -> bool:
    """True when a sourced ROS workspace (colcon install/setup.bash) provides wham_ros.msg."""
    import importlib.util

    try:
        return importlib.util.find_spec("wham_ros.msg") is not None
    except ImportError:
        return False


def check() -> Tuple[bool, str]:
    """(usable, reason) for the ROS build and rclpy."""
    try:
        import rclpy  # noqa: F401
    except ImportError as exc:
        return False, f"rclpy not installed ({exc}); run tools/setup_env.sh"
    if site_packages() is None and not sourced():
        return False, (f"no ROS build in {PREFIX} and no sourced workspace providing "
                       "wham_ros.msg; run bash tools/build_ros.sh")
    return True, ""


def activate() -> None:
    """Make ``wham_ros.msg`` and ``tf2_msgs`` importable in this process (idempotent)."""
    global _ACTIVE
    if _ACTIVE:
        return
    sp = site_packages()
    if sp is None:  # sourced colcon workspace: everything is on the paths already
        _ACTIVE = True
        return
    import wham_ros  # the checkout's package first: the install copy must not shadow it

    if str(sp) not in sys.path:
        sys.path.append(str(sp))

    if str(sp / "wham_ros") not in wham_ros.__path__:
        wham_ros.__path__.append(str(sp / "wham_ros"))
    for lib in sorted((PREFIX / "lib").glob("lib*.so")):
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    os.environ["AMENT_PREFIX_PATH"] = os.pathsep.join(
        p for p in (str(PREFIX), sys.prefix, os.environ.get("AMENT_PREFIX_PATH")) if p)
    _ACTIVE = True


def subprocess_env(**extra) -> dict:
    """Environment for a child Python that runs ROS code from this checkout."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if env.get("ROS_DISTRO") == "humble":  # Humble predates ROS_AUTOMATIC_DISCOVERY_RANGE
        env["ROS_LOCALHOST_ONLY"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    if site_packages() is None:
        return env
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        p for p in (str(PREFIX / "lib"), env.get("LD_LIBRARY_PATH")) if p)
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(
        p for p in (str(PREFIX), sys.prefix, env.get("AMENT_PREFIX_PATH")) if p)
    return env


TF2_ABSENT = ("comes with a ROS 2 installation: it has no PyPI wheel, and its source cannot be "
              "brought into this test environment")


def tf2_check() -> Tuple[bool, str]:
    """(usable, reason) for the real tf2 (``tf2_py``, ``tf2_ros``) in the ROS environment."""
    ok, reason = check()
    if not ok:
        return ok, reason
    activate()
    try:
        import tf2_py  # noqa: F401
        import tf2_ros  # noqa: F401
    except ImportError as exc:
        return False, f"tf2 not importable ({exc}); tf2 {TF2_ABSENT}"
    return True, ""
