"""Runtime statistics of the node and their ``diagnostic_msgs/DiagnosticArray`` form.

:class:`NodeStats` is plain Python (thread-safe counters and rate windows), so the node's
callbacks and worker thread share it; :func:`diagnostics_msg` turns a snapshot into a
message through a factory (:mod:`wham_ros.ros.factory`).
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Deque, Dict, Optional, Tuple

import numpy as np

OK, WARN, ERROR, STALE = 0, 1, 2, 3
RATE_WINDOW_S = 5.0
WHAM_RATE_HZ = 30.0  # WHAM's training frame rate
SLOW_RATE_HZ = WHAM_RATE_HZ / 1.1  # below this WHAM's steps are too long (as frame_rate.py)
CAMERA_RATE_MIN_SPAN_S = 1.0  # image stamps needed before the camera rate is judged
# Frames over which timing medians and 95th percentiles are reported.
TIMING_WINDOW_FRAMES = 100
# Timings reported as <name>_ms (median) and <name>_p95_ms over the window:
#   latency: image stamp -> outputs published (node clock), the end-to-end delay;
#   input_wait: input received -> worker takes it (queueing before processing);
#   processing: the pipeline's work on the frame;
#   publish_wait: processed -> publisher thread takes it (queueing before publishing);
#   publish: building, serialising and publishing the frame's messages.
TIMINGS = ("latency", "input_wait", "processing", "publish_wait", "publish")
# Latency (image stamp -> publish) above which the status turns WARN.
LATENCY_WARN_MS = 500.0
# Mean gyro vs TF camera rotation disagreement above which the status turns WARN, deg/s.
GYRO_TF_WARN_DEG_S = 5.0
# With a depth_topic: a depth image older than this (since received) is stale, and the
# status turns WARN (people are then placed monocular).
DEPTH_STALE_S = 1.0


class RateMeter:
    """Events per second over the last ``window_s`` seconds of wall time."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._times: Deque[float] = collections.deque()

    def tick(self, now: Optional[float] = None) -> None:
        self._times.append(time.monotonic() if now is None else now)

    def rate_hz(self, now: Optional[float] = None) -> float:
        now = time.monotonic() if now is None else now
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-9)


class StampRateMeter:
    """Message rate from header stamps: what the sensor produces, whatever the node drops.

    Messages per second of *stamp* time over the last ``window_s`` seconds of stamps; 0 when
    fewer than two stamps, or when nothing arrived for ``window_s`` of wall time (a stopped
    stream). A stamp before the previous one (bag loop) starts the window again.
    """

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_ns = int(window_s * 1e9)
        self._stamps: Deque[int] = collections.deque()
        self._last_wall = 0.0

    def tick(self, stamp_ns: int, now: Optional[float] = None) -> None:
        self._last_wall = time.monotonic() if now is None else now
        if self._stamps and stamp_ns < self._stamps[-1]:
            self._stamps.clear()
        self._stamps.append(int(stamp_ns))
        while self._stamps[0] < stamp_ns - self.window_ns:
            self._stamps.popleft()

    @property
    def last_stamp_ns(self) -> Optional[int]:
        """The newest stamp (None before the first message)."""
        return self._stamps[-1] if self._stamps else None

    def span_s(self) -> float:
        """Stamp time covered by the window, s."""
        return (self._stamps[-1] - self._stamps[0]) * 1e-9 if self._stamps else 0.0

    def rate_hz(self, now: Optional[float] = None) -> float:
        now = time.monotonic() if now is None else now
        if len(self._stamps) < 2 or now - self._last_wall > self.window_ns * 1e-9:
            return 0.0
        return (len(self._stamps) - 1) / max(self.span_s(), 1e-9)


class TimingWindow:
    """The last ``size`` values of a duration (ms): median and 95th percentile."""

    def __init__(self, size: int = TIMING_WINDOW_FRAMES) -> None:
        self._values: Deque[float] = collections.deque(maxlen=size)

    def add(self, ms: float) -> None:
        self._values.append(float(ms))

    def median_p95(self):
        """(median, p95) in ms, or (None, None) before the first value."""
        if not self._values:
            return None, None
        median, p95 = np.percentile(np.fromiter(self._values, float), (50.0, 95.0))
        return float(median), float(p95)


