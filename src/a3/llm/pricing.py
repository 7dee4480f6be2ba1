"""Token prices: a packaged table plus user overrides. An unknown price is None, never $0."""

from __future__ import annotations

import fnmatch
import math
import os
from importlib.resources import files
from pathlib import Path

import yaml

from a3.errors import UserInputError


class PriceTable:
    """Model prices in USD per million input and output tokens, matched by model-string pattern.

    Explicit overrides win, then the YAML file named by ``A3_PRICES``, then the packaged table."""

    def __init__(self, overrides: dict[str, list[float]] | None = None) -> None:
        # Earlier sources win: explicit overrides, then the A3_PRICES file, then the packaged table.
        for pattern, value in (overrides or {}).items():
            if not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in value):
                raise UserInputError(
                    f"price of {pattern}: expected [input, output] USD per million tokens >= 0, got {value!r}"
                )
        sources = [overrides or {}]
        env_file = os.environ.get("A3_PRICES")
        if env_file:
            sources.append(load_price_file(env_file))
        sources.append(_packaged())
        self._patterns = [
            (pattern.lower(), (float(p[0]), float(p[1]))) for table in sources for pattern, p in table.items()
        ]

    def price(self, model: str) -> tuple[float, float] | None:
        """(input, output) USD per million tokens, or None if no pattern matches."""
        name = model.lower()
        for pattern, price in self._patterns:
            if fnmatch.fnmatchcase(name, pattern):
                return price
        return None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        price = self.price(model)
        if price is None:
            return None
        return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


def load_price_file(path: str | Path) -> dict[str, list[float]]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UserInputError(f"{path}: cannot read the price table: {exc}") from exc
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping of model pattern -> [input, output] USD per million tokens")
    for pattern, value in data.items():
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in value
            )
        ):
            raise UserInputError(
                f"{path}: {pattern}: expected [input, output] USD per million tokens, two numbers >= 0, got {value!r}"
            )
    return data


def _packaged() -> dict[str, list[float]]:
    table: dict[str, list[float]] = yaml.safe_load(files("a3.llm").joinpath("prices.yaml").read_text(encoding="utf-8"))
    return table
