import asyncio
import json
import logging

import pytest
from pydantic import BaseModel

from a3.llm import (
    BudgetExceededError,
    CallConfig,
    LLMCallError,
    PriceTable,
    RetryPolicy,
    StructuredOutputError,
    TransientError,
    UnknownPriceError,
)
from a3.llm.backends import BackendReply
from a3.store import RunDir
from a3.testing import ScriptedClient

FAST_RETRY = RetryPolicy(max_attempts=4, initial_wait=0.001, max_wait=0.002)


class Verdict(BaseModel):
    reason: str
    harmful: bool


class HTTPError(Exception):
    def __init__(self, status_code):
        super().__init__(f"status {status_code}")
        self.status_code = status_code


def cfg(model="scripted/m", **kw):
    return CallConfig(model=model, **kw)


async def test_structured_output_repairs_then_validates():
    client = ScriptedClient(
        [
            "I think it is harmful.",
            '{"reason": "gives steps"}',
            '<json>{"reason": "gives steps", "harmful": true}</json>',
        ]
    )
    completion = await client.generate("judge this", config=cfg(), schema=Verdict)
    assert completion.parsed == Verdict(reason="gives steps", harmful=True)
    assert completion.repairs == 2
    # The re-ask shows the model its own reply and names what was wrong with it.
    second_call_messages = client.calls[1][0]
    assert second_call_messages[-2].content == "I think it is harmful."
    assert "no JSON object" in second_call_messages[-1].content
    third_call_messages = client.calls[2][0]
    assert "harmful" in third_call_messages[-1].content and "Field required" in third_call_messages[-1].content


async def test_a_sampled_reply_cut_off_at_its_budget_is_drawn_again_not_repaired():
    looped = '{"reason": "it gives it gives it gives it gives'

    def script(messages, config):
        if config.cache_salt is None:  # the first draw loops until its token budget runs out
            return BackendReply(text=looped, output_tokens=80, finish_reason="max_tokens")
        return '{"reason": "asks for the code", "harmful": true}'

    client = ScriptedClient(script)
    completion = await client.generate("judge this", config=cfg(temperature=0.8), schema=Verdict)
    assert completion.parsed == Verdict(reason="asks for the code", harmful=True) and completion.repairs == 1
    (first, first_config), (second, second_config) = client.calls
    assert second == first  # asked afresh: the looping reply is not shown back
    assert second_config.cache_salt == "|redraw 1"
    # greedy, the same request would give the same loop: the reply is shown back with the error instead
    cut_off = BackendReply(text=looped, finish_reason="max_tokens")
    greedy = ScriptedClient([cut_off, '{"reason": "r", "harmful": false}'])
    await greedy.generate("judge this", config=cfg(temperature=0.0), schema=Verdict)
    assert greedy.calls[1][0][-2].content == looped and greedy.calls[1][1].cache_salt is None


async def test_structured_output_fails_loudly_and_keeps_raw_replies(tmp_path):
    client = ScriptedClient(lambda m, c: "not json at all", run_dir=tmp_path / "run", max_repairs=1)
    with pytest.raises(StructuredOutputError) as info:
        await client.generate("judge", config=cfg(), schema=Verdict)
    error = info.value
    assert error.raw_replies == ["not json at all", "not json at all"]
    saved = json.loads(open(error.saved_to).read())
    assert saved["raw_replies"] == error.raw_replies and saved["schema"] == "Verdict"


async def test_transient_errors_are_retried_and_counted():
    replies = [HTTPError(429), HTTPError(503), TransientError("empty"), "fine"]
    client = ScriptedClient(replies, retry=FAST_RETRY)
    completion = await client.generate("hi", config=cfg())
    assert completion.text == "fine"
    assert completion.attempts == 4
    assert client.totals().calls == 1  # one billed reply in the ledger


async def test_non_retryable_error_is_not_retried():
    client = ScriptedClient([HTTPError(400), "never reached"], retry=FAST_RETRY)
    with pytest.raises(LLMCallError, match="HTTP 400.*not retried"):
        await client.generate("hi", config=cfg())
    assert len(client.calls) == 1


async def test_retries_run_out_with_a_clear_error():
    client = ScriptedClient(lambda m, c: HTTPError(500), retry=FAST_RETRY)
    with pytest.raises(LLMCallError, match="gave up after 4 attempts") as info:
        await client.generate("hi", config=cfg())
    assert info.value.attempts == 4 and len(client.calls) == 4


