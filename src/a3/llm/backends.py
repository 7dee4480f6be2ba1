"""Backends turn one request into one reply. They do no retries, caching or accounting:
``LLMClient`` does that for all of them alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from a3.llm.errors import TransientError
from a3.llm.types import CallConfig, Message


@dataclass(frozen=True)
class BackendReply:
    """A backend's reply: its text, the tokens it used, and why it stopped."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None


class Backend(Protocol):
    """What serves a model: one completion of ``messages`` under ``config``, shaped by ``schema`` when given."""

    async def complete(
        self, messages: Sequence[Message], config: CallConfig, schema: type[BaseModel] | None
    ) -> BackendReply: ...


# Providers whose SDK client takes ``max_retries``: we pass 0 so that only LLMClient retries.
_SDK_RETRY_PROVIDERS = (
    "openai",
    "openai-api",
    "openrouter",
    "anthropic",
    "vllm",
    "ollama",
    "llama-cpp-python",
    "together",
    "groq",
)


class InspectBackend:
    """Serves any inspect_ai model string through inspect's providers.

    anthropic/…, openai/…, openrouter/…, openai/azure/…, anthropic/bedrock/…, bedrock/…, vllm/…,
    ollama/…, hf/…, openai-api/<svc>/…"""

    def __init__(self, model: str, model_args: dict[str, Any] | None = None, max_connections: int = 16) -> None:
        from inspect_ai.model import get_model

        args = dict(model_args or {})
        if model.split("/", 1)[0] in _SDK_RETRY_PROVIDERS:
            args.setdefault("max_retries", 0)
        self.model_name = model
        self.max_connections = max_connections
        self._model = get_model(model, **args)

    async def complete(
        self, messages: Sequence[Message], config: CallConfig, schema: type[BaseModel] | None
    ) -> BackendReply:
        from inspect_ai.model import (
            ChatMessageAssistant,
            ChatMessageSystem,
            ChatMessageUser,
            GenerateConfig,
            ResponseSchema,
        )
        from inspect_ai.util import json_schema

        kinds = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}
        chat = [kinds[m.role](content=m.content) for m in messages]
        response_schema = None
        if schema is not None and config.provider_json_schema:
            response_schema = ResponseSchema(name=schema.__name__, json_schema=json_schema(schema), strict=False)
        generate_config = GenerateConfig(
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            top_p=config.top_p,
            seed=config.seed,
            max_retries=0,  # LLMClient owns retries
            max_connections=self.max_connections,  # LLMClient owns concurrency; keep inspect from throttling below it
            response_schema=response_schema,
        )
        try:
            output = await self._model.generate(chat, config=generate_config)
        except TypeError as exc:
            # An OpenAI-compatible server that answers HTTP 200 with {"error": …} gives a completion
            # without choices, which inspect iterates: say what happened, and retry (it is usually transient).
            if "'NoneType' object is not iterable" not in str(exc):
                raise
            raise TransientError(
                "the provider's reply held no completion (HTTP 200 without choices, likely an error body)"
            ) from exc
        usage = output.usage
        return BackendReply(
            text=output.completion,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            finish_reason=str(output.stop_reason) if output.choices else None,
        )
