"""Topic names around an image topic (image_transport's conventions; no ROS)."""


def camera_info_topic_of(image_topic: str) -> str:
    """The CameraInfo topic beside an image topic:
    ``/camera/aligned_depth_to_color/image_raw`` -> ``/camera/aligned_depth_to_color/camera_info``
    (a ``/compressed`` transport suffix is dropped first)."""
    base = image_topic.rstrip("/")
    if base.endswith("/compressed"):
        base = base[:-len("/compressed")]
    head = base.rpartition("/")[0]
    return f"{head}/camera_info" if head or base.startswith("/") else "camera_info"