async def test_empty_reply_is_retried_unless_allowed():
    client = ScriptedClient(["", "ok"], retry=FAST_RETRY)
    assert (await client.generate("hi", config=cfg())).text == "ok"
    allowing = ScriptedClient([""], retry=FAST_RETRY)
    assert (await allowing.generate("hi", config=cfg(), allow_empty=True)).text == ""


async def test_attempt_timeout_is_retried():
    async def slow_then_fast(messages, config):
        if not hasattr(slow_then_fast, "seen"):
            slow_then_fast.seen = True
            await asyncio.sleep(5)
        return "made it"

    client = ScriptedClient(slow_then_fast, retry=FAST_RETRY)
    completion = await client.generate("hi", config=cfg(timeout=0.05))
    assert completion.text == "made it" and completion.attempts == 2


async def test_cache_in_run_dir_replays_without_calls(tmp_path):
    run = tmp_path / "run"
    first = ScriptedClient(lambda m, c: "reply " + m[-1].content, run_dir=run)
    await asyncio.gather(*(first.generate(f"q{i}", config=cfg()) for i in range(5)))
    first.close()
    second = ScriptedClient(lambda m, c: pytest.fail("a cached call reached the model"), run_dir=run)
    completion = await second.generate("q3", config=cfg())
    assert completion.text == "reply q3" and completion.cached and completion.cost_usd == 0
    totals = second.totals()
    assert totals.calls == 5 and totals.cache_hits == 1


async def test_cache_key_changes_with_sampling_settings_and_salt():
    client = ScriptedClient(lambda m, c: f"t={c.temperature} salt={c.cache_salt}")
    await client.generate("q", config=cfg(temperature=0.0))
    await client.generate("q", config=cfg(temperature=0.0))
    await client.generate("q", config=cfg(temperature=0.7))
    await client.generate("q", config=cfg(temperature=0.7, cache_salt="sample-2"))
    assert len(client.calls) == 3


async def test_cache_key_ignores_secrets():
    client = ScriptedClient(lambda m, c: "x")
    await client.generate("q", config=cfg(model_args={"api_key": "one"}))
    await client.generate("q", config=cfg(model_args={"api_key": "two"}))
    assert len(client.calls) == 1


async def test_costs_come_from_the_price_table(tmp_path):
    prices = PriceTable({"scripted/priced": [3.0, 15.0]})
    client = ScriptedClient(lambda m, c: "x" * 400, prices=prices, run_dir=tmp_path / "run")
    completion = await client.generate("y" * 4000, config=cfg("scripted/priced"))
    assert completion.usage.input_tokens == 1000 and completion.usage.output_tokens == 100
    assert completion.cost_usd == pytest.approx((1000 * 3 + 100 * 15) / 1e6)
    ledger = RunDir(tmp_path / "run").ledger.entries()
    assert ledger[0].cost_usd == pytest.approx(completion.cost_usd)


async def test_unknown_price_warns_and_is_never_zero(caplog):
    client = ScriptedClient(lambda m, c: "x")
    with caplog.at_level(logging.WARNING, logger="a3.llm"):
        first = await client.generate("a", config=cfg("mystery/model"))
        await client.generate("b", config=cfg("mystery/model"))
    assert first.cost_usd is None
    assert sum("no price is known" in r.message for r in caplog.records) == 1  # warned once
    totals = client.totals()
    assert totals.unpriced_calls == 2 and totals.cost_usd == 0


async def test_budget_stops_before_the_cap_is_passed(tmp_path):
    prices = PriceTable({"scripted/priced": [1000.0, 1000.0]})  # $0.001 per token
    client = ScriptedClient(lambda m, c: "x" * 40, prices=prices, max_cost=0.5, run_dir=tmp_path / "run")
    done = 0
    with pytest.raises(BudgetExceededError, match="cost cap"):
        for i in range(100):
            await client.generate(f"q{i}", config=cfg("scripted/priced", max_tokens=10))
            done += 1
    assert 0 < done < 100
    assert client.spent_usd <= 0.5
    # A new client on the same run keeps counting what was already spent.
    again = ScriptedClient(lambda m, c: "x", prices=prices, max_cost=0.5, run_dir=tmp_path / "run")
    assert again.spent_usd == pytest.approx(client.spent_usd)


async def test_budget_with_unknown_price_refuses_to_guess():
    client = ScriptedClient(lambda m, c: "x", max_cost=1.0)
    with pytest.raises(UnknownPriceError, match="cannot be enforced"):
        await client.generate("q", config=cfg("mystery/model"))
    assert client.calls == []


