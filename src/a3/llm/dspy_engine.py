"""DSPy engines over ``LLMClient``: the only way a DSPy program reaches a model in A3.

DSPy 3.4 lets an ``LM`` take an engine object (``complete(Request) -> Response``) instead of a
model string it would route through litellm. These engines turn DSPy's request into our messages
and send them through the client, so DSPy calls share the client's cache, retries, concurrency
limits, ledger and cost cap. The ``CallConfig`` given here is authoritative: the LM is built with
no sampling settings of its own.

DSPy calls engines from its worker threads while the client lives in an asyncio loop, so the sync
engine hands each call to that loop through a ``LoopBridge`` and waits for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pydantic import BaseModel

from a3.llm.client import LLMClient
from a3.llm.errors import BudgetExceededError
from a3.llm.types import CallConfig, Completion, Message
from a3.store.run import ledger_label

T = TypeVar("T")

# inspect's stop reasons, in DSPy's (lm15's) words.
_FINISH = {
    "max_tokens": "length",
    "model_length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_call",
}


class StopProgram(BaseException):  # noqa: N818 - a stop signal, like KeyboardInterrupt
    """The run must end: the budget is spent, or the caller was cancelled (Ctrl-C). DSPy catches
    ``Exception`` around each example and scores it as failed, so either would otherwise be met
    with a string of zero scores that GEPA then saves; this passes through those handlers and
    ends the whole run. ``error`` is the cause."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error) or type(error).__name__)
        self.error = error


class LoopBridge:
    """Runs coroutines in the client's event loop from DSPy's worker threads, naming their calls
    ``stage`` in the ledger (worker threads do not carry the caller's context), and stops them
    all at once: after ``stop()`` every further call raises ``StopProgram``. A cancelled caller
    must stop the bridge, or DSPy's threads would go on calling models through the live loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stage: str | None = None) -> None:
        self.loop, self.stage = loop, stage
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """From a worker thread: run ``coroutine`` in the loop and wait for it."""
        if _running_loop() is self.loop:
            coroutine.close()
            raise RuntimeError(
                "call DSPy programs from a worker thread (asyncio.to_thread), not from the client's event loop"
            )
        self._refuse_if_stopped(coroutine)
        try:
            return asyncio.run_coroutine_threadsafe(self.staged(coroutine), self.loop).result()
        except (BudgetExceededError, concurrent.futures.CancelledError) as exc:
            raise StopProgram(exc) from exc

    async def acall(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """From any event loop: run ``coroutine`` in the client's loop and await it."""
        self._refuse_if_stopped(coroutine)
        try:
            if _running_loop() is self.loop:
                return await self.staged(coroutine)
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.staged(coroutine), self.loop))
        except BudgetExceededError as exc:
            raise StopProgram(exc) from exc

    def _refuse_if_stopped(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        if self._stopped.is_set():
            coroutine.close()
            raise StopProgram(RuntimeError("the run was stopped"))

    async def staged(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self.stage is None:
            return await coroutine
        with ledger_label(self.stage):  # this task's own copy of the context
            return await coroutine


def request_messages(request: Any) -> list[Message]:
    """A DSPy request as our chat messages (system text first). Tools and other roles are refused:
    nothing in A3 asks DSPy for them, and dropping them silently would change the call."""
    if request.tools:
        raise ValueError("A3's DSPy engine does not pass tools to models")
    messages = []
    system = request.system
    if system is not None:
        text = system if isinstance(system, str) else "".join(getattr(part, "text", "") for part in system)
        messages.append(Message(role="system", content=text))
    for message in request.messages:
        if message.role not in ("user", "assistant"):
            raise ValueError(f"A3's DSPy engine does not pass {message.role!r} messages to models")
        messages.append(Message(role=message.role, content=message.text or ""))
    return messages


def to_response(completion: Completion, text: str) -> Any:
    from dspy.lm15 import Message as DspyMessage
    from dspy.lm15 import Response, TextPart
    from dspy.lm15 import Usage as DspyUsage

    finish = _FINISH.get(completion.finish_reason or "", "stop")
    usage = DspyUsage(input_tokens=completion.usage.input_tokens, output_tokens=completion.usage.output_tokens)
    return Response(
        id=None,
        model=completion.model,
        message=DspyMessage.assistant([TextPart(text)]),
        finish_reason=finish,
        usage=usage,
    )


class LLMClientEngine:
    """DSPy's sync engine contract on an ``LLMClient`` whose event loop runs in another thread.

    ``schema``: the reply must validate against it (with the client's repair re-asks) and is handed
    to DSPy as that object's JSON, for calls whose reply DSPy parses as JSON (GEPA's reflection).
    A spent budget is raised as ``StopProgram``.
    """

    def __init__(
        self,
        client: LLMClient,
        config: CallConfig,
        bridge: LoopBridge,
        *,
        schema: type[BaseModel] | None = None,
        prompt_version: str | None = None,
    ) -> None:
        self.client, self.config, self.bridge = client, config, bridge
        self.schema, self.prompt_version = schema, prompt_version

    async def generate(self, request: Any) -> Any:
        from dspy.clients.engines.base import validate_request

        validate_request(request)
        completion = await self.client.generate(
            request_messages(request),
            config=self.config,
            schema=self.schema,
            stage=self.bridge.stage,
            prompt_version=self.prompt_version,
            allow_empty=self.schema is None,
        )
        text = completion.text if self.schema is None else json.dumps(completion.parsed.model_dump())
        return to_response(completion, text)

    def complete(self, request: Any) -> Any:
        return self.bridge.call(self.generate(request))

    def stream(self, request: Any) -> Any:
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        """The client belongs to the caller, who closes it."""


class AsyncLLMClientEngine:
    """The async half of the pair DSPy expects; awaits the same client from any loop."""

    def __init__(self, engine: LLMClientEngine) -> None:
        self.engine = engine

    async def complete(self, request: Any) -> Any:
        return await self.engine.bridge.acall(self.engine.generate(request))

    async def stream(self, request: Any) -> Any:
        from dspy.lm15 import response_to_events

        for event in response_to_events(await self.complete(request)):
            yield event

    async def aclose(self) -> None:
        """The client belongs to the caller, who closes it."""


def dspy_lm(engine: LLMClientEngine) -> Any:
    """A ``dspy.LM`` whose every call goes through ``engine``. DSPy's own response cache is off:
    the client's call cache already keys every call."""
    import dspy

    return dspy.LM(f"a3/{engine.config.model}", engine=engine, async_engine=AsyncLLMClientEngine(engine), cache=False)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
