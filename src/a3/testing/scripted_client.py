"""Scripted models: an ``LLMClient`` whose models answer from a script instead of a provider.

Tests and benchmarks name them ``scripted/<anything>``; the model layer knows that prefix only
so that configs naming such models validate (``a3.llm.naming``) and need no API key
(``a3.llm.preflight``). Outside a ``ScriptedClient`` no backend serves it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from a3.llm.backends import Backend, BackendReply
from a3.llm.client import LLMClient
from a3.llm.retry import RetryPolicy
from a3.llm.routing import default_backend
from a3.llm.types import CallConfig, Message

Responder = Callable[[list[Message], CallConfig], Any]


@dataclass
class ScriptedBackend:
    """A backend that answers from a script, for tests.

    The script is a list of replies taken in order, or a function of
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
            if inspect.isawaitable(reply):
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
        return BackendReply(
            text=text, input_tokens=max(1, prompt_chars // 4), output_tokens=len(text) // 4, finish_reason="stop"
        )


class ScriptedClient(LLMClient):
    """An LLMClient whose every model answers from a script (see ScriptedBackend).

    Everything else (cache, ledger, budget, retries, structured output) is the real machinery.
    """

    def __init__(self, script: Any, *, latency: float = 0.0, real: tuple[str, ...] = (), **kwargs: Any) -> None:
        """Models whose string starts with one of ``real`` (e.g. ``"local/"``) are served for real."""
        self.backend = ScriptedBackend(script, latency=latency)
        kwargs.setdefault("retry", RetryPolicy(initial_wait=0.001, max_wait=0.01))

        def factory(model: str, args: dict[str, Any], limit: int) -> Backend:
            return default_backend(model, args, limit) if model.startswith(real) and real else self.backend

        super().__init__(backend_factory=factory, **kwargs)

    @property
    def calls(self) -> list[tuple[list[Message], CallConfig]]:
        return self.backend.calls
