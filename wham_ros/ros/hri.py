"""REP-155 (ROS4HRI) body outputs: tracked ids, and per body roi, skeleton2d, velocity,
joint_states and a latched URDF.

Topics (absolute, as REP-155 names them)::

    /humans/bodies/tracked              hri_msgs/IdsList          body ids of this frame
    /humans/bodies/<id>/roi             hri_msgs/NormalizedRegionOfInterest2D   person box / image size
    /humans/bodies/<id>/skeleton2d      hri_msgs/Skeleton2D       18 points from COCO-17 (neck = mid-shoulders)
    /humans/bodies/<id>/velocity        geometry_msgs/TwistStamped  world frame: hip-centre velocity (m/s),
                                                                  angular.z = heading rate (rad/s)
    /humans/bodies/<id>/joint_states    sensor_msgs/JointState    ROS4HRI joints ``<name>_<id>``, rad
    /humans/bodies/<id>/urdf            std_msgs/String (latched) ROS4HRI human model sized by the SMPL shape

The TF frame ``body_<id>`` (REP-155 axes) comes with ``/tf`` (:func:`conversions.tf_msg`).
A body's topics exist from its first frame until it has not been seen for
:data:`BODY_TIMEOUT_NS` of message time (or time jumps back); its URDF (and the rest skeleton
its joint angles refer to) is fixed from its first frame. :class:`Rep155Bodies` builds the
messages through a message factory, so the node (rclpy) and the offline runner (rosbags)
publish the same; :class:`Rep155Publisher` is the node's side.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from wham_ros.body import rep155
from wham_ros.body.kinematics import rest_offsets
from wham_ros.ros.conversions import body_id, header, vector3
from wham_ros.types import FrameResult, HumanEstimate

TRACKED_TOPIC = "/humans/bodies/tracked"
IDS_LIST = "hri_msgs/msg/IdsList"
ROI = "hri_msgs/msg/NormalizedRegionOfInterest2D"
SKELETON2D = "hri_msgs/msg/Skeleton2D"
POINT2D = "hri_msgs/msg/NormalizedPointOfInterest2D"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"
JOINT_STATE = "sensor_msgs/msg/JointState"
STRING = "std_msgs/msg/String"
BODY_TIMEOUT_NS = 1_000_000_000  # a body's topics go this long after its last frame


def body_topic(bid: str, name: str) -> str:
    """``/humans/bodies/<id>/<name>``."""
    return f"/humans/bodies/{bid}/{name}"


@dataclass
class BodyMessage:
    """One message to publish (or write to a bag)."""

    topic: str
    msgtype: str
    msg: Any
    latched: bool = False


@dataclass
class _Body:
    offsets: np.ndarray  # (24, 3) rest bone vectors from the body's first frame
    last_seen_ns: int


class Rep155Bodies:
    """The REP-155 messages of each frame and the set of live bodies (no ROS handles)."""

    def __init__(self, timeout_ns: int = BODY_TIMEOUT_NS) -> None:
        self.timeout_ns = timeout_ns
        self.bodies: Dict[str, _Body] = {}

    def update(self, f, result: FrameResult) -> Tuple[List[BodyMessage], List[str], List[str]]:
        """Messages for one frame.

        Returns:
            (messages, started body ids, ended body ids); a started body's URDF is among the
            messages, an ended body's topics should be removed.
        """
        t = int(result.stamp_ns)
        ended = [b for b, body in self.bodies.items()
                 if t < body.last_seen_ns or t - body.last_seen_ns > self.timeout_ns]
        for b in ended:
            del self.bodies[b]
        humans = sorted(result.humans, key=lambda h: h.track_id)
        hdr = header(f, t, result.frame_id)
        msgs = [BodyMessage(TRACKED_TOPIC, IDS_LIST, f.new(
            IDS_LIST, header=hdr, ids=[body_id(h.track_id) for h in humans]))]
        started = []
        for h in humans:
            bid = body_id(h.track_id)
            if bid not in self.bodies:
                offsets = rest_offsets(h.smpl_joints_cam, h.global_orient_cam, h.body_pose)
                self.bodies[bid] = _Body(offsets, t)
                started.append(bid)
                msgs.append(BodyMessage(body_topic(bid, "urdf"), STRING, f.new(
                    STRING, data=rep155.urdf(bid, rep155.link_lengths(offsets))), latched=True))
            body = self.bodies[bid]
            body.last_seen_ns = t
            msgs += self._body_messages(f, result, h, bid, body, hdr)
        return msgs, started, ended

    def _body_messages(self, f, result: FrameResult, h: HumanEstimate, bid: str, body: _Body,
                       hdr) -> List[BodyMessage]:
        out = []
        if result.image_size is not None:
            W, H = result.image_size
            kp = np.asarray(h.keypoints2d, np.float64).reshape(17, 3)
            roi = rep155.normalized_roi(h.bbox_xyxy, W, H)
            out.append(BodyMessage(body_topic(bid, "roi"), ROI, f.new(
                ROI, header=hdr, xmin=float(roi[0]), ymin=float(roi[1]), xmax=float(roi[2]),
                ymax=float(roi[3]), c=float(np.clip(kp[:, 2].mean(), 0.0, 1.0)))))
            pts = rep155.skeleton2d(kp, W, H)
            out.append(BodyMessage(body_topic(bid, "skeleton2d"), SKELETON2D, f.new(
                SKELETON2D, header=hdr, skeleton=[f.new(POINT2D, x=float(x), y=float(y), c=float(c))
                                                  for x, y, c in pts])))
        if result.world_frame_id:  # else no world pose for this image: no velocity
            world = header(f, result.stamp_ns, result.world_frame_id)
            out.append(BodyMessage(body_topic(bid, "velocity"), TWIST_STAMPED, f.new(
                TWIST_STAMPED, header=world, twist=f.new(
                    "geometry_msgs/msg/Twist", linear=vector3(f, h.root_velocity_world),
                    angular=vector3(f, [0.0, 0.0, h.heading_rate])))))
        angles = rep155.joint_angles(h.body_pose, body.offsets)
        out.append(BodyMessage(body_topic(bid, "joint_states"), JOINT_STATE, f.new(
            JOINT_STATE, header=header(f, result.stamp_ns, ""),
            name=[f"{n}_{bid}" for n in rep155.JOINT_NAMES], position=angles.astype(np.float64),
            velocity=np.zeros(0), effort=np.zeros(0))))
        return out


class Rep155Publisher:
    """The node's REP-155 publishers: ``tracked`` always, per-body ones while the body lives.

    The publishers live in the node's publisher table (keys ``hri:<topic>``), so the node's
    cleanup removes them with the others. Use :meth:`create`, which returns None (and logs
    once) when ``hri_msgs`` is not installed.
    """

    def __init__(self, node, reliable, latched) -> None:
        self.node, self._reliable, self._latched = node, reliable, latched
        self.bodies = Rep155Bodies()
        self._get(TRACKED_TOPIC, IDS_LIST, False)

    @classmethod
    def create(cls, node, reliable, latched) -> Optional["Rep155Publisher"]:
        """The publisher, or None with one log line when the hri_msgs messages are missing."""
        try:
            import hri_msgs.msg  # noqa: F401
        except ImportError:
            node.get_logger().info(
                "hri_msgs is not installed: no REP-155 body topics (/humans/bodies/...); "
                "install ros-<distro>-hri-msgs to get them")
            return None
        return cls(node, reliable, latched)

    def _get(self, topic: str, msgtype: str, latched: bool):
        """The topic's publisher, created on first use.

        Per-body publishers are created and destroyed on the publishing thread while the
        executor spins on another; with rclpy's default QoS-event handlers (waitables in the
        executor's wait set) a destroy there races the wait-set build and kills ``spin``
        (``InvalidHandle``). They therefore have no event handlers.
        """
        from rclpy.event_handler import PublisherEventCallbacks  # the node's side only

        key = f"hri:{topic}"
        if key not in self.node._pubs:
            self.node._pubs[key] = self.node.create_publisher(
                self.node._f.cls(msgtype), topic, self._latched if latched else self._reliable,
                event_callbacks=PublisherEventCallbacks(use_default_callbacks=False))
        return self.node._pubs[key]

    def publish(self, result: FrameResult) -> None:
        """Publish one frame's REP-155 messages; create / remove per-body publishers."""
        msgs, _, ended = self.bodies.update(self.node._f, result)
        for bid in ended:
            prefix = "hri:" + body_topic(bid, "")
            for key in [k for k in self.node._pubs if k.startswith(prefix)]:
                self.node.destroy_publisher(self.node._pubs.pop(key))
        for m in msgs:
            self._get(m.topic, m.msgtype, m.latched).publish(m.msg)