class NodeStats:
    """Counters the node reports on /diagnostics."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # Input rates from message stamps (the sensors' rates); processed / output: wall time.
        self.stamp_rates = {name: StampRateMeter() for name in ("image", "camera_info", "imu", "depth")}
        self.rates = {name: RateMeter() for name in ("processed", "output")}
        self.received_frames = 0
        self.processed_frames = 0
        self.dropped_frames = 0  # replaced by a newer frame before processing (stale)
        self.skipped_frames = 0  # not stepped by WHAM's 30 Hz frame-rate policy (no output)
        self.received_imu = 0
        self.invalid_inputs: Dict[str, int] = collections.Counter()
        self.pipeline_errors = 0
        self.resets = 0
        self.last_reset_reason = ""
        self.active_tracks = 0
        self.publish_dropped_frames = 0  # processed, but replaced in the publish queue
        self.timings = {name: TimingWindow() for name in TIMINGS}
        self.providers: Dict[str, str] = {}
        self.state = "unconfigured"
        # Depth (composed node with a depth_topic): receipt time of the newest depth image
        # (monotonic s), and per processed frame (people, of them placed from depth).
        self.depth_topic = ""
        self.depth_received_at: Optional[float] = None
        self.depth_people: Deque[Tuple[int, int]] = collections.deque(maxlen=TIMING_WINDOW_FRAMES)
        self.frames_without_depth = 0

    def count_depth(self, paired: bool, people: int, from_depth: int) -> None:
        """Record one processed frame: did it come with a depth image, how many of its
        ``people`` were placed from depth."""
        with self.lock:
            self.frames_without_depth += not paired
            self.depth_people.append((people, from_depth))

    def count_invalid(self, cause: str) -> None:
        with self.lock:
            self.invalid_inputs[cause] += 1

    def add_timing(self, name: str, ms: float) -> None:
        """Record one frame's ``name`` duration (one of :data:`TIMINGS`), ms."""
        with self.lock:
            self.timings[name].add(ms)

    def snapshot(self) -> dict:
        with self.lock:
            timings = {}
            for name, window in self.timings.items():
                timings[f"{name}_ms"], timings[f"{name}_p95_ms"] = window.median_p95()
            return {
                "state": self.state,
                "image_rate_hz": self.stamp_rates["image"].rate_hz(),
                "image_rate_span_s": self.stamp_rates["image"].span_s(),
                "camera_info_rate_hz": self.stamp_rates["camera_info"].rate_hz(),
                "imu_rate_hz": self.stamp_rates["imu"].rate_hz(),
                "processed_rate_hz": self.rates["processed"].rate_hz(),
                "output_rate_hz": self.rates["output"].rate_hz(),
                "received_frames": self.received_frames,
                "processed_frames": self.processed_frames,
                "dropped_frames": self.dropped_frames,
                "skipped_frames": self.skipped_frames,
                "received_imu": self.received_imu,
                "invalid_inputs": dict(self.invalid_inputs),
                "pipeline_errors": self.pipeline_errors,
                "resets": self.resets,
                "last_reset_reason": self.last_reset_reason,
                "active_tracks": self.active_tracks,
                "publish_dropped_frames": self.publish_dropped_frames,
                "providers": dict(self.providers),
                **timings,
                **self._depth_snapshot(),
            }

    def _depth_snapshot(self) -> dict:
        """Depth keys of the snapshot (lock held): rate, age, share of people from depth."""
        people = sum(p for p, _ in self.depth_people)
        return {
            "depth_topic": self.depth_topic,
            "depth_rate_hz": self.stamp_rates["depth"].rate_hz(),
            "depth_age_s": None if self.depth_received_at is None
            else time.monotonic() - self.depth_received_at,
            "depth_share": sum(d for _, d in self.depth_people) / people if people else None,
            "frames_without_depth": self.frames_without_depth,
        }


