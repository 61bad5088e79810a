"""A ``rosbags`` typestore with the standard ROS 2 types, wham_ros' own messages and the
REP-155 ``hri_msgs`` messages the node publishes (definitions shipped in ``hri_msgs/msg``)."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

from rosbags.typesys import Stores, get_types_from_msg, get_typestore

PACKAGE = "wham_ros"
HRI_MSG_DIR = Path(__file__).resolve().parent / "hri_msgs" / "msg"
# The distribution whose standard message definitions are written into output bags.
DEFAULT_STORE = Stores.ROS2_JAZZY


class MessageDefinitionError(RuntimeError):
    """wham_ros' msg/*.msg definitions cannot be found or parsed."""


def msg_dir_candidates() -> List[Path]:
    """Where msg/*.msg may be: source checkout, pip data files, ament share directories."""
    here = Path(__file__).resolve().parents[2]
    paths = [here / "msg", Path(sys.prefix) / "share" / PACKAGE / "msg"]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            paths.append(Path(prefix) / "share" / PACKAGE / "msg")
    return paths


def find_msg_dir() -> Path:
    """The first directory holding ``Human.msg``.

    Raises:
        MessageDefinitionError: none of :func:`msg_dir_candidates` has it.
    """
    for path in msg_dir_candidates():
        if (path / "Human.msg").is_file():
            return path
    raise MessageDefinitionError(
        "wham_ros message definitions (msg/Human.msg) not found; looked in "
        + ", ".join(str(p) for p in msg_dir_candidates())
        + ". Install wham_ros from its source tree or a ROS install (AMENT_PREFIX_PATH).")


def make_typestore(store: Stores = DEFAULT_STORE, msg_dir: Optional[Path] = None):
    """Typestore of ``store`` with every ``msg/*.msg`` of wham_ros registered.

    Args:
        store: rosbags' standard type set to start from.
        msg_dir: directory of the .msg files (default: :func:`find_msg_dir`).
    """
    typestore = get_typestore(store)
    folder = Path(msg_dir) if msg_dir is not None else find_msg_dir()
    types = _types_in(folder, PACKAGE)
    if "hri_msgs/msg/IdsList" not in typestore.types:
        types.update(_types_in(HRI_MSG_DIR, "hri_msgs"))
    typestore.register(types)
    return typestore


def _types_in(folder: Path, package: str) -> dict:
    """rosbags type definitions of every ``folder/*.msg`` as ``package/msg/<stem>``."""
    types = {}
    for path in sorted(folder.glob("*.msg")):
        name = f"{package}/msg/{path.stem}"
        try:
            types.update(get_types_from_msg(path.read_text(), name))
        except Exception as exc:  # rosbags raises its own parser errors
            raise MessageDefinitionError(f"cannot parse {path}: {exc}") from exc
    return types
