"""How numbers read in tables, reports and agent prompts: one formatter for every rate."""

from __future__ import annotations

__all__ = ["percent"]


def percent(value: float | None, digits: int = 0, missing: str = "n/a") -> str:
    """``percent(1/3)`` is "33%", ``percent(1/3, 1)`` "33.3%"; ``missing`` when nothing was measured."""
    return missing if value is None else f"{100 * value:.{digits}f}%"
