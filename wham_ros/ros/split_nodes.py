"""The WHAM pipeline as two nodes: a front-end node and a WHAM-stage node.

Use them to put the image networks (detector, ViTPose, HMR2.0: a GPU next to the camera) and
WHAM (small, recurrent) on different machines or processes. They exchange
``wham_ros/PersonObservationArray`` on ``person_observations`` (reliable, depth 10): exactly
``wham_ros.types.FrontEndResult`` (stamp, frame id, K, image size, per-person WHAM inputs,
ended track ids).

* :class:`FrontEndNode` (``wham_frontend``): ``image`` or ``image/compressed`` +
  ``camera_info`` in, ``person_observations`` out; runs ``wham_ros.pipeline.FrontEnd`` on the
  frames WHAM will step on (the same 30 Hz ``frame_rate_mode`` policy as the composed node).
* :class:`WhamStageNode` (``wham_stage``): ``person_observations`` + ``imu`` in, the composed
  node's outputs (``human_pose``, markers, mesh, faces, ``/tf``) out; runs
  ``wham_ros.pipeline.WhamStage``.

Both are lifecycle nodes with the composed node's parameters (each declares the ones it uses,
``wham_ros.ros.params.params_for``), latest-input workers and ``/diagnostics``.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

from rclpy.qos import QoSProfile

from wham_ros.geometry.frame_rate import FrameRatePolicy
from wham_ros.ros import conversions
from wham_ros.ros.base_node import RELIABLE, Factory, HumanOutputs, PipelineNodeBase
from wham_ros.ros.frame_input import stamp_ns
from wham_ros.ros.node import ImageInput, pipeline_config, run_node

FRONTEND_NODE_NAME = "wham_frontend"
WHAM_STAGE_NODE_NAME = "wham_stage"
OBSERVATIONS_TOPIC = "person_observations"


def default_frontend_factory(values: Dict[str, Any], warn: Callable[[str], None]):
    """``wham_ros.pipeline.FrontEnd`` with the models named by the parameters."""
    from wham_ros.models.registry import build_with_models
    from wham_ros.pipeline import build_frontend

    return build_with_models(values, lambda v: build_frontend(pipeline_config(v, warn)))


def default_wham_stage_factory(values: Dict[str, Any], warn: Callable[[str], None]):
    """``wham_ros.pipeline.WhamStage`` (WHAM checkpoint, body model, world grounding)."""
    from wham_ros.models.registry import build_with_models
    from wham_ros.pipeline import build_wham_stage

    return build_with_models(values, lambda v: build_wham_stage(pipeline_config(v, warn)))


class FrontEndNode(PipelineNodeBase):
    """Images in, ``PersonObservationArray`` out (detection, keypoints, tracking, HMR2.0).

    Args:
        frontend_factory: ``(parameter values, warn) -> FrontEnd``.
        node_name: node name.
        **kwargs: passed to ``LifecycleNode``.
    """

    CHECKS_CAMERA_RATE = True

    def __init__(self, frontend_factory: Optional[Factory] = None,
                 node_name: str = FRONTEND_NODE_NAME, **kwargs) -> None:
        super().__init__(node_name, "frontend", frontend_factory or default_frontend_factory,
                         **kwargs)
        self._input = ImageInput(self)
        self._policy: Optional[FrameRatePolicy] = None

    def _create_publishers(self) -> None:
        self._pubs["observations"] = self.create_publisher(
            self._f.cls(conversions.PERSON_OBS_ARRAY), OBSERVATIONS_TOPIC, RELIABLE)

    def _on_built(self) -> None:
        self._input.frames.reset()
        self._policy = FrameRatePolicy(self._values["frame_rate_mode"])

    def _release_inputs(self) -> None:
        self._input.release()
        self._policy = None

    def _create_subscriptions(self, sensor: QoSProfile) -> List[Any]:
        return self._input.subscriptions(sensor)

    def _reset(self) -> None:
        self._pipe.reset()
        self._policy.reset()

    def _process(self, item) -> None:
        frame = self._input.frame(item, self._reset)
        if frame is None:
            return
        if not self._policy.decide(frame.stamp_ns).step:  # WHAM will not step on it
            self._count_processed(frame.stamp_ns, 0.0, 0, skipped=True)
            return
        t0 = time.perf_counter()
        fe = self._pipe.process(frame)
        processing_ms = (time.perf_counter() - t0) * 1e3
        self._count_processed(frame.stamp_ns, processing_ms, len(fe.observations))
        if self._input.depth is not None:
            self.stats.count_depth(frame.depth is not None, len(fe.observations),
                                   sum(ob.root_depth_m is not None for ob in fe.observations))
        self._publish_later(frame.stamp_ns, lambda: self._pubs["observations"].publish(
            conversions.frontend_result_to_msg(self._f, fe)))


class WhamStageNode(PipelineNodeBase):
    """``PersonObservationArray`` + IMU in, humans, markers, TF out (world grounding + WHAM).

    Observation arrays replaced before the worker took them are dropped (counted), but their
    ended track ids are kept, so WHAM still forgets those tracks.

    Args:
        stage_factory: ``(parameter values, warn) -> WhamStage``.
        node_name: node name.
        **kwargs: passed to ``LifecycleNode``.
    """

    def __init__(self, stage_factory: Optional[Factory] = None,
                 node_name: str = WHAM_STAGE_NODE_NAME, **kwargs) -> None:
        super().__init__(node_name, "wham", stage_factory or default_wham_stage_factory, **kwargs)
        self._outputs: Optional[HumanOutputs] = None
        self._last_stamp_ns: Optional[int] = None

    def _create_publishers(self) -> None:
        self._outputs = HumanOutputs(self)
        self._pubs.update(self._outputs.pubs)

    def _on_built(self) -> None:
        net = self._pipe.engine.net
        self.stats.providers = {"wham": str(net.device)}
        self._outputs.publish_faces(net.smpl.faces.cpu().numpy())
        self._last_stamp_ns = None

    def _create_subscriptions(self, sensor: QoSProfile) -> List[Any]:
        imu_qos = QoSProfile(depth=int(self._values["imu_queue_size"]), reliability=sensor.reliability)
        return [self.create_subscription(self._f.cls(conversions.PERSON_OBS_ARRAY), OBSERVATIONS_TOPIC,
                                         self._on_observations, RELIABLE),
                self.create_subscription(self._f.cls("sensor_msgs/msg/Imu"), "imu", self._on_imu, imu_qos)]

    def _on_observations(self, msg) -> None:
        with self.stats.lock:
            self.stats.stamp_rates["image"].tick(stamp_ns(msg.header.stamp))
        self._submit((msg, ()))

    def _merge_replaced(self, old, new):
        old_msg, carried = old
        return new[0], tuple(carried) + tuple(int(i) for i in old_msg.ended_track_ids)

    def _process(self, item) -> None:
        msg, carried = item
        t_ns = stamp_ns(msg.header.stamp)
        if self._last_stamp_ns is not None:
            if t_ns < self._last_stamp_ns - int(self._values["time_jump_tolerance_s"] * 1e9):
                self.note_reset(
                    f"observation time jumped back by {(self._last_stamp_ns - t_ns) * 1e-9:.3f} s "
                    "(bag loop or clock reset)")
                self._pipe.reset()
            elif t_ns <= self._last_stamp_ns:
                self.warn_once("observation_stamp_not_increasing",
                               f"dropped {OBSERVATIONS_TOPIC} with stamp {t_ns} ns not after the "
                               f"previous {self._last_stamp_ns} ns")
                return
        self._last_stamp_ns = t_ns
        fe = conversions.msg_to_frontend_result(msg)
        fe.ended_track_ids = sorted(set(fe.ended_track_ids) | set(carried))
        mesh = self._outputs.mesh_due(self._values)
        t0 = time.perf_counter()
        step = self._pipe.decide(t_ns, self.camera_pose(fe.frame_id, t_ns))
        result = self._pipe.process(fe, step, full_mesh=mesh or self._values["publish_vertices"])
        processing_ms = (time.perf_counter() - t0) * 1e3
        self._count_processed(t_ns, processing_ms, len(result.humans), result.dropped)
        if not result.dropped:
            self._outputs.publish(result, self.output_values(fe.frame_id), mesh)


def frontend_main(args=None) -> int:
    """``ros2 run wham_ros wham_frontend_node``: the front-end node until shutdown."""
    return run_node(FrontEndNode, FRONTEND_NODE_NAME, args)


def wham_stage_main(args=None) -> int:
    """``ros2 run wham_ros wham_stage_node``: the WHAM-stage node until shutdown."""
    return run_node(WhamStageNode, WHAM_STAGE_NODE_NAME, args)
