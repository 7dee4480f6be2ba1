"""Model settings shared by the meta-analysis steps."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from a3.llm import CallConfig


class LLMSettings(BaseModel):
    """The model one step calls, and how; each step's options extend it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_max_tokens: ClassVar[int] = 32768  # the original's allowance for GPT-5; clustering's is larger

    model: str = "openai/gpt-5-2025-08-07"
    max_tokens: int | None = None  # None: api_max_tokens for API models, the engine's bound for local ones
    temperature: float | None = 1.0

    def call_config(self) -> CallConfig:
        """The step's call settings. Without a ``max_tokens``, an API model gets the original's long
        allowance, and a local model the engine's bound: tens of thousands of tokens would keep a
        CPU busy for an hour on one reply."""
        max_tokens = self.max_tokens
        if max_tokens is None:
            from a3.llm.local import DEFAULT_MAX_TOKENS

            max_tokens = DEFAULT_MAX_TOKENS if self.model.startswith("local/") else self.api_max_tokens
        return CallConfig(model=self.model, max_tokens=max_tokens, temperature=self.temperature)
