"""The embedded models served by OpenVINO GenAI's continuous-batching engine.

One engine thread owns the pipeline: it adds the requests that arrive, advances every running
generation by one token per step, and hands each reply back to the event loop as soon as it is
finished, so a long reply never holds up the short ones beside it. A caller that is cancelled
(Ctrl-C, a timeout) has its generation stopped at the next step, a fraction of a second later.

Structured replies are constrained by the engine's grammar (xgrammar), given the schema as a
regular expression of compact JSON (outlines-core's converter): every token keeps the reply a
prefix of a valid document, so the reply is valid for the schema unless the token budget cuts it
short. Compact, because the engine's own JSON-schema mode allows any whitespace between tokens,
and Qwen2.5-0.5B, asked for a ``null`` it did not want to write, wrote newlines until its budget
ran out. Rules that a grammar cannot express (``not``, cross-field checks) stay with the
validators; LLMClient re-asks with the reason, as it does for API models, and a reply cut short
by the budget is re-asked the same way. Small models also loop inside a string until the budget
runs out, so greedy structured requests carry a mild repetition penalty.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from a3.llm.backends import BackendReply
from a3.llm.types import CallConfig, Message
from a3.store.hashing import sha256_of

log = logging.getLogger("a3.llm")

# Without a max_tokens, a local model stops here: an API model's long default (the original
# meta-analysis asks for 32,768 tokens) would keep a 2-core CPU busy for an hour.
DEFAULT_MAX_TOKENS = 1024
"""Where a local call without ``max_tokens`` stops, in tokens."""
# Decoded greedily under a grammar, a small model's string can loop ("It's also a good idea to ...")
# until the budget cuts the reply short. A mild penalty on repeated tokens breaks the loops:
# Qwen2.5-0.5B judge verdicts at 120 tokens were valid 8 of 12 times without it, 12 of 12 with it.
# Sampled replies get none (sampling breaks loops itself, and at temperature 1 the penalty pushed
# Qwen into multilingual word salad), nor do plain ones: a target's loops are its behaviour.
GREEDY_STRUCTURED_REPETITION_PENALTY = 1.2
# A greedy reply must depend on the weights and the query alone, not on what else the engine is
# generating beside it: base and adapter are compared query by query, and engine noise would be
# read as an effect of training. f32 arithmetic (faster than bf16 for single short greedy
# replies, bench/local_inference.py, though not for long prompts); no dynamic quantization of
# activations and an f32 KV cache, since the CPU plugin's defaults for both make a sequence's
# numbers depend on its batch companions (bench/determinism.py: 11 of 24 replies differed
# between one at a time and all at once with either on, none with both off).
BATCH_INVARIANT_PROPERTIES = {
    "INFERENCE_PRECISION_HINT": "f32",
    "DYNAMIC_QUANTIZATION_GROUP_SIZE": "0",
    "KV_CACHE_PRECISION": "f32",
}
# A model that writes (queries, look-alikes, expected replies, plans) measures nothing, so its
# replies need not be batch-invariant: it gets the CPU plugin's own performance defaults (bf16
# inference on a CPU with AMX, as the development machine's). Qwen2.5-0.5B on its 2 cores
# (bench/engine_modes.py): prefill 3.3 times the tokens/s, the demo's look-alike job in 6.6 s
# against 10.8 s, and 3 of 16 greedy replies changed between one at a time and all at once
# (none in exact mode).
ENGINE_MODES: dict[str, dict[str, str]] = {"exact": BATCH_INVARIANT_PROPERTIES, "fast": {}}
"""The engine's property sets by mode: ``exact`` for models that measure, ``fast`` for writers."""


@dataclass
class _Job:
    messages: list[Message]
    config: CallConfig
    schema: type[BaseModel] | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[BackendReply]
    ident: int = 0
    handle: Any = None
    input_tokens: int = 0
    cancelled: bool = field(default=False)


