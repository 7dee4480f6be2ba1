"""Value types of the model layer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """One chat message: a role and its text."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str


class CallConfig(BaseModel):
    """Everything that selects a model and shapes one call. Part of the cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(
        description="an inspect model string, e.g. 'anthropic/claude-sonnet-4-5' or 'local/smollm2-135m'"
    )
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    timeout: float = Field(default=120.0, gt=0, description="seconds for one attempt")
    model_args: dict[str, Any] = Field(default_factory=dict, description="provider arguments, e.g. base_url")
    provider_json_schema: bool = Field(
        default=True, description="ask the provider for schema-shaped JSON when a schema is given"
    )
    cache_salt: str | None = Field(
        default=None, description="change to draw a fresh sample for otherwise identical calls"
    )
    weights_id: str | None = Field(
        default=None,
        exclude=True,  # out of dumps, so every hash made before the field existed still holds
        description="identifies the served weights where the model string and args do not (an adapter retrained at "
        "the same path); part of the cache key only, never sent",
    )


class Usage(BaseModel):
    """The tokens one call used."""

    input_tokens: int = 0
    output_tokens: int = 0


TRUNCATED_FINISH = frozenset({"max_tokens", "length", "model_length"})


class Completion(BaseModel):
    """The result of ``LLMClient.generate``. ``cost_usd`` is None when the model has no known price."""

    text: str
    parsed: Any = None
    model: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = 0.0
    cached: bool = False
    finish_reason: str | None = None
    attempts: int = 1
    repairs: int = 0
    backend_s: float = 0.0
    total_s: float = 0.0

    @property
    def truncated(self) -> bool:
        """Whether the reply was cut off at its token budget (each provider names that finish its own way)."""
        return self.finish_reason in TRUNCATED_FINISH
