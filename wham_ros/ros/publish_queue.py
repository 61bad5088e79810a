"""A publisher thread: message building and publishing leave the processing thread.

The node's worker hands each processed frame's publish job to :class:`PublishQueue`; one
thread runs the jobs in order. The queue is bounded: when publishing falls behind (a slow
subscriber, a mesh), the oldest waiting job is dropped and counted, so the worker never
waits for publishing and latency stays bounded. ROS-free (plain threads).
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Callable, Deque, Optional, Tuple

LOG = logging.getLogger(__name__)
# (job, enqueue time from time.monotonic_ns())
_Entry = Tuple[Callable[[int], None], int]


class PublishQueue:
    """Runs publish jobs on one thread, in order, at most ``depth`` waiting.

    A job is called with the nanoseconds it waited in the queue (``time.monotonic_ns``).

    Args:
        name: thread name.
        depth: waiting jobs kept; a new job beyond it drops the oldest waiting one.
        on_error: called with an exception a job raised (the thread keeps running).
    """

    def __init__(self, name: str, depth: int = 2,
                 on_error: Optional[Callable[[Exception], None]] = None) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.depth = depth
        self.dropped = 0
        self._on_error = on_error or (lambda exc: LOG.error("publish job failed: %r", exc))
        self._jobs: Deque[_Entry] = collections.deque()
        self._cv = threading.Condition()
        self._running = True
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, job: Callable[[int], None]) -> None:
        """Queue ``job(wait_ns)``; drops (and counts) the oldest waiting job when full."""
        with self._cv:
            if not self._running:
                return
            if len(self._jobs) >= self.depth:
                self._jobs.popleft()
                self.dropped += 1
            self._jobs.append((job, time.monotonic_ns()))
            self._cv.notify_all()

    def join(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued job has run; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while self._jobs or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def stop(self, timeout_s: float = 10.0) -> None:
        """Drop waiting jobs, let a running one finish and end the thread."""
        with self._cv:
            self._running = False
            self._jobs.clear()
            self._cv.notify_all()
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._running and not self._jobs:
                    self._cv.wait()
                if not self._running:
                    return
                job, queued_ns = self._jobs.popleft()
                self._busy = True
            try:
                job(time.monotonic_ns() - queued_ns)
            except Exception as exc:  # a failing publish must not end the thread
                self._on_error(exc)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()