class EngineBackend:
    """Serves a GGUF file with the OpenVINO GenAI engine: continuous batching, grammar-constrained JSON.

    ``source`` is a GGUF file, or a function returning one (called once, in a worker thread,
    so that a first-use conversion does not block the event loop). ``mode`` is ``exact``
    (batch-invariant replies, for targets and judges) or ``fast`` (for models that only write)."""

    attempt_timeout = None  # no per-attempt timeout: generation is bounded by max_tokens

    def __init__(
        self,
        source: Path | Callable[[], Path],
        max_batch: int = 8,
        on_close: Callable[[], None] | None = None,
        mode: str = "exact",
    ) -> None:
        if mode not in ENGINE_MODES:
            raise ValueError(f"engine mode {mode!r}: use one of {', '.join(ENGINE_MODES)}")
        self.source = source
        self.max_batch = max(1, max_batch)
        self.mode = mode
        self.batch_sizes: list[int] = []  # requests in flight at each engine step, for tests and benchmarks
        self._on_close = on_close
        self._pipeline: Any = None
        self._tokenizer: Any = None
        self._defaults: Any = None
        self._inbox: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ids = itertools.count()
        self._loading = asyncio.Lock()
        _LIVE.add(self)

    async def prepare(self) -> None:
        """Load the model (LLMClient awaits this before the first call, outside its timeout)."""
        async with self._loading:
            if self._pipeline is None:
                await asyncio.to_thread(self._load)

    def close(self) -> None:
        """Stop serving: unfinished generations are dropped and the model's memory let go."""
        _LIVE.discard(self)
        if self._thread is not None:
            self._inbox.put(None)
            self._thread.join()
            self._thread = None
        self._pipeline = self._tokenizer = None
        if self._on_close is not None:
            self._on_close()

    async def complete(
        self, messages: Sequence[Message], config: CallConfig, schema: type[BaseModel] | None
    ) -> BackendReply:
        await self.prepare()
        loop = asyncio.get_running_loop()
        job = _Job(list(messages), config, schema, loop, loop.create_future())
        self._inbox.put(job)
        try:
            while not job.future.done():
                # Wake the event loop now and then. A Ctrl-C that the kernel hands to the engine
                # thread only sets Python's signal flag; the main thread acts on it when it next runs
                # Python, and an event loop waiting on nothing but this reply would sleep in epoll
                # until the generation ends (seen under load: Ctrl-C ignored by a long generation).
                await asyncio.wait({job.future}, timeout=_WAKE_S)
            return job.future.result()
        except asyncio.CancelledError:
            job.cancelled = True  # the engine thread stops it at its next step
            raise

    # -- the engine thread ----------------------------------------------------------------------

    def _load(self) -> None:
        import openvino_genai as ov_genai

        path = self.source() if callable(self.source) else Path(self.source)
        scheduler = ov_genai.SchedulerConfig()
        # No fixed size: the KV cache grows with what is in flight. A fixed 1 GB cache was resident
        # in full for SmolLM2-135M (1,656 MB peak against 722 MB, 96 prompts in batches of 8, the
        # same replies token for token); too few fixed blocks preempt sequences and change replies.
        scheduler.cache_size = 0
        scheduler.max_num_seqs = self.max_batch
        scheduler.enable_prefix_caching = True  # judge prompts share their rubric; re-asks their history
        properties = dict(ENGINE_MODES[self.mode])
        self._pipeline = ov_genai.ContinuousBatchingPipeline(str(path), scheduler, "CPU", properties)
        self._tokenizer = self._pipeline.get_tokenizer()
        self._defaults = self._pipeline.get_config()
        self._thread = threading.Thread(target=self._serve, name=f"a3-engine-{path.stem}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        running: dict[int, _Job] = {}
        while True:
            busy = self._pipeline.has_non_finished_requests()
            for job in self._arrivals(wait=not busy):
                if job is None:
                    self._drop(running)
                    return
                self._start(job, running)
            for job in [j for j in running.values() if j.cancelled]:
                job.handle.cancel()  # freed by the next step
                del running[job.ident]
            if not self._pipeline.has_non_finished_requests():
                continue
            try:
                self.batch_sizes.append(len(running))
                self._pipeline.step()
            except Exception as exc:  # noqa: BLE001 - every waiting caller gets the failure
                for job in running.values():
                    _deliver(job, exc)
                running.clear()
                continue
            self._collect(running)

    def _arrivals(self, wait: bool) -> list[_Job | None]:
        """What has arrived in the inbox; with ``wait``, at least one thing (the engine is idle)."""
        arrived = [self._inbox.get()] if wait else []
        while True:
            try:
                arrived.append(self._inbox.get_nowait())
            except queue.Empty:
                return arrived

    def _start(self, job: _Job, running: dict[int, _Job]) -> None:
        try:
            prompt = self._tokenizer.apply_chat_template(
                [m.model_dump() for m in job.messages], add_generation_prompt=True
            )
            ids = self._tokenizer.encode(prompt, add_special_tokens=False).input_ids
            job.input_tokens = ids.get_shape()[1]
            job.ident = next(self._ids)
            job.handle = self._pipeline.add_request(job.ident, ids, self._generation_config(job, prompt))
        except Exception as exc:  # noqa: BLE001 - a bad request fails alone
            _deliver(job, exc)
            return
        running[job.ident] = job

    def _collect(self, running: dict[int, _Job]) -> None:
        import openvino_genai as ov_genai

        for ident, job in list(running.items()):
            if job.handle.get_status() == ov_genai.GenerationStatus.RUNNING:
                continue
            del running[ident]
            outputs = job.handle.read_all()
            if not outputs:
                _deliver(job, RuntimeError(f"the engine ended request {ident} with status {job.handle.get_status()}"))
                continue
            output = outputs[0]
            finished = output.finish_reason == ov_genai.GenerationFinishReason.STOP
            _deliver(
                job,
                BackendReply(
                    text=self._tokenizer.decode(output.generated_ids, skip_special_tokens=True),
                    input_tokens=job.input_tokens,
                    output_tokens=len(output.generated_ids),
                    finish_reason="stop" if finished else "max_tokens",
                ),
            )

    def _drop(self, running: dict[int, _Job]) -> None:
        """Cancel what is running (and let the engine free it) and fail what has not started."""
        for job in running.values():
            job.handle.cancel()
            _deliver(job, RuntimeError("the local model was closed while generating"))
        while self._pipeline.has_non_finished_requests():
            self._pipeline.step()
        while True:
            try:
                waiting = self._inbox.get_nowait()
            except queue.Empty:
                return
            if waiting is not None:
                _deliver(waiting, RuntimeError("the local model was closed"))

    def _generation_config(self, job: _Job, prompt: str) -> Any:
        import openvino_genai as ov_genai

        config = job.config
        generation = ov_genai.GenerationConfig()
        generation.max_new_tokens = config.max_tokens or DEFAULT_MAX_TOKENS
        generation.eos_token_id = self._defaults.eos_token_id
        generation.stop_token_ids = self._defaults.stop_token_ids
        if config.temperature:
            generation.do_sample = True
            generation.temperature = config.temperature
            generation.top_p = config.top_p or 1.0
            # Seeded from the request's seed, its cache salt and its prompt: a repeated call draws
            # the same reply, while a re-ask (whose prompt differs) or a salted call (an independent
            # sample of the same prompt) draws afresh. A small model given the same draws on a
            # near-identical prompt repeats its mistake.
            generation.rng_seed = int(sha256_of([config.seed, config.cache_salt, prompt])[:8], 16)
        else:
            generation.do_sample = False
        if job.schema is not None:
            generation.structured_output_config = ov_genai.StructuredOutputConfig(regex=schema_regex(job.schema))
            if not config.temperature:
                generation.repetition_penalty = GREEDY_STRUCTURED_REPETITION_PENALTY
        return generation


_WAKE_S = 0.5  # how often a caller waiting on the engine wakes its event loop (see EngineBackend.complete)

# Engines still serving when the interpreter exits (after Ctrl-C, say) are stopped first, so that
# no generation runs on while Python shuts down.
_LIVE: weakref.WeakSet[EngineBackend] = weakref.WeakSet()


def _close_live() -> None:
    for engine in list(_LIVE):
        engine.close()


atexit.register(_close_live)


def schema_regex(schema: type[BaseModel]) -> str:
    """The replies valid for ``schema``, as compact JSON (at most one space between tokens), for
    the engine's grammar. String lengths are left to the validator (a ``minLength`` above 1 is
    written as 1, a ``maxLength`` not at all): the grammar compiler unrolls a counted repetition
    into one rule per character, so a hypothesis round's schema took 7.5 s to compile with its
    10-character minimums (0.3 s without), and a list of scenarios of at most 400 characters
    took about 4 minutes, with every other request of the engine waiting."""
    from outlines_core.json_schema import build_regex_from_schema

    regex: str = build_regex_from_schema(json.dumps(_string_lengths_unbounded(schema.model_json_schema())))
    # outlines-core keeps the C1 controls (\x80-\x9F) out of strings; xgrammar's classes are
    # bytes up to 127, so it would clamp that range to \x7F and print a warning on every compile.
    return regex.replace(r"\x7F-\x9F", r"\x7F")


def _string_lengths_unbounded(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: min(v, 1) if k == "minLength" and isinstance(v, int) else _string_lengths_unbounded(v)
            for k, v in node.items()
            if k != "maxLength"
        }
    if isinstance(node, list):
        return [_string_lengths_unbounded(v) for v in node]
    return node


def _deliver(job: _Job, outcome: BackendReply | BaseException) -> None:
    def settle() -> None:
        if job.future.done():
            return
        if isinstance(outcome, BaseException):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)

    if not job.loop.is_closed():
        job.loop.call_soon_threadsafe(settle)
