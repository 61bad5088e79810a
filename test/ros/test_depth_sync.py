"""The node's depth pairing over a real message_filters.Cache (no graph)."""
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ros_env  # noqa: E402


@pytest.fixture(scope="module")
def mf(ros):
    try:
        import message_filters
    except ImportError:
        pytest.skip(f"message_filters is not importable: it {ros_env.TF2_ABSENT}")
    return message_filters


def depth(t_ns):
    from sensor_msgs.msg import Image

    msg = Image(height=1, width=1, encoding="32FC1", step=4,
                data=np.float32(t_ns * 1e-9).tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t_ns, 1_000_000_000)
    return msg


def test_cache_store_pairs_exact_else_nearest_within_max_dt(mf):
    from wham_ros.ros.depth_sync import CacheStore

    source = mf.SimpleFilter()
    cache = mf.Cache(source, cache_size=8)
    store = CacheStore(cache, max_dt_ns=10_000_000)
    cache.registerCallback(lambda m: store.add(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, m))
    assert store.match(5_000_000_000) is None and store.newest_stamp_ns is None
    for t in (5_000_000_000, 5_033_000_000, 5_066_000_000):
        source.signalMessage(depth(t))
    stamp = lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec  # noqa: E731
    assert stamp(store.match(5_033_000_000)) == 5_033_000_000
    assert stamp(store.match(5_040_000_000)) == 5_033_000_000
    assert store.match(5_050_000_000) is None  # 17 ms from both
    assert store.newest_stamp_ns == 5_066_000_000
    assert not store.wait_until_covered(5_100_000_000, 0.01)
    threading.Timer(0.05, source.signalMessage, (depth(5_100_000_000),)).start()
    assert store.wait_until_covered(5_100_000_000, 30.0)  # woken by the new message
    store.clear()
    assert store.newest_stamp_ns is None
