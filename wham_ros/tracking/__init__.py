"""Multi-person tracking with stable ids and causal (One-Euro) smoothing."""
from wham_ros.tracking.tracker import MultiPersonTracker, TrackerConfig

__all__ = ["MultiPersonTracker", "TrackerConfig"]
