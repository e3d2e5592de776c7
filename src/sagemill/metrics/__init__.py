"""Metrics: the recorder port the data plane reports each invocation to, and its in-memory adapter."""
