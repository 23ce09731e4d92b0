"""Prefect tasks: thin wrappers that wire the pure functions in ``segmentation``."""
