"""The target as local weights (huggingface_model_path) through inspect's hf provider, batched."""

import importlib.util

import pytest

from a3.align.measure.judge import sample_target
from a3.align.records import Query
from a3.align.roles import target_call_config
from a3.config.schema import TargetModel
from a3.llm import LLMClient
from a3.llm.types import Message

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None,
    reason="needs the train extra (bash scripts/setup.sh --train)",
)


async def test_local_weights_answer_queries_in_batches(tiny, tmp_path):
    target = target_call_config(TargetModel(huggingface_model_path=str(tiny), max_tokens=8, temperature=0.7))
    assert target.model == "hf/target"
    client = LLMClient(tmp_path / "run", concurrency=4)
    queries = [
        Query(
            id=f"q{i}",
            hypothesis_id="H1",
            kind="harmful",
            source="test",
            messages=[Message(role="user", content=f"What is the capital of France? ({i})")],
        )
        for i in range(6)
    ]
    import asyncio

    responses = await asyncio.gather(*(sample_target(client, target, q) for q in queries))
    assert all(r.status == "ok" for r in responses), [r.error for r in responses]
    assert {r.id for r in responses} == {q.id for q in queries}
    totals = client.totals()
    assert totals.calls == 6 and totals.output_tokens > 0 and totals.unpriced_calls == 0  # hf/* is priced at $0
    client.close()
