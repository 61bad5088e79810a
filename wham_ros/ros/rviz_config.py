"""RViz configuration that follows the launch arguments (ROS-free: YAML in, YAML out).

``config/wham.rviz`` is written for the defaults (node in the root namespace, camera on
``/camera/image_raw``, world frame ``wham_world``). The launch file renders a copy for the
actual namespace, image topic and world frame, so RViz shows what the node publishes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml

DEFAULT_WORLD_FRAME = "wham_world"


def resolve_topic(topic: str, namespace: str) -> str:
    """Fully qualified name of ``topic`` for a node in ``namespace`` (ROS name rules).

    Args:
        topic: absolute (``/a/b``) or relative (``a/b``) topic name.
        namespace: node namespace, with or without the leading slash ("" = root).
    """
    if topic.startswith("/"):
        return topic
    ns = namespace.strip("/")
    return f"/{ns}/{topic}" if ns else f"/{topic}"


def world_frame_from_params(param_file: Optional[str]) -> str:
    """The frame the outputs are in, from a ROS parameter YAML (any node key): ``fixed_frame``
    when set, else ``world_frame_id``, else the default."""
    if not param_file or not Path(param_file).is_file():
        return DEFAULT_WORLD_FRAME
    data = yaml.safe_load(Path(param_file).read_text()) or {}
    sections = [(section or {}).get("ros__parameters", {}) if isinstance(section, dict) else {}
                for section in data.values()]
    for key in ("fixed_frame", "world_frame_id"):
        for params in sections:
            if params.get(key):
                return str(params[key])
    return DEFAULT_WORLD_FRAME


def render_rviz_config(template: str, namespace: str, image_topic: str, world_frame: str) -> str:
    """``template`` (an RViz YAML) with its topics and fixed frame set for this launch.

    The node's relative outputs (``human_pose/...``) move into ``namespace``; the camera
    display shows ``image_topic`` (resolved like the node's ``image`` remapping).
    """
    cfg = yaml.safe_load(template)
    manager = cfg["Visualization Manager"]
    manager["Global Options"]["Fixed Frame"] = world_frame
    for display in manager["Displays"]:
        topic = display.get("Topic")
        if not isinstance(topic, dict) or "Value" not in topic:
            continue
        if display["Class"] == "rviz_default_plugins/Image":
            topic["Value"] = resolve_topic(image_topic, namespace)
        else:
            topic["Value"] = resolve_topic(topic["Value"].lstrip("/"), namespace)
    return yaml.safe_dump(cfg, sort_keys=False)
