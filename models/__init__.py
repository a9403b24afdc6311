"""Hotspot models: pure functions on frames with explicit parameters, no I/O."""
