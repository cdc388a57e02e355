"""For the operator: health, the worker lifecycle (pool start, drain, stop), metrics and alerts."""
