"""The ``max_cost`` budget: what a client has spent, what its calls in flight may still cost, and
whether the next call fits under the cap."""

from __future__ import annotations

import logging
import math

from a3.errors import UserInputError
from a3.llm.errors import BudgetExceededError, UnknownPriceError
from a3.llm.pricing import PriceTable
from a3.llm.types import CallConfig, Message

log = logging.getLogger("a3.llm")

# Output tokens assumed for budget estimates when a call sets no max_tokens.
_DEFAULT_OUTPUT_ESTIMATE = 4096


class Budget:
    """Spending against an optional cap in USD.

    Before a call is made, ``reserve`` sets aside an
    upper bound of its cost (or refuses the call); when it ends, ``release`` gives that back, and
    a paid call is ``charge``d at its real price. ``spent`` is the USD paid so far."""

    def __init__(self, max_cost: float | None, prices: PriceTable) -> None:
        if max_cost is not None and not (math.isfinite(max_cost) and max_cost >= 0):
            raise UserInputError(f"the cost cap must be a number of USD >= 0, not {max_cost!r}")
        self.max_cost = max_cost
        self.prices = prices
        self.spent = 0.0
        self._reserved = 0.0
        self._warned_unpriced: set[str] = set()

    def reserve(self, messages: list[Message], config: CallConfig) -> float:
        """Set aside the most the call may cost and return it, or raise BudgetExceededError when
        it could pass the cap (UnknownPriceError when a capped model has no price)."""
        price = self.prices.price(config.model)
        if price is None:
            if self.max_cost is not None:
                raise UnknownPriceError(
                    f"{config.model}: no price is known, so the cost cap of ${self.max_cost:.2f} cannot be enforced; "
                    "add the model to a price file (--prices FILE or A3_PRICES) or drop --max-cost"
                )
            if config.model not in self._warned_unpriced:
                self._warned_unpriced.add(config.model)
                log.warning("%s: no price is known; its calls are counted as unpriced, not as $0", config.model)
            return 0.0
        if self.max_cost is None:
            return 0.0
        # Upper bound: about 3 characters per token of input, and the whole output allowance.
        input_tokens = sum(len(m.content) for m in messages) // 3 + 16
        output_tokens = config.max_tokens or _DEFAULT_OUTPUT_ESTIMATE
        estimate = (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
        if self.spent + self._reserved + estimate > self.max_cost:
            raise BudgetExceededError(
                f"stopping before the cost cap: ${self.spent:.4f} spent, ${self._reserved:.4f} in flight, "
                f"and the next {config.model} call may cost up to ${estimate:.4f} (cap ${self.max_cost:.2f})"
            )
        self._reserved += estimate
        return estimate

    def release(self, estimate: float) -> None:
        """Give back what ``reserve`` set aside for a call that has ended, paid or not."""
        self._reserved -= estimate

    def charge(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """The cost of a paid call, added to ``spent``; None when the model has no price."""
        cost = self.prices.cost(model, input_tokens, output_tokens)
        self.spent += cost or 0.0
        return cost
