"""Which failures are retried, and how long to wait between attempts."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from a3.llm.errors import TransientError

_RETRYABLE_STATUS = {408, 409, 425, 429} | set(range(500, 600))
_TRANSIENT_NAMES = {
    "APITimeoutError",
    "APIConnectionError",
    "APIResponseValidationError",
    "TimeoutException",
    "ConnectTimeout",
    "ReadTimeout",
    "ConnectError",
    "ReadError",
    "RemoteProtocolError",
    "TransportError",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: exponential backoff with jitter, honouring Retry-After."""

    max_attempts: int = 6
    initial_wait: float = 1.0
    max_wait: float = 60.0
    jitter: float = 0.25  # fraction of the wait added at random, so retries do not stampede together

    def wait(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        base: float = min(self.max_wait, self.initial_wait * (2 ** (attempt - 1)))
        if retry_after is not None:
            base = max(base, retry_after)
        # The cap holds for the wait as a whole, jitter included.
        return min(self.max_wait, base * (1 + random.random() * self.jitter))


def unwrap(exc: BaseException) -> BaseException:
    """inspect wraps a provider's exception in tenacity.RetryError; return the original."""
    last_attempt = getattr(exc, "last_attempt", None)
    if last_attempt is not None and hasattr(last_attempt, "exception"):
        inner = last_attempt.exception()
        if inner is not None:
            return unwrap(inner)
    return exc


def status_code(exc: BaseException) -> int | None:
    for attr in ("status_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, (TransientError, TimeoutError, json.JSONDecodeError)):
        return True
    code = status_code(exc)
    if code is not None:
        return code in _RETRYABLE_STATUS
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


def retry_after_seconds(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        return float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None
