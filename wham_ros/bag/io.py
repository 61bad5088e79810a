"""Read camera inputs from a rosbag2 and write output bags, with ``rosbags`` (no ROS).

Input bags may be MCAP or sqlite3 (any rosbag2 directory, or a single ``.mcap`` file);
output bags are MCAP rosbag2 directories.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

from rosbags.highlevel import AnyReader
from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness,
                                QosReliability, QosTime)
from rosbags.rosbag2 import StoragePlugin, Writer

from wham_ros.depth.topics import camera_info_topic_of

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
IMU = "sensor_msgs/msg/Imu"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"
TF_STATIC_TOPIC = "/tf_static"
TF_TOPIC = "/tf"
LOG = logging.getLogger(__name__)


class BagError(RuntimeError):
    """A bag cannot be read or lacks what was asked for (the message says what and why)."""


@dataclass
class BagRecord:
    """One input message: ``kind`` is 'image', 'compressed', 'camera_info', 'imu' or 'tf'
    (``/tf`` and ``/tf_static``, with ``include_tf``)."""

    kind: str  # or 'depth' / 'depth_camera_info' (the aligned depth stream)
    topic: str
    msgtype: str
    log_time_ns: int
    raw: bytes
    msg: object  # the deserialised rosbags message (None for 'tf': copied, not read)


def _pick(connections, msgtypes, wanted: Optional[str], what: str) -> Optional[str]:
    """The topic asked for (checked), else the first topic of the type, preferring topics
    that have messages (a recorder may leave empty connections)."""
    topics = {c.topic: c.msgtype for c in connections if c.msgtype in msgtypes}
    if wanted:
        if wanted not in topics:
            raise BagError(f"{what} topic '{wanted}' not in the bag; its {what} topics are "
                           f"{sorted(topics) or 'none'}")
        return wanted
    filled = sorted({c.topic for c in connections if c.msgtype in msgtypes and c.msgcount})
    return (filled or sorted(topics) or [None])[0]


def image_kind(msgtype: str, msg) -> str:
    """'colour', 'mono', 'depth' or 'other' for a first Image / CompressedImage message."""
    from wham_ros.image_conversion import DEPTH_ENCODINGS, ENCODINGS, YUV422

    if msgtype == COMPRESSED:
        fmt = msg.format.lower()
        return "depth" if "compresseddepth" in fmt or fmt.split(";")[0].strip().upper() in {
            e.upper() for e in DEPTH_ENCODINGS} else "colour"
    if msg.encoding in DEPTH_ENCODINGS:
        return "depth"
    if msg.encoding in YUV422:
        return "colour"
    if msg.encoding in ENCODINGS:
        return "mono" if ENCODINGS[msg.encoding][2] == "mono" else "colour"
    return "other"


class InputBag:
    """Camera, CameraInfo, IMU (and aligned depth) messages of a rosbag2, in log-time order.

    Without ``image_topic`` the colour stream is chosen by encoding: the first topic whose
    images are colour, else grey (mono), never depth (in a RealSense bag
    ``…/aligned_depth_to_color/image_raw`` sorts before ``…/color/image_raw``). The CameraInfo
    beside the chosen image topic is preferred.

    Args:
        path: rosbag2 directory (MCAP or sqlite3) or a single .mcap file.
        image_topic, camera_info_topic, imu_topic: topics to use; None picks as above (images:
            Image or CompressedImage; others: the first topic of the type).
        include_tf: also iterate over ``/tf`` and ``/tf_static`` (kind 'tf').
        depth_topic: an aligned depth Image topic, 'auto' (the depth topic in the colour
            image's frame, i.e. aligned to it) or None / '' (no depth).

    Attributes:
        image_choice: why the image topic was chosen (a line for the log).
    """

    def __init__(self, path, image_topic: Optional[str] = None,
                 camera_info_topic: Optional[str] = None, imu_topic: Optional[str] = None,
                 include_tf: bool = False, depth_topic: Optional[str] = None) -> None:
        from wham_ros.bag.typestore import make_typestore

        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"input bag '{self.path}' does not exist")
        self._all_conns = []
        try:
            self.reader = AnyReader([self.path], default_typestore=make_typestore())
            self.reader.open()
        except Exception as exc:  # rosbags raises several reader error types
            raise BagError(f"cannot open '{self.path}' as a rosbag2 (MCAP or sqlite3): {exc}") from exc
        conns = self._all_conns = self.reader.connections
        self.image_choice = ""
        self.image_topic = _pick(conns, (IMAGE, COMPRESSED), image_topic, "image")
        if self.image_topic is None:
            raise BagError(f"no sensor_msgs/Image or CompressedImage topic in '{self.path}'; "
                           f"topics: {sorted({c.topic for c in conns})}")
        # The first message of each image topic: read only when a choice needs it (the
        # colour topic, the depth topic); their frame ids serve first_frame_id
        kinds = self._image_kinds(conns) if not image_topic or depth_topic else {}
        self._frame_ids = {t: frame for t, (_, _, frame) in kinds.items()}
        if not image_topic and kinds:
            self.image_topic = self._colour_topic(kinds)
        if not camera_info_topic:
            sibling = camera_info_topic_of(self.image_topic)
            if any(c.topic == sibling and c.msgtype == CAMERA_INFO and c.msgcount for c in conns):
                camera_info_topic = sibling
        self.camera_info_topic = _pick(conns, (CAMERA_INFO,), camera_info_topic, "camera_info")
        self.imu_topic = _pick(conns, (IMU,), imu_topic, "imu")
        self.depth_topic = self._depth_topic(conns, kinds, depth_topic)
        self.depth_camera_info_topic = None
        if self.depth_topic:
            sibling = camera_info_topic_of(self.depth_topic)
            if sibling != self.camera_info_topic and any(
                    c.topic == sibling and c.msgtype == CAMERA_INFO for c in conns):
                self.depth_camera_info_topic = sibling
        self.topic_types: Dict[str, str] = {c.topic: c.msgtype for c in conns}
        wanted = (self.image_topic, self.camera_info_topic, self.imu_topic, self.depth_topic,
                  self.depth_camera_info_topic) + ((TF_TOPIC, TF_STATIC_TOPIC) if include_tf else ())
        self._conns = [c for c in conns if c.topic in wanted
                       and (c.topic not in (TF_TOPIC, TF_STATIC_TOPIC) or c.msgtype == TF_MESSAGE)]
        self.num_images = sum(c.msgcount for c in conns if c.topic == self.image_topic)
        self.has_camera_info = any(c.msgcount for c in conns if c.topic == self.camera_info_topic)

    def _first(self, conns):
        """(msgtype, first message) of ``conns``, or None when they hold none."""
        for conn, _, raw in self.reader.messages(connections=conns):
            return conn.msgtype, self.reader.deserialize(raw, conn.msgtype)
        return None

    def _image_kinds(self, conns) -> Dict[str, Tuple[str, str, str]]:
        """Image topic -> (kind (:func:`image_kind`), encoding, header frame id) of its first
        message."""
        out = {}
        for topic in sorted({c.topic for c in conns if c.msgtype in (IMAGE, COMPRESSED)}):
            first = self._first([c for c in conns if c.topic == topic])
            if first is not None:
                msgtype, msg = first
                out[topic] = (image_kind(msgtype, msg),
                              msg.format if msgtype == COMPRESSED else msg.encoding,
                              msg.header.frame_id)
        return out

    def _colour_topic(self, kinds: Dict[str, Tuple[str, str, str]]) -> str:
        """The first colour image topic, else the first grey one (never depth)."""
        for wanted in ("colour", "mono"):
            chosen = [t for t, (k, _, _) in kinds.items() if k == wanted]
            if chosen:
                others = [f"{t} ({e}, {k})" for t, (k, e, _) in kinds.items() if t != chosen[0]]
                self.image_choice = (f"image topic {chosen[0]} ({kinds[chosen[0]][1]}, {wanted})"
                                     + (f"; not {', '.join(others)}" if others else ""))
                return chosen[0]
        raise BagError(f"no colour or grey image topic in '{self.path}' (depth images are not "
                       "camera images): image topics " + (", ".join(
                           f"{t} ({e}, {k})" for t, (k, e, _) in kinds.items()) or "without messages"))

    def _depth_topic(self, conns, kinds, wanted: Optional[str]) -> Optional[str]:
        """The aligned depth topic asked for (checked), or for 'auto' the depth topic in the
        colour image's frame; None without depth."""
        if not wanted:
            return None
        if wanted != "auto":
            if not any(c.topic == wanted and c.msgtype == IMAGE for c in conns):
                raise BagError(f"depth topic '{wanted}' is not a sensor_msgs/Image topic of the "
                               f"bag; its depth topics are "
                               f"{sorted(t for t, (k, _, _) in kinds.items() if k == 'depth') or 'none'}")
            return wanted
        frame = self._frame_ids.get(self.image_topic)
        depth = [t for t, (k, _, _) in kinds.items() if k == "depth"]
        aligned = [t for t in depth if self._frame_ids[t] == frame]
        if not aligned:
            LOG.warning("depth_topic 'auto': no depth image topic in the colour image's frame "
                        "'%s' (depth topics: %s); running without depth", frame, depth or "none")
            return None
        LOG.info("depth topic %s (aligned to %s, frame '%s')", aligned[0], self.image_topic, frame)
        return aligned[0]

    def msgdef(self, topic: str) -> tuple:
        """(message definition text, rihs01 hash or '') of ``topic`` as stored in the bag."""
        conn = next(c for c in self._conns if c.topic == topic)
        return conn.msgdef.data, getattr(conn.msgdef, "rihs01", "") or ""

    def first_frame_id(self, topic: Optional[str]) -> Optional[str]:
        """``header.frame_id`` of the first message on ``topic``, one of the chosen topics
        (None: no such topic/message)."""
        conns = [c for c in self._conns if c.topic == topic]
        if not conns:  # (an empty list would mean every connection to the reader)
            return None
        if topic in self._frame_ids:  # an image topic read when the topics were chosen
            return self._frame_ids[topic]
        first = self._first(conns)
        return None if first is None else first[1].header.frame_id

    def tf_messages(self, topic: str) -> Iterator[Tuple[int, object]]:
        """``(log time ns, tf2_msgs/TFMessage)`` on ``topic`` (``/tf`` or ``/tf_static``) in log order."""
        conns = [c for c in self._all_conns if c.topic == topic and c.msgtype == TF_MESSAGE]
        if not conns:  # (an empty list would mean every connection to the reader)
            return
        for conn, log_time, raw in self.reader.messages(connections=conns):
            yield log_time, self.reader.deserialize(raw, conn.msgtype)

    def tf_children(self) -> Dict[str, str]:
        """child frame -> parent frame of every transform on ``/tf`` and ``/tf_static``."""
        out: Dict[str, str] = {}
        for topic in (TF_TOPIC, TF_STATIC_TOPIC):
            for _, msg in self.tf_messages(topic):
                out.update({tf.child_frame_id: tf.header.frame_id for tf in msg.transforms})
        return out

    def __iter__(self) -> Iterator[BagRecord]:
        for conn, log_time, raw in self.reader.messages(connections=self._conns):
            if conn.topic == self.image_topic:
                kind = "compressed" if conn.msgtype == COMPRESSED else "image"
            elif conn.topic == self.camera_info_topic:
                kind = "camera_info"
            elif conn.topic == self.depth_topic:
                kind = "depth"
            elif conn.topic == self.depth_camera_info_topic:
                kind = "depth_camera_info"
            elif conn.topic == self.imu_topic:
                kind = "imu"
            else:
                kind = "tf"
            # TF records are only copied to the output (the runner reads TF through
            # tf_messages), so they are not deserialised here
            msg = None if kind == "tf" else self.reader.deserialize(raw, conn.msgtype)
            yield BagRecord(kind, conn.topic, conn.msgtype, log_time, bytes(raw), msg)

    def close(self) -> None:
        self.reader.close()


def qos(reliable: bool = True, latched: bool = False, depth: int = 10) -> Qos:
    """A rosbags ``Qos`` profile to record as a connection's offered QoS."""
    zero = QosTime(sec=0, nsec=0)
    return Qos(history=QosHistory.KEEP_LAST, depth=depth,
               reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               durability=QosDurability.TRANSIENT_LOCAL if latched else QosDurability.VOLATILE,
               deadline=zero, lifespan=zero, liveliness=QosLiveliness.AUTOMATIC,
               liveliness_lease_duration=zero, avoid_ros_namespace_conventions=False)


class OutputBag:
    """MCAP rosbag2 writer: topics are created on first use, messages serialised as CDR.

    Args:
        path: output directory (must not exist).
        typestore: typestore with every message type written.
    """

    def __init__(self, path, typestore) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"output '{self.path}' already exists; choose a new directory")
        self.typestore = typestore
        self.writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self._conns: Dict[str, object] = {}
        self.counts: Dict[str, int] = {}

    def _conn(self, topic: str, msgtype: str, latched: bool, msgdef=None):
        if topic not in self._conns:
            if msgdef is None or msgtype in self.typestore.types or not msgdef[1]:
                kwargs = {"typestore": self.typestore}
            else:  # a type only the input bag knows: keep its stored definition
                kwargs = {"msgdef": msgdef[0], "rihs01": msgdef[1]}
            self._conns[topic] = self.writer.add_connection(
                topic, msgtype, offered_qos_profiles=[qos(latched=latched)], **kwargs)
        return self._conns[topic]

    def write(self, topic: str, msgtype: str, msg, time_ns: int, latched: bool = False) -> None:
        """Serialise ``msg`` (rosbags dataclass) and write it at ``time_ns``."""
        conn = self._conn(topic, msgtype, latched)
        self.writer.write(conn, int(time_ns), self.typestore.serialize_cdr(msg, msgtype))
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def write_raw(self, topic: str, msgtype: str, raw: bytes, time_ns: int, msgdef=None,
                  latched: bool = False) -> None:
        """Copy an already serialised message (e.g. an input image) unchanged."""
        conn = self._conn(topic, msgtype, latched, msgdef)
        self.writer.write(conn, int(time_ns), raw)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def close(self) -> None:
        self.writer.close()