def camera_rate_warning(snap: dict) -> Optional[Tuple[str, str]]:
    """(kind, text) when WHAM gets fewer than ~30 frames/s, else None.

    Kinds: ``slow_camera`` (the camera's own rate, from image stamps, is below
    :data:`SLOW_RATE_HZ`) and ``slow_processing`` (the camera is fast enough but the node
    processes fewer frames and drops the rest). Judged once the image stamps of the window
    span :data:`CAMERA_RATE_MIN_SPAN_S`.
    """
    camera_hz, processed_hz = snap["image_rate_hz"], snap["processed_rate_hz"]
    if snap["image_rate_span_s"] < CAMERA_RATE_MIN_SPAN_S or camera_hz <= 0:
        return None
    if camera_hz < SLOW_RATE_HZ:
        return "slow_camera", (
            f"Camera runs at {camera_hz:.1f} Hz (from image stamps), slower than WHAM's "
            f"{WHAM_RATE_HZ:.0f} Hz: WHAM steps on every frame and sees larger per-step motion "
            "than in training")
    if 0 < processed_hz < SLOW_RATE_HZ and snap["dropped_frames"] > 0:
        return "slow_processing", (
            f"Camera runs at {camera_hz:.1f} Hz (from image stamps) but only {processed_hz:.1f} "
            f"frames/s are processed ({snap['dropped_frames']} dropped while busy): WHAM steps "
            f"below its {WHAM_RATE_HZ:.0f} Hz and sees larger per-step motion than in training; "
            "use a GPU or a lighter front-end")
    return None


def grounding_problem(snap: dict) -> Optional[str]:
    """Why the world frame may have drifted (or may drift, or gyro and TF disagree), or None.

    ``snap["grounding"]`` is the pipeline's ``grounding_status()`` (None without one) and
    ``snap["drift_warn_deg"]`` the threshold on its ``drift_since_rest_deg``. While the gyro bias
    is unknown the message gives the rate the orientation may drift at (deg/min) and since
    when, never an angle (a 1-sigma angle past 180 deg says nothing); otherwise it names the
    sources of the bias. An image bias source that stands down says why.
    """
    g, limit = snap.get("grounding"), snap.get("drift_warn_deg")
    disagreement = (g or {}).get("gyro_tf_disagreement_deg_s")
    if disagreement is not None and disagreement > GYRO_TF_WARN_DEG_S:
        return (f"gyro and TF disagree on the camera rotation by {disagreement:.1f} deg/s: check "
                "the IMU mount (TF or imu_to_camera_quat_xyzw) and the robot's odometry")
    if g and g.get("fixed_frame"):
        return None  # the camera orientation comes from TF: the gyro's drift does not place anyone
    if not g or limit is None or g.get("camera_motion") != "imu" or not g.get("imu_samples"):
        return None
    rate = g.get("drift_rate_deg_per_min")
    image = (f"; image bias source stands down: {g['image_bias_problem']}"
             if g.get("image_bias_state") == "standing_down" else "")
    if g["gyro_bias_source"] == "unknown":
        since = g.get("gyro_bias_unknown_for_s", g["time_since_rest_s"])
        return (f"gyro bias unknown for {since:.0f} s (no rest or rotation observation yet): the camera "
                f"orientation may drift up to {rate:.0f} deg/min (1 sigma){image}")
    if g["drift_since_rest_deg"] > limit:
        angle = g["drift_since_rest_deg"]
        angle_text = f"{angle:.1f} deg" if angle < 180.0 else "more than 180 deg"
        rate_text = f", now {rate:.2f} deg/min" if rate is not None else ""
        return (f"camera orientation may have drifted {angle_text} (1 sigma, above drift_warn_deg={limit:g}): "
                f"{g['time_since_rest_s']:.0f} s since the last rest; gyro bias from "
                f"{g.get('gyro_bias_from', g['gyro_bias_source'])}{rate_text}{image}")
    if image:
        return image[2:]
    return None


