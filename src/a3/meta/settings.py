"""Model settings shared by the meta-analysis steps."""

from __future__ import annotations

from a3.llm import CallConfig


def call_config(model: str, max_tokens: int | None, temperature: float | None, api_default: int) -> CallConfig:
    """The call settings of one step. Without a ``max_tokens``, an API model gets the original's
    long allowance (``api_default``), and a local model the engine's bound: tens of thousands of
    tokens would keep a CPU busy for an hour on one reply."""
    if max_tokens is None:
        from a3.llm.local import DEFAULT_MAX_TOKENS

        max_tokens = DEFAULT_MAX_TOKENS if model.startswith("local/") else api_default
    return CallConfig(model=model, max_tokens=max_tokens, temperature=temperature)
