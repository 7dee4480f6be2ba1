"""The DSPy engine over LLMClient: DSPy programs reach models only through the client."""

import asyncio
import json

import dspy
import pytest
from dspy.lm15 import Message as DspyMessage
from dspy.lm15 import Request

from a3.llm import BudgetExceededError, CallConfig, PriceTable
from a3.llm.dspy_engine import LLMClientEngine, LoopBridge, StopProgram, dspy_lm, request_messages
from a3.store import RunDir
from a3.testing import ScriptedClient


class Answer(dspy.Signature):
    """Answer the question."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


async def test_a_program_in_a_worker_thread_calls_the_client_with_its_settings(tmp_path):
    run = RunDir(tmp_path / "run")
    seen = []

    def script(messages, config):
        seen.append((messages, config))
        return "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"

    client = ScriptedClient(script, run_dir=run)
    config = CallConfig(model="scripted/task", temperature=0.3, max_tokens=50)
    lm = dspy_lm(LLMClientEngine(client, config, LoopBridge(asyncio.get_running_loop(), "dspy-test")))

    def ask():
        with dspy.context(lm=lm):
            return dspy.Predict(Answer)(question="Capital of France?")

    assert (await asyncio.to_thread(ask)).answer == "Paris"
    messages, sent = seen[0]
    assert [m.role for m in messages] == ["system", "user"] and "Answer the question." in messages[0].content
    assert sent == config  # the engine's settings, not DSPy's
    assert [(e.model, e.stage) for e in run.ledger.entries()] == [("scripted/task", "dspy-test")]


async def test_calling_from_the_clients_own_loop_is_refused_rather_than_deadlocking():
    engine = LLMClientEngine(
        ScriptedClient(lambda m, c: "x"), CallConfig(model="scripted/m"), LoopBridge(asyncio.get_running_loop())
    )
    with pytest.raises(RuntimeError, match="worker thread"):
        engine.complete(Request(model="a3", messages=(DspyMessage.user("hi"),)))


async def test_a_schema_reply_reaches_dspy_as_validated_json():
    from a3.align.compare.dspy.program import NewInstruction

    replies = iter(['{"new_instruction": ""}', '{"new_instruction": "Be careful."}'])
    client = ScriptedClient(lambda m, c: next(replies))
    engine = LLMClientEngine(
        client, CallConfig(model="scripted/reflect"), LoopBridge(asyncio.get_running_loop()), schema=NewInstruction
    )
    response = await asyncio.to_thread(engine.complete, Request(model="a3", messages=(DspyMessage.user("propose"),)))
    assert json.loads(response.message.parts[0].text) == {"new_instruction": "Be careful."}


async def test_a_spent_budget_is_raised_past_dspys_per_example_error_handling():
    client = ScriptedClient(
        lambda m, c: "[[ ## answer ## ]]\nx\n\n[[ ## completed ## ]]",
        prices=PriceTable({"scripted/task": (1e6, 1e6)}),
        max_cost=0.5,
    )
    lm = dspy_lm(
        LLMClientEngine(
            client, CallConfig(model="scripted/task", max_tokens=10), LoopBridge(asyncio.get_running_loop())
        )
    )
    devset = [dspy.Example(question=f"q{i}", answer="x").with_inputs("question") for i in range(4)]

    def evaluate():
        with dspy.context(lm=lm):
            return dspy.Evaluate(devset=devset, metric=lambda g, p, t=None: 1.0, num_threads=2)(dspy.Predict(Answer))

    with pytest.raises(StopProgram) as stopped:
        await asyncio.to_thread(evaluate)
    assert isinstance(stopped.value.error, BudgetExceededError)


def test_requests_with_tools_or_other_roles_are_refused_not_trimmed():
    from dspy.lm15 import FunctionTool

    tool = FunctionTool(name="search", description="search", parameters={"type": "object", "properties": {}})
    with pytest.raises(ValueError, match="tools"):
        request_messages(Request(model="a3", messages=(DspyMessage.user("hi"),), tools=(tool,)))
    with pytest.raises(ValueError, match="developer"):
        request_messages(
            Request(model="a3", messages=(DspyMessage(role="developer", parts=(dspy.lm15.TextPart("x"),)),))
        )
    converted = request_messages(Request(model="a3", system="be brief", messages=(DspyMessage.user("hi"),)))
    assert [(m.role, m.content) for m in converted] == [("system", "be brief"), ("user", "hi")]
