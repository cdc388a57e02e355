"""The JSON rule shared by the request body and the model's answers: no NaN, no Infinity.

Python's json module accepts them, but the JSON the gateway sends on would be invalid. A leaf:
web (request bodies) and the pipeline's tool parsers both use it, neither imports the other.
"""

from __future__ import annotations


def reject_constant(name: str) -> None:
    """Refuse NaN and Infinity, which Python's json module would otherwise accept."""
    raise ValueError(f"{name} is not valid JSON")
