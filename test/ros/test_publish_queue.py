"""Publisher thread and the timing statistics on /diagnostics (no ROS graph)."""
import threading

import numpy as np
import pytest

from wham_ros.ros.diagnostics import TIMINGS, NodeStats, TimingWindow, diagnostics_msg
from wham_ros.ros.factory import RosbagsFactory
from wham_ros.ros.publish_queue import PublishQueue


def test_jobs_run_in_order_off_the_calling_thread():
    seen, threads = [], set()
    q = PublishQueue("test_pub", depth=100)
    try:
        for i in range(20):
            q.put(lambda wait_ns, i=i: (seen.append(i), threads.add(threading.get_ident())))
        assert q.join(5.0)
    finally:
        q.stop()
    assert seen == list(range(20)) and threading.get_ident() not in threads
    assert q.dropped == 0


def _slow_job(started: threading.Event, release: threading.Event, seen: list):
    """A job that says it runs, then holds the publisher thread until ``release``."""
    def job(wait_ns):
        started.set()
        assert release.wait(60.0)
        seen.append("slow")
    return job


def test_a_slow_job_never_blocks_put_and_the_oldest_waiting_are_dropped():
    started, release, seen = threading.Event(), threading.Event(), []
    q = PublishQueue("test_pub", depth=2)
    try:
        q.put(_slow_job(started, release, seen))
        assert started.wait(60.0)  # the publisher thread is now inside the slow job
        # The caller never waits: all five puts return while the slow job still holds the
        # thread (a put that waited for it would never return before ``release``).
        putter = threading.Thread(target=lambda: [q.put(lambda wait_ns, i=i: seen.append(i))
                                                  for i in range(5)])
        putter.start()
        putter.join(60.0)
        assert not putter.is_alive() and not release.is_set()
        release.set()
        assert q.join(60.0)
    finally:
        q.stop()
    assert seen == ["slow", 3, 4] and q.dropped == 3


def test_wait_time_is_reported_and_errors_keep_the_thread():
    waits, errors = [], []
    q = PublishQueue("test_pub", depth=4, on_error=errors.append)
    try:
        q.put(lambda wait_ns: 1 / 0)
        q.put(lambda wait_ns: waits.append(wait_ns))
        assert q.join(5.0)
    finally:
        q.stop()
    assert len(errors) == 1 and isinstance(errors[0], ZeroDivisionError)
    assert len(waits) == 1 and waits[0] >= 0


def test_stop_drops_waiting_jobs():
    started, release, seen = threading.Event(), threading.Event(), []
    q = PublishQueue("test_pub", depth=4)
    q.put(_slow_job(started, release, []))
    assert started.wait(60.0)
    q.put(lambda wait_ns: seen.append(1))
    release.set()
    q.stop()
    q.put(lambda wait_ns: seen.append(2))  # after stop: ignored
    assert seen == []
    with pytest.raises(ValueError):
        PublishQueue("x", depth=0)


def test_timing_window_median_and_p95_over_the_last_frames():
    w = TimingWindow(size=100)
    assert w.median_p95() == (None, None)
    for v in range(1000):  # only the last 100 values (900..999) count
        w.add(float(v))
    median, p95 = w.median_p95()
    assert median == pytest.approx(949.5) and p95 == pytest.approx(np.percentile(np.arange(900, 1000), 95))


def test_diagnostics_values_split_latency(typestore):
    stats = NodeStats()
    stats.state = "active"
    stats.received_frames = stats.processed_frames = 10
    for i in range(10):
        stats.add_timing("input_wait", 400.0)
        stats.add_timing("processing", 50.0 + i)
        stats.add_timing("publish_wait", 1.0)
        stats.add_timing("publish", 2.0)
        stats.add_timing("latency", 600.0 + i)
    msg = diagnostics_msg(RosbagsFactory(typestore), stats.snapshot(), 5, "wham")
    status = msg.status[0]
    values = {kv.key: kv.value for kv in status.values}
    for name in TIMINGS:
        assert f"{name}_ms" in values and f"{name}_p95_ms" in values
    assert float(values["processing_ms"]) == pytest.approx(54.5, abs=1e-3)
    assert status.level == 1 and "median latency 604 ms" in status.message
    assert "waiting for the worker 400 ms" in status.message
