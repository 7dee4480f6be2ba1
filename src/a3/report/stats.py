"""How much a rate measured on a few queries can be trusted."""

from __future__ import annotations

import math

Z_95 = 1.959964  # two-sided 95%


def wilson_interval(flagged: int, judged: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of ``flagged / judged``; unlike the normal approximation it stays
    inside [0, 1] and is not zero-width at 0% or 100%, which small splits hit often."""
    if judged <= 0:
        return None
    p = flagged / judged
    denominator = 1 + z * z / judged
    centre = (p + z * z / (2 * judged)) / denominator
    half = z * math.sqrt(p * (1 - p) / judged + z * z / (4 * judged * judged)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
