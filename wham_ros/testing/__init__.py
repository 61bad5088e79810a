"""Deterministic synthetic models for tests, examples and benchmarks (no licensed files)."""
