"""Multi-person tracking with stable ids and causal (One-Euro) smoothing."""
