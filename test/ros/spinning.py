"""Spinning and waiting for the DDS scenarios: state, never timing.

* :func:`wait_for` polls an observable state (a subscription matched, a message received, a
  counter reached) with a generous timeout: on a busy 2-core machine delivery can take
  seconds, and a timeout only costs time when something is really wrong.
* :class:`NodeSpinner` spins a node in its own ``SingleThreadedExecutor`` thread, as
  ``ros2 run`` does, and runs its lifecycle transitions *on that thread* (as the lifecycle
  service would). A transition called from another thread destroys subscriptions while the
  executor builds its wait set, and rclpy then raises ``InvalidHandle`` inside ``spin``: the
  spin thread dies and the node goes deaf (seen under load).
"""
from __future__ import annotations

import threading
import time

import rclpy
from netns import print_result
from rclpy.executors import SingleThreadedExecutor

TIMEOUT_S = 60.0


def wait_for(cond, timeout=TIMEOUT_S, what="condition"):
    """Poll ``cond()`` until true; ``TimeoutError`` naming ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    raise TimeoutError(f"timed out waiting for {what}")


class NodeSpinner:
    """One node spun by its own executor thread; lifecycle transitions run on that thread.

    Args:
        node: the node (lifecycle or plain) to spin.
        context: the rclpy context of ``node`` (default: the global one).
    """

    def __init__(self, node, context=None):
        self.node = node
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def call(self, fn, *args, timeout=TIMEOUT_S, what="executor task"):
        """Run ``fn(*args)`` on the executor thread and return its result (re-raises)."""
        task = self.executor.create_task(fn, *args)
        wait_for(task.done, timeout=timeout, what=what)
        return task.result()

    def transition(self, name: str, timeout=TIMEOUT_S):
        """``node.trigger_<name>()`` (configure, activate, deactivate, ...) on the spin thread."""
        return self.call(getattr(self.node, f"trigger_{name}"), timeout=timeout,
                         what=f"the {name} transition")

    def stop(self) -> None:
        """Shut the executor down and join its thread (out of rcl's wait before rclpy shuts
        down: rclpy#1484, an abort at exit)."""
        self.executor.shutdown(timeout_sec=5.0)
        self.thread.join(timeout=10.0)


def finish(spinners, result: dict) -> None:
    """End a scenario: stop every spinner, print ``result`` (:func:`netns.print_result`) and
    shut rclpy down, in that order (no spin thread inside rcl at shutdown)."""
    for spinner in spinners:
        spinner.stop()
    print_result(result)
    rclpy.shutdown()
