"""Backends turn one request into one reply. They do no retries, caching or accounting:
``LLMClient`` does that for all of them alike."""

from __future__ import annotations

import asyncio
import inspect as pyinspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from a3.llm.errors import TransientError
from a3.llm.types import CallConfig, Message


@dataclass
class BackendReply:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None


class Backend(Protocol):
    async def complete(
        self, messages: Sequence[Message], config: CallConfig, schema: type[BaseModel] | None
    ) -> BackendReply: ...


# Providers whose SDK client takes ``max_retries``: we pass 0 so that only LLMClient retries.
_SDK_RETRY_PROVIDERS = ("openai", "openai-api", "openrouter", "anthropic", "vllm", "ollama", "llama-cpp-python", "together", "groq")


class InspectBackend:
    """Any inspect_ai model string: anthropic/…, openai/…, openrouter/…, openai/azure/…,
    anthropic/bedrock/…, bedrock/…, vllm/…, ollama/…, hf/…, openai-api/<svc>/…"""

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
            raise TransientError("the provider's reply held no completion (HTTP 200 without choices, likely an error body)") from exc
        usage = output.usage
        return BackendReply(
            text=output.completion,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            finish_reason=str(output.stop_reason) if output.choices else None,
        )


Responder = Callable[[list[Message], CallConfig], Any]


@dataclass
class ScriptedBackend:
    """Answers from a script, for tests: a list of replies taken in order, or a function of
    (messages, config) returning a reply. A reply is a string, a BackendReply, or an exception
    instance (raised, to simulate a provider failure). The function may be async."""

    script: Sequence[Any] | Responder
    latency: float = 0.0
    calls: list[tuple[list[Message], CallConfig]] = field(default_factory=list)

    async def complete(
        self, messages: Sequence[Message], config: CallConfig, schema: type[BaseModel] | None
    ) -> BackendReply:
        index = len(self.calls)
        self.calls.append((list(messages), config))
        if self.latency:
            await asyncio.sleep(self.latency)
        if callable(self.script):
            reply = self.script(list(messages), config)
            if pyinspect.isawaitable(reply):
                reply = await reply
        else:
            if index >= len(self.script):
                raise RuntimeError(f"the script has {len(self.script)} replies and call {index + 1} asked for another")
            reply = self.script[index]
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, BackendReply):
            return reply
        text = str(reply)
        prompt_chars = sum(len(m.content) for m in messages)
        return BackendReply(text=text, input_tokens=max(1, prompt_chars // 4), output_tokens=len(text) // 4, finish_reason="stop")
