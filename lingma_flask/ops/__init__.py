"""For the operator: health and the worker lifecycle (pool start, drain, stop)."""
