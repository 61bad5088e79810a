"""Camera poses from tf2 at image stamps, for the live node and the offline runner.

Both use the tf2 library a robot runs: the node a ``tf2_ros.Buffer`` filled by a
``TransformListener``, the runner a ``tf2_py.BufferCore`` filled from the bag's ``/tf`` and
``/tf_static`` (:class:`BagTf`). :func:`lookup_pose` turns a lookup into a (4, 4) numpy pose
for the ROS-free pipeline, or a cause when there is none:

* ``tf_missing``: a frame is unknown or the frames are not connected;
* ``tf_too_old``: the stamp is older than the transforms kept (``cache``);
* ``tf_not_yet``: no transform reached the stamp within the wait (TF lags the images).

tf2 is imported inside the functions: ``wham-ros run`` without a fixed frame needs no ROS.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Tuple

import numpy as np
import yaml

from wham_ros.geometry.frames import make_transform
from wham_ros.geometry.so3 import quat_xyzw_to_matrix

NS = 1_000_000_000
BAG_TF_CACHE_S = 30.0  # transforms the runner keeps (tf2's default is 10 s)


class TfUnavailable(RuntimeError):
    """tf2 (tf2_py / tf2_ros) cannot be imported; the message says how to get it."""


def transform_matrix(transform) -> np.ndarray:
    """(4, 4) of a ``geometry_msgs/Transform`` (rclpy or rosbags message)."""
    q, t = transform.rotation, transform.translation
    return make_transform(quat_xyzw_to_matrix(np.array([q.x, q.y, q.z, q.w], dtype=np.float64)),
                          np.array([t.x, t.y, t.z], dtype=np.float64))


def ros_time(stamp_ns: int):
    """``rclpy.time.Time`` of integer nanoseconds (what tf2 takes)."""
    from rclpy.time import Time

    return Time(nanoseconds=int(stamp_ns))


def lookup_pose(buffer, fixed_frame: str, frame: str, stamp_ns: int,
                timeout_s: float = 0.0) -> Tuple[Optional[np.ndarray], str, str]:
    """``T_fixed_frame`` (4, 4) at ``stamp_ns`` from a tf2 buffer.

    Args:
        buffer: ``tf2_ros.Buffer`` (waits up to ``timeout_s``) or ``tf2_py.BufferCore``.
        fixed_frame: target frame (``odom``).
        frame: source frame (the camera optical frame).
        stamp_ns: the image stamp.
        timeout_s: longest wait for the transform (``tf2_ros.Buffer`` only).

    Returns:
        (pose or None, cause, tf2's message): cause is '' with a pose, else one of the module
        docstring's causes.
    """
    import tf2_py

    try:
        if hasattr(buffer, "lookup_transform_core") and not hasattr(buffer, "lookup_transform"):
            tf = buffer.lookup_transform_core(fixed_frame, frame, ros_time(stamp_ns))
        else:
            from rclpy.duration import Duration

            tf = buffer.lookup_transform(fixed_frame, frame, ros_time(stamp_ns),
                                         Duration(nanoseconds=int(timeout_s * NS)))
    except tf2_py.ExtrapolationException as exc:
        text = str(exc)
        return None, "tf_too_old" if "into the past" in text else "tf_not_yet", text
    except tf2_py.TransformException as exc:  # lookup, connectivity, invalid argument, timeout
        return None, "tf_not_yet" if isinstance(exc, tf2_py.TimeoutException) else "tf_missing", str(exc)
    return transform_matrix(tf.transform), "", ""


def frame_parents(buffer) -> dict:
    """frame -> its parent in a tf2 buffer (``all_frames_as_yaml``)."""
    text = buffer.all_frames_as_yaml()
    data = yaml.safe_load(text) if text.strip() else {}
    return {str(k): str(v.get("parent", "")) for k, v in (data or {}).items() if isinstance(v, dict)}


def known_frames(buffer) -> List[str]:
    """Every frame a tf2 buffer knows, sorted."""
    parents = frame_parents(buffer)
    return sorted(set(parents) | {p for p in parents.values() if p})


def _rclpy_transform(tr, cls):
    """rclpy ``TransformStamped`` copy of a rosbags one (tf2_py checks the message types)."""
    msg = cls()
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(tr.header.stamp.sec), int(tr.header.stamp.nanosec)
    msg.header.frame_id, msg.child_frame_id = tr.header.frame_id, tr.child_frame_id
    t, q = tr.transform.translation, tr.transform.rotation
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = \
        float(t.x), float(t.y), float(t.z)
    msg.transform.rotation.x, msg.transform.rotation.y, msg.transform.rotation.z, \
        msg.transform.rotation.w = float(q.x), float(q.y), float(q.z), float(q.w)
    return msg


class BagTf:
    """A ``tf2_py.BufferCore`` fed with a bag's ``/tf_static`` at once and its ``/tf`` as the
    images come (up to a look-ahead past each image stamp, as a node waits for TF).

    Args:
        static: iterable of ``tf2_msgs/TFMessage`` (rosbags) from ``/tf_static``.
        dynamic: iterator of ``(log time ns, TFMessage)`` from ``/tf`` in log-time order.
        lookahead_ns: ``/tf`` read past an image stamp before its lookup.
        cache_s: history tf2 keeps.

    Raises:
        TfUnavailable: tf2_py / rclpy / geometry_msgs cannot be imported.
    """

    def __init__(self, static: Iterable, dynamic: Iterable, lookahead_ns: int,
                 cache_s: float = BAG_TF_CACHE_S) -> None:
        try:
            import tf2_py
            from geometry_msgs.msg import TransformStamped
            from rclpy.duration import Duration
        except ImportError as exc:
            raise TfUnavailable(f"fixed_frame needs tf2 (tf2_py with rclpy and geometry_msgs): "
                                f"{exc}; source a ROS 2 installation or run tools/setup_env.sh") from exc
        self._cls = TransformStamped
        self.core = tf2_py.BufferCore(Duration(seconds=cache_s))
        for msg in static:
            for tr in msg.transforms:
                self.core.set_transform_static(_rclpy_transform(tr, self._cls), "bag /tf_static")
        self._dynamic = iter(dynamic)
        self._pending = None
        self.lookahead_ns = int(lookahead_ns)
        self.read_until_ns = -1

    def advance(self, until_ns: int) -> None:
        """Feed ``/tf`` messages logged up to ``until_ns``."""
        while True:
            if self._pending is None:
                self._pending = next(self._dynamic, None)
                if self._pending is None:
                    self.read_until_ns = max(self.read_until_ns, until_ns)
                    return
            t, msg = self._pending
            if t > until_ns:
                self.read_until_ns = max(self.read_until_ns, until_ns)
                return
            for tr in msg.transforms:
                self.core.set_transform(_rclpy_transform(tr, self._cls), "bag /tf")
            self._pending = None

    def pose(self, fixed_frame: str, frame: str, stamp_ns: int):
        """:func:`lookup_pose` once ``/tf`` has been read to ``stamp_ns`` + the look-ahead."""
        self.advance(stamp_ns + self.lookahead_ns)
        return lookup_pose(self.core, fixed_frame, frame, stamp_ns)


def static_rotation(static: Iterable, target: str, source: str) -> Optional[np.ndarray]:
    """(3, 3) rotation ``target <- source`` through a bag's ``/tf_static`` (rosbags
    ``TFMessage`` s) with tf2, or None when tf2 does not connect the frames.

    Raises:
        TfUnavailable: tf2 cannot be imported.
    """
    tf = BagTf(static, iter(()), lookahead_ns=0)
    T, _, _ = lookup_pose(tf.core, target, source, 0)
    return None if T is None else T[:3, :3]


class NodeTf:
    """A node's ``tf2_ros.Buffer`` filled by a ``TransformListener``.

    The listener runs on its own small node (``<node>_tf_listener``) spun by its own thread,
    so lookups can wait from the node's worker thread and at activate, whatever executor spins
    the node itself.

    Args:
        node: the node (its name, namespace and context are used).
        cache_s: history tf2 keeps, s.
    """

    def __init__(self, node, cache_s: float = 10.0) -> None:
        from rclpy.duration import Duration
        from rclpy.node import Node
        from tf2_ros import Buffer, TransformListener

        self._node = Node(f"{node.get_name()}_tf_listener", namespace=node.get_namespace(),
                          context=node.context, start_parameter_services=False)
        self.buffer = Buffer(Duration(seconds=cache_s))
        self._listener = TransformListener(self.buffer, self._node, spin_thread=True)

    def wait_for_frame(self, frame: str, timeout_s: float) -> bool:
        """True once ``frame`` is in TF; False after ``timeout_s`` (polled every 50 ms)."""
        import time

        end = time.monotonic() + timeout_s
        while frame not in self.frames():
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)
        return True

    def pose(self, fixed_frame: str, frame: str, stamp_ns: int, wait_s: float):
        """:func:`lookup_pose` with a wait of up to ``wait_s``."""
        return lookup_pose(self.buffer, fixed_frame, frame, stamp_ns, wait_s)

    def rotation(self, target: str, source: str) -> Optional[np.ndarray]:
        """(3, 3) latest rotation ``target <- source`` (a mount, e.g. camera <- IMU), or None."""
        T, _, _ = lookup_pose(self.buffer, target, source, 0)
        return None if T is None else T[:3, :3]

    def parent(self, frame: str) -> str:
        """The parent of ``frame`` in TF ('' if none)."""
        return frame_parents(self.buffer).get(frame, "")

    def frames(self) -> List[str]:
        """Every frame TF has, sorted."""
        return known_frames(self.buffer)

    def close(self) -> None:
        """Stop the listener thread and destroy its node."""
        self._listener.executor.shutdown()
        self._listener.dedicated_listener_thread.join(timeout=5.0)
        self._listener.unregister()
        self._node.destroy_node()
