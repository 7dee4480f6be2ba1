"""LLMClient: the one door to every model in A3.

It owns what every call needs, whatever the backend: bounded concurrency per model, retries with
backoff, the content-addressed call cache, structured output with validation and repair, the
token and cost ledger, and the ``max_cost`` budget (kept by ``a3.llm.budget``). Which backend
serves a model is ``a3.llm.routing``'s to say.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from a3.llm.backends import BackendReply
from a3.llm.budget import Budget
from a3.llm.cache import CallCache
from a3.llm.errors import LLMCallError, StructuredOutputError, TransientError
from a3.llm.pricing import PriceTable
from a3.llm.retry import RetryPolicy, is_retryable, retry_after_seconds, status_code, unwrap
from a3.llm.routing import BackendFactory, BackendPool, default_backend
from a3.llm.structured import parse_reply, schema_text
from a3.llm.types import TRUNCATED_FINISH, CallConfig, Completion, Message, Usage
from a3.prompts import load_prompt
from a3.secrets import is_secret_name, redact
from a3.store.atomic import atomic_write_json
from a3.store.hashing import sha256_of
from a3.store.ledger import Ledger, LedgerEntry, UsageTotals
from a3.store.run import RunDir, current_stage

log = logging.getLogger("a3.llm")

MessagesLike = str | Sequence[Message | dict[str, str]]


def to_messages(messages: MessagesLike) -> list[Message]:
    if isinstance(messages, str):
        return [Message(role="user", content=messages)]
    return [m if isinstance(m, Message) else Message.model_validate(m) for m in messages]


class LLMClient:
    """The one way A3 calls a model: cache, retries, concurrency, structured output, cost ledger and cap.

    Args:
        run_dir: the run directory whose call cache and ledger the client uses (and which it claims, one
            writer per run); None keeps nothing.
        max_cost: the cap in USD; a call that could pass it is not made (BudgetExceededError).
        concurrency: concurrent calls per model: one limit for all, or a mapping of model strings to
            limits (``"*"``: every other model; 16 when it is missing).
        retry: how transient failures are retried.
        max_repairs: how often a reply that does not fit the schema is sent back with the error.
        prices: the price table (default: the packaged prices and ``A3_PRICES``).
        backend_factory: what serves each model string."""

    def __init__(
        self,
        run_dir: RunDir | str | Path | None = None,
        *,
        max_cost: float | None = None,
        concurrency: int | dict[str, int] = 16,
        retry: RetryPolicy | None = None,
        max_repairs: int = 2,
        prices: PriceTable | None = None,
        backend_factory: BackendFactory = default_backend,
    ) -> None:
        self.budget = Budget(max_cost, prices or PriceTable())  # a bad cap is refused before the run is claimed
        if isinstance(run_dir, (str, Path)):
            run_dir = RunDir(run_dir)
        if run_dir is not None:
            run_dir.claim()  # its cache and ledger are written by one process only
        self.run_dir = run_dir
        self.cache = CallCache(run_dir.cache_path if run_dir else None)
        self.ledger = run_dir.ledger if run_dir else Ledger(None)
        self.retry = retry or RetryPolicy()
        self.max_repairs = max_repairs
        self._concurrency = concurrency
        self._backends = BackendPool(backend_factory)
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._reconcile()
        self.budget.spent = self.ledger.totals().cost_usd  # a resumed run keeps counting what it already spent
        self._in_flight: dict[str, asyncio.Future[BackendReply]] = {}

    def _reconcile(self) -> None:
        """Paid replies in the cache whose ledger entry was lost go back into the ledger, marked,
        so the cost shown and the cap count every paid call after a resume."""
        paid = self.cache.paid_entries()
        if not paid:
            return
        recorded = {entry.key for entry in self.ledger.entries() if not entry.cached}
        for key in sorted(set(paid) - recorded, key=lambda k: paid[k].ts):
            self.ledger.record(paid[key].model_copy(update={"reconciled": True}))

    # -- public -------------------------------------------------------------------------------

    async def generate(
        self,
        messages: MessagesLike,
        *,
        config: CallConfig,
        schema: type[BaseModel] | None = None,
        stage: str | None = None,
        prompt_version: str | None = None,
        allow_empty: bool = False,
        extract: Callable[[str], Any] | None = None,
    ) -> Completion:
        """One completion. With ``schema``, ``Completion.parsed`` is a validated instance, or
        StructuredOutputError is raised after ``max_repairs`` re-asks (raw replies kept).
        ``extract`` replaces the default JSON finder: it maps the raw reply to the data to
        validate, raising ValueError when there is none."""
        started = time.perf_counter()
        conversation = to_messages(messages)
        stage = stage or current_stage.get()
        totals = _CallTotals()
        raw_replies: list[str] = []
        errors: list[str] = []
        rounds = 1 + (self.max_repairs if schema is not None else 0)
        asked = config
        for repair in range(rounds):
            reply = await self._complete(conversation, asked, schema, stage, prompt_version, allow_empty, totals)
            if schema is None:
                return totals.completion(reply, None, config.model, repair, started)
            try:
                parsed = parse_reply(reply.text, schema, extract)
            except ValueError as exc:
                raw_replies.append(reply.text)
                errors.append(str(exc))
                if config.temperature and reply.finish_reason in TRUNCATED_FINISH:
                    # A sampled reply cut off at its budget has looped: shown it again, the 0.5B
                    # generator copied it word for word on every repair. Ask afresh, another draw.
                    asked = config.model_copy(update={"cache_salt": f"{config.cache_salt or ''}|redraw {repair + 1}"})
                    continue
                repair_prompt = load_prompt("structured_repair")
                conversation = [
                    *conversation,
                    Message(role="assistant", content=reply.text),
                    Message(role="user", content=repair_prompt.render(error=str(exc), schema=schema_text(schema))),
                ]
                continue
            return totals.completion(reply, parsed, config.model, repair, started)
        assert schema is not None  # without a schema the first reply was returned
        saved_to = self._save_failure(config, schema, conversation, raw_replies, errors)
        raise StructuredOutputError(
            f"{config.model}: no reply matched {schema.__name__} after {rounds} tries: {errors[-1]}"
            + (f" (raw replies saved to {saved_to})" if saved_to else ""),
            model=config.model,
            raw_replies=raw_replies,
            errors=errors,
            saved_to=saved_to,
        )

    def totals(self, stage: str | None = None) -> UsageTotals:
        return self.ledger.totals(stage=stage)

    @property
    def spent_usd(self) -> float:
        return self.budget.spent

    def close(self) -> None:
        """Close the cache and every backend (local models stop generating and free their memory)."""
        self._backends.close()
        self.cache.close()

    def release_all(self) -> None:
        """Drop every backend (local models free their memory); the client stays usable, and a
        later call makes the backend it needs again. Stages call this when they end, so a model
        is resident only while a stage needs it."""
        self._backends.close()

    def release(self, config: CallConfig) -> None:
        """Drop the backend serving ``config`` (a local model frees its memory); a later call
        makes a new one."""
        self._backends.release(config)

    # -- one request, with cache, budget, concurrency and retries --------------------------------

    async def _complete(
        self,
        messages: list[Message],
        config: CallConfig,
        schema: type[BaseModel] | None,
        stage: str | None,
        prompt_version: str | None,
        allow_empty: bool,
        totals: _CallTotals,
    ) -> BackendReply:
        key = self._cache_key(messages, config, schema)
        hit = self.cache.get(key)
        # A cached reply, or that of the same request already being made (a retried straggler, say).
        reply = hit if hit is not None else await self._share_in_flight(key)
        if reply is not None:
            self.ledger.record(
                self._entry(
                    key, config.model, stage, prompt_version, reply, cost=0.0, cached=True, attempts=0, backend_s=0.0
                )
            )
            totals.add(reply, 0.0, cached=True, attempts=0, backend_s=0.0)
            return reply

        estimate = self.budget.reserve(messages, config)
        pending: asyncio.Future[BackendReply] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = pending
        try:
            reply, attempts, backend_s = await self._call_with_retries(messages, config, schema, allow_empty)
        except asyncio.CancelledError:
            pending.cancel()
            raise
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # retrieved here, so an unshared failure is not logged a second time
            raise
        finally:
            self.budget.release(estimate)
            del self._in_flight[key]
        pending.set_result(reply)
        cost = self.budget.charge(config.model, reply.input_tokens, reply.output_tokens)
        entry = self._entry(
            key,
            config.model,
            stage,
            prompt_version,
            reply,
            cost=cost,
            cached=False,
            attempts=attempts,
            backend_s=backend_s,
        )
        self.cache.put(key, reply, paid=entry)  # the paid reply and its cost, before anything else can fail
        self.ledger.record(entry)
        totals.add(reply, cost, cached=False, attempts=attempts, backend_s=backend_s)
        return reply

    async def _share_in_flight(self, key: str) -> BackendReply | None:
        """The reply of an identical call already under way, or None when there is none (or it was
        cancelled, so this caller makes the call itself). Its failure is this caller's failure."""
        shared = self._in_flight.get(key)
        if shared is None:
            return None
        try:
            return await asyncio.shield(shared)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not shared.cancelled() or (task is not None and task.cancelling()):
                raise
            return None

    async def _call_with_retries(
        self, messages: list[Message], config: CallConfig, schema: type[BaseModel] | None, allow_empty: bool
    ) -> tuple[BackendReply, int, float]:
        backend = self._backends.get(config, self._limit(config.model))
        prepare = getattr(backend, "prepare", None)
        if prepare is not None:  # e.g. loading a local model: not part of any attempt's timeout
            await prepare()
        semaphore = self._semaphore(config.model)
        # A backend may set its own attempt timeout: a local model's work is bounded by its token
        # budget, and a generation cut off in its thread would only keep the CPU busy.
        attempt_timeout = getattr(backend, "attempt_timeout", config.timeout)
        backend_s = 0.0
        for attempt in range(1, self.retry.max_attempts + 1):
            t0 = time.perf_counter()
            try:
                async with semaphore:
                    t0 = time.perf_counter()
                    reply = await asyncio.wait_for(backend.complete(messages, config, schema), attempt_timeout)
                if not allow_empty and not reply.text.strip():
                    raise TransientError("the model returned an empty reply")
                return reply, attempt, backend_s + time.perf_counter() - t0
            except asyncio.CancelledError:
                raise
            except Exception as raw:  # noqa: BLE001 - classified just below
                backend_s += time.perf_counter() - t0
                exc = unwrap(raw)
                if isinstance(exc, TimeoutError) or isinstance(raw, TimeoutError):
                    exc = TransientError(f"no reply within {attempt_timeout:g} s")
                if not is_retryable(exc):
                    raise LLMCallError(
                        f"{config.model}: {_describe(exc)} (not retried)",
                        model=config.model,
                        attempts=attempt,
                        cause=exc,
                    ) from exc
                if attempt == self.retry.max_attempts:
                    raise LLMCallError(
                        f"{config.model}: {_describe(exc)}; gave up after {attempt} attempts",
                        model=config.model,
                        attempts=attempt,
                        cause=exc,
                    ) from exc
                wait = self.retry.wait(attempt, retry_after_seconds(exc))
                log.info("%s: %s; retrying in %.1f s (attempt %d)", config.model, _describe(exc), wait, attempt)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    # -- helpers --------------------------------------------------------------------------------

    def _cache_key(self, messages: list[Message], config: CallConfig, schema: type[BaseModel] | None) -> str:
        request = config.model_dump(exclude={"timeout"})
        request["model_args"] = {k: v for k, v in config.model_args.items() if not is_secret_name(k)}
        if config.weights_id is not None:
            request["weights_id"] = config.weights_id
        return sha256_of(
            {
                "request": request,
                "messages": [m.model_dump() for m in messages],
                "schema": schema.model_json_schema() if schema is not None else None,
            }
        )

    def _entry(
        self,
        key: str,
        model: str,
        stage: str | None,
        prompt_version: str | None,
        reply: BackendReply,
        *,
        cost: float | None,
        cached: bool,
        attempts: int,
        backend_s: float,
    ) -> LedgerEntry:
        return LedgerEntry(
            ts=time.time(),
            key=key,
            stage=stage,
            model=model,
            prompt_version=prompt_version,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cost_usd=cost,
            cached=cached,
            attempts=attempts,
            backend_s=round(backend_s, 4),
        )

    def _limit(self, model: str) -> int:
        if isinstance(self._concurrency, int):
            return self._concurrency
        return self._concurrency.get(model, self._concurrency.get("*", 16))

    def _semaphore(self, model: str) -> asyncio.Semaphore:
        semaphore = self._semaphores.get(model)
        if semaphore is None:
            semaphore = self._semaphores[model] = asyncio.Semaphore(self._limit(model))
        return semaphore

    def _save_failure(
        self,
        config: CallConfig,
        schema: type[BaseModel] | None,
        conversation: list[Message],
        raw_replies: list[str],
        errors: list[str],
    ) -> str | None:
        if self.run_dir is None:
            return None
        record = {
            "model": config.model,
            "schema": schema.__name__ if schema else None,
            "errors": [redact(e) for e in errors],
            "raw_replies": raw_replies,
            "conversation": [m.model_dump() for m in conversation],
        }
        path = self.run_dir.path / "failures" / f"{sha256_of(record)[:16]}.json"
        atomic_write_json(path, record)
        return str(path)