def depth_problem(snap: dict) -> Optional[str]:
    """Why people are placed monocular although a depth_topic is set, or None."""
    topic = snap.get("depth_topic")
    if not topic:
        return None
    age = snap["depth_age_s"]
    if age is None:
        return f"no depth image received on {topic}: people are placed monocular"
    if age > DEPTH_STALE_S:
        return (f"depth image stale on {topic} (last received {age:.1f} s ago): people are "
                "placed monocular")
    return None


def level_and_message(snap: dict) -> tuple:
    """(level, summary) of a :meth:`NodeStats.snapshot` (plus ``grounding`` / ``drift_warn_deg``)."""
    if snap["state"] == "finalized":
        return STALE, "node is shut down"
    if snap["state"] != "active":
        return WARN, f"node is {snap['state']}"
    if snap["pipeline_errors"] and not snap["processed_frames"]:
        return ERROR, "pipeline fails on every frame"
    if snap["received_frames"] == 0:
        return WARN, "no images received"
    if snap["latency_ms"] is not None and snap["latency_ms"] > LATENCY_WARN_MS:
        return WARN, (f"median latency {snap['latency_ms']:.0f} ms above {LATENCY_WARN_MS:.0f} ms "
                      f"(waiting for the worker {snap['input_wait_ms'] or 0:.0f} ms, processing "
                      f"{snap['processing_ms'] or 0:.0f} ms, waiting to publish "
                      f"{snap['publish_wait_ms'] or 0:.0f} ms, publishing {snap['publish_ms'] or 0:.0f} ms)")
    drift = grounding_problem(snap)
    if drift:
        return WARN, drift
    depth = depth_problem(snap)
    if depth:
        return WARN, depth
    if snap["invalid_inputs"]:
        return WARN, "invalid inputs received: " + ", ".join(sorted(snap["invalid_inputs"]))
    return OK, "running"


def diagnostics_msg(f, snap: dict, stamp_ns: int, node_name: str, hardware_id: str = "wham_ros"):
    """``diagnostic_msgs/DiagnosticArray`` with one status named ``<node>: pipeline``."""
    from wham_ros.ros.conversions import header

    def kv(key, value):
        if isinstance(value, float):
            value = f"{value:.3f}"
        return f.new("diagnostic_msgs/msg/KeyValue", key=key, value="" if value is None else str(value))

    values = [kv(k, snap[k]) for k in ("image_rate_hz", "camera_info_rate_hz", "imu_rate_hz",
                                       "processed_rate_hz", "output_rate_hz", "received_frames",
                                       "processed_frames", "dropped_frames", "skipped_frames",
                                       "publish_dropped_frames", "received_imu", "pipeline_errors",
                                       "resets", "last_reset_reason", "active_tracks")]
    values += [kv(f"{name}{suffix}", snap[f"{name}{suffix}"])
               for name in TIMINGS for suffix in ("_ms", "_p95_ms")]
    if snap.get("depth_topic"):
        values += [kv(k, snap[k]) for k in ("depth_topic", "depth_rate_hz", "depth_age_s",
                                            "depth_share", "frames_without_depth")]
    values += [kv(f"invalid_input.{cause}", n) for cause, n in sorted(snap["invalid_inputs"].items())]
    for key, value in sorted((snap.get("grounding") or {}).items()):  # gyro bias, rest, drift
        if isinstance(value, list):
            value = "[" + ", ".join(f"{v:.6f}" for v in value) + "]"
        values.append(kv(f"grounding.{key}", value))
    if snap.get("grounding"):  # also when the summary names a more urgent problem
        values.append(kv("grounding.problem", grounding_problem(snap) or ""))
    for key, value in sorted((snap.get("tracking") or {}).items()):  # re-identifications, CMC
        values.append(kv(f"tracking.{key}", value))
    values += [kv(f"execution_provider.{stage}", prov) for stage, prov in sorted(snap["providers"].items())]
    level, message = level_and_message(snap)
    status = f.new("diagnostic_msgs/msg/DiagnosticStatus", level=level,
                   name=f"{node_name}: pipeline", message=message, hardware_id=hardware_id,
                   values=values)
    return f.new("diagnostic_msgs/msg/DiagnosticArray", header=header(f, stamp_ns, ""),
                 status=[status])