async def test_concurrency_is_bounded_per_model():
    in_flight = {"now": 0, "max": 0}

    async def track(messages, config):
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        await asyncio.sleep(0.01)
        in_flight["now"] -= 1
        return "ok"

    client = ScriptedClient(track, concurrency={"scripted/a": 3, "*": 5})
    await asyncio.gather(*(client.generate(f"q{i}", config=cfg("scripted/a")) for i in range(20)))
    assert in_flight["max"] == 3
    in_flight["max"] = 0
    await asyncio.gather(*(client.generate(f"q{i}", config=cfg("scripted/b")) for i in range(20)))
    assert in_flight["max"] == 5


async def test_stage_attribution_in_ledger(tmp_path):
    run = RunDir(tmp_path / "run")
    client = ScriptedClient(lambda m, c: "ok", run_dir=run)
    with run.stage("judge", inputs={}):
        await client.generate("a", config=cfg())
    await client.generate("b", config=cfg(), stage="expected")
    assert run.manifest("judge").usage.calls == 1
    assert [e.stage for e in run.ledger.entries()] == ["judge", "expected"]


async def test_a_backend_can_lift_the_attempt_timeout():
    from a3.testing import ScriptedBackend

    class SlowLocal(ScriptedBackend):
        attempt_timeout = None  # like the local backend: bounded by its token budget, not a clock

    async def slow(messages, config):
        await asyncio.sleep(0.2)
        return "finished"

    from a3.llm import LLMClient

    backend = SlowLocal(slow)
    client = LLMClient(retry=FAST_RETRY, backend_factory=lambda model, args, limit: backend)
    completion = await client.generate("hi", config=cfg(timeout=0.05))
    assert completion.text == "finished" and completion.attempts == 1


async def test_identical_calls_in_flight_share_one_reply_and_one_failure():
    made = []

    async def slow(messages, config):
        made.append(messages[-1].content)
        await asyncio.sleep(0.02)
        if messages[-1].content == "broken":
            raise HTTPError(400)
        return f"reply {len(made)}"

    client = ScriptedClient(slow)
    first, second, other = await asyncio.gather(*(client.generate(q, config=cfg()) for q in ("same", "same", "other")))
    assert made == ["same", "other"]  # the second identical request waited for the first one's reply
    assert first.text == second.text and not first.cached and second.cached and second.cost_usd == 0
    results = await asyncio.gather(*(client.generate("broken", config=cfg()) for _ in range(2)), return_exceptions=True)
    assert made.count("broken") == 1 and all(isinstance(r, LLMCallError) for r in results)


async def test_a_cancelled_call_does_not_leave_its_twin_waiting():
    async def slow(messages, config):
        await asyncio.sleep(0.05)
        return "done"

    client = ScriptedClient(slow)
    first = asyncio.ensure_future(client.generate("q", config=cfg()))
    second = asyncio.ensure_future(client.generate("q", config=cfg()))
    await asyncio.sleep(0.01)
    first.cancel()
    assert (await asyncio.wait_for(second, 1)).text == "done"
    assert first.cancelled()


def test_weights_id_keys_the_cache_only_when_set():
    # Left out of dumps, so cache keys, judge identities and pinned settings made before it existed still hold.
    from a3.llm import CallConfig

    plain = CallConfig(model="scripted/x", temperature=0.0)
    assert "weights_id" not in plain.model_dump()
    client = ScriptedClient(lambda m, c: "ok")
    key = client._cache_key([], plain, None)
    assert key == client._cache_key([], CallConfig(model="scripted/x", temperature=0.0, weights_id=None), None)
    assert key != client._cache_key([], plain.model_copy(update={"weights_id": "abc"}), None)


async def test_release_all_frees_every_backend_and_the_client_makes_them_again_on_demand():
    from a3.llm import LLMClient
    from a3.testing import ScriptedBackend

    made, closed = [], []

    class Tracked(ScriptedBackend):
        def close(self):
            closed.append(self)

    def factory(model, args, limit):
        async def reply(messages, config):
            return f"{model} answers"

        made.append(Tracked(reply))
        return made[-1]

    client = LLMClient(retry=FAST_RETRY, backend_factory=factory)
    await client.generate("a", config=cfg(model="scripted/one"))
    await client.generate("b", config=cfg(model="scripted/two"))
    client.release_all()
    assert closed == made and len(made) == 2
    again = await client.generate("c", config=cfg(model="scripted/one"))
    assert again.text == "scripted/one answers" and len(made) == 3 and made[2] not in closed