class _CallTotals:
    """Adds up the requests behind one ``generate`` (the first ask and any repairs)."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.cost: float | None = 0.0
        self.cached = True
        self.attempts = 0
        self.backend_s = 0.0

    def add(self, reply: BackendReply, cost: float | None, *, cached: bool, attempts: int, backend_s: float) -> None:
        self.usage.input_tokens += reply.input_tokens
        self.usage.output_tokens += reply.output_tokens
        self.cost = None if cost is None or self.cost is None else self.cost + cost
        self.cached = self.cached and cached
        self.attempts += attempts
        self.backend_s += backend_s

    def completion(self, reply: BackendReply, parsed: Any, model: str, repairs: int, started: float) -> Completion:
        return Completion(
            text=reply.text,
            parsed=parsed,
            model=model,
            usage=self.usage,
            cost_usd=self.cost,
            cached=self.cached,
            finish_reason=reply.finish_reason,
            attempts=self.attempts,
            repairs=repairs,
            backend_s=self.backend_s,
            total_s=time.perf_counter() - started,
        )


def _describe(exc: BaseException) -> str:
    code = status_code(exc)
    text = redact(str(exc).splitlines()[0][:200]) if str(exc) else type(exc).__name__
    return f"HTTP {code}: {text}" if code is not None else f"{type(exc).__name__}: {text}"
