"""Run inspect_ai tasks (benchmarks) with A3's model layer as the model.

``inspect_model(client, config)`` returns an inspect ``Model`` whose every generate call goes
through ``LLMClient``: the same cache, ledger, cost cap, retries and local batching as the rest
of A3. inspect keeps what it is good at: datasets, solvers, scorers and its eval logs.
"""

from __future__ import annotations

import itertools
from typing import Any

from a3.llm.client import LLMClient
from a3.llm.types import CallConfig, Message

_ROUTES: dict[str, tuple[LLMClient, CallConfig]] = {}
_counter = itertools.count()
_registered = False


def inspect_model(client: LLMClient, config: CallConfig, max_connections: int = 16) -> Any:
    """An inspect ``Model`` named ``a3/<model>#<n>`` that calls ``client`` with ``config``."""
    from inspect_ai.model import GenerateConfig, get_model

    _register()
    name = f"{config.model}#{next(_counter)}"
    _ROUTES[name] = (client, config)
    return get_model(f"a3/{name}", config=GenerateConfig(max_connections=max_connections), memoize=False)


def release(model: Any) -> None:
    """Forget a model made by ``inspect_model`` (its client is not closed)."""
    _ROUTES.pop(model.api.model_name, None)


def _register() -> None:
    global _registered
    if _registered:
        return
    from inspect_ai.model import GenerateConfig, ModelAPI, ModelOutput, ModelUsage, modelapi

    class A3ModelAPI(ModelAPI):
        def __init__(
            self,
            model_name: str,
            base_url: str | None = None,
            api_key: str | None = None,
            config: GenerateConfig = GenerateConfig(),
            **_: Any,
        ) -> None:
            super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
            self.config = config  # inspect's ModelAPI keeps no config of its own (0.3.285)

        def max_connections(self) -> int:
            return self.config.max_connections or 16

        async def generate(self, input: list[Any], tools: list[Any], tool_choice: Any, config: GenerateConfig) -> Any:
            client, call = _ROUTES[self.model_name]
            messages = [
                Message(role=m.role, content=m.text) for m in input if m.role in ("system", "user", "assistant")
            ]
            completion = await client.generate(messages, config=call, allow_empty=True)
            output = ModelOutput.from_content(model=call.model, content=completion.text)
            output.usage = ModelUsage(
                input_tokens=completion.usage.input_tokens,
                output_tokens=completion.usage.output_tokens,
                total_tokens=completion.usage.input_tokens + completion.usage.output_tokens,
            )
            return output

    modelapi(name="a3")(lambda: A3ModelAPI)
    _registered = True
