"""Errors raised by the model layer. Each one says what happened in words a person can act on."""

from __future__ import annotations

from a3.errors import A3Error


class LLMError(A3Error):
    """The base of the model layer's errors."""


class TransientError(LLMError):
    """A failure worth retrying (rate limit, 5xx, timeout, empty or malformed reply)."""


class LLMCallError(LLMError):
    """A call failed for good: a non-retryable error, or retries ran out."""

    def __init__(self, message: str, *, model: str, attempts: int, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.attempts = attempts
        self.cause = cause


class StructuredOutputError(LLMError):
    """The model's replies never validated against the schema; every raw reply is kept."""

    def __init__(
        self, message: str, *, model: str, raw_replies: list[str], errors: list[str], saved_to: str | None
    ) -> None:
        super().__init__(message)
        self.model = model
        self.raw_replies = raw_replies
        self.errors = errors
        self.saved_to = saved_to


class BudgetExceededError(LLMError):
    """The next call could pass ``max_cost``; it was not made.

    Exit code 3: raise the cap and re-run to resume where the run stopped."""

    exit_code = 3


class UnknownPriceError(LLMError):
    """A cost cap is set but the model has no price, so the cap could not be enforced."""
