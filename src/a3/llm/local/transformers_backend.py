"""Generation with any local Hugging Face folder (a user's own weights, a fully finetuned
model), batching concurrent requests.

The embedded models are served by the inference engine (a3.llm.local.engine); this backend is
for weights that exist only as a transformers folder. Sampled requests that arrive together
(LLMClient fans calls out concurrently) are gathered for a few milliseconds and generated as one
left-padded batch in a worker thread, so the event loop keeps running; greedy ones are generated
one at a time, so that a greedy reply does not depend on what it was batched with. Replies are not
constrained by a schema here: LLMClient validates them and re-asks with the reason, as it does
for API models without JSON-schema support.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from a3.llm.backends import BackendReply
from a3.llm.types import CallConfig, Message

_GATHER_S = 0.02  # how long the first request of a batch waits for companions


@dataclass
class _Request:
    messages: list[Message]
    config: CallConfig
    schema: type[BaseModel] | None
    future: asyncio.Future[BackendReply] = field(repr=False)


class TransformersBackend:
    """Serves a Hugging Face folder with transformers, batched, without a grammar.

    ``source`` is a model folder, or a function returning one (called once, in a worker thread,
    so that a first-use conversion does not block the event loop)."""

    attempt_timeout = None  # no per-attempt timeout: generation is bounded by max_tokens

    def __init__(
        self,
        source: Path | Callable[[], Path],
        max_batch: int = 8,
        threads: int | None = None,
        adapter: str | Path | None = None,
        dtype: str = "auto",
    ) -> None:
        self.source = source
        self.dtype = dtype  # "auto": bfloat16 where the hardware computes it natively, else float32
        self.adapter = adapter  # a LoRA adapter folder, merged into the weights at load
        self.max_batch = max(1, max_batch)
        self.threads = threads
        self.batch_sizes: list[int] = []  # sizes of the batches generated, for tests and benchmarks
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._loading = asyncio.Lock()

    async def prepare(self) -> None:
        """Load the model (LLMClient awaits this before the first call, outside its timeout)."""
        async with self._loading:
            if self._model is None:
                await asyncio.to_thread(self._load)

    def close(self) -> None:
        """Stop serving and let the model's memory go."""
        if self._worker is not None:
            self._worker.cancel()
        self._worker = self._queue = None
        self._model = self._tokenizer = None

    async def complete(
        self, messages: Sequence[Message], config: CallConfig, schema: type[BaseModel] | None
    ) -> BackendReply:
        await self.prepare()
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._serve())
        future: asyncio.Future[BackendReply] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(list(messages), config, schema, future))
        return await future

    async def _serve(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            deadline = time.monotonic() + _GATHER_S
            while len(batch) < self.max_batch:
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), max(0.0, deadline - time.monotonic())))
                except TimeoutError:
                    break
            for group in _compatible_groups(batch):
                live = [r for r in group if not r.future.done()]  # a caller may have timed out meanwhile
                if not live:
                    continue
                try:
                    replies = await asyncio.to_thread(self._generate, live)
                except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                    for request in live:
                        if not request.future.done():
                            request.future.set_exception(exc)
                    continue
                for request, reply in zip(live, replies, strict=False):
                    if not request.future.done():
                        request.future.set_result(reply)

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        # Our own progress bars say what is happening.
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers
        if self.threads:
            torch.set_num_threads(self.threads)
        model_dir = self.source() if callable(self.source) else Path(self.source)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=inference_dtype(self.dtype))
        if self.adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(self.adapter)).merge_and_unload()
        model.eval()  # type: ignore[no-untyped-call]  # unannotated in transformers' model classes
        self._tokenizer, self._model = tokenizer, model

    def _generate(self, batch: list[_Request]) -> list[BackendReply]:
        import torch

        tokenizer, model = self._tokenizer, self._model
        prompts = [_chat_prompt(tokenizer, r) for r in batch]
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        config = batch[0].config
        limit = max(r.config.max_tokens or 512 for r in batch)
        sampling = bool(config.temperature)
        kwargs: dict[str, Any] = {
            "max_new_tokens": limit,
            "do_sample": sampling,
            "pad_token_id": tokenizer.pad_token_id,
        }
        if sampling:
            kwargs.update(temperature=config.temperature, top_p=config.top_p or 1.0)
        if config.seed is not None:
            torch.manual_seed(config.seed)
        with torch.inference_mode():
            output = model.generate(**encoded, **kwargs)
        self.batch_sizes.append(len(batch))
        width = encoded["input_ids"].shape[1]
        replies = []
        for index, request in enumerate(batch):
            new = output[index, width:].tolist()[: request.config.max_tokens or 512]
            tokens = _until_stop(new, {tokenizer.eos_token_id, tokenizer.pad_token_id})
            stopped = len(tokens) < len(new)
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            replies.append(
                BackendReply(
                    text=text,
                    input_tokens=int(encoded["attention_mask"][index].sum()),
                    output_tokens=len(tokens),
                    finish_reason="stop" if stopped else "max_tokens",
                )
            )
        return replies


def inference_dtype(name: str) -> Any:
    """The torch dtype for ``name``; "auto" is bfloat16 on a GPU or on a CPU with native bfloat16
    arithmetic (about twice as fast as float32 there, measured for Qwen2.5-0.5B), else float32."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    native_bf16 = torch.cuda.is_available() or torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return torch.bfloat16 if native_bf16 else torch.float32


def _chat_prompt(tokenizer: Any, request: _Request) -> str:
    prompt: str = tokenizer.apply_chat_template(
        [m.model_dump() for m in request.messages], tokenize=False, add_generation_prompt=True
    )
    return prompt


def _until_stop(tokens: list[int], stop_ids: set[int]) -> list[int]:
    """The tokens before the first stop token."""
    for index, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[:index]
    return tokens


def _compatible_groups(batch: list[_Request]) -> list[list[_Request]]:
    """Requests that can be generated together: the same sampling settings. A greedy request is
    generated alone: in a left-padded batch its numbers depend on its companions' lengths, and
    its reply with them (a measured model must give one reply per query)."""
    groups: dict[tuple[Any, ...], list[_Request]] = {}
    for index, request in enumerate(batch):
        c = request.config
        alone = index if not c.temperature else None
        groups.setdefault((c.temperature, c.top_p, c.seed, alone), []).append(request)
    return list(groups.values())
