"""The inference engine for the embedded models (a3.llm.local.engine) and the GGUF rewrite that
prepares them (a3.llm.local.gguf_rewrite), on a tiny random model built in code: fast, so these
run everywhere the engine is installed. The real models are in test_local_real.py."""

import asyncio
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from a3.llm import CallConfig, LLMClient
from tests.paths import ROOT

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("openvino_genai") is None or importlib.util.find_spec("gguf") is None,
    reason="needs the local engine (bash scripts/setup.sh --models)",
)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    from a3.testing.tiny_gguf import build_tiny_gguf

    return build_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


def engine_client(path, tmp_path, max_batch=8, mode="exact", **kwargs):
    from a3.llm.local import EngineBackend

    backend = EngineBackend(path, max_batch=max_batch, mode=mode)
    client = LLMClient(
        tmp_path / "run", backend_factory=lambda model, args, limit: backend, concurrency=max_batch, **kwargs
    )
    return backend, client


def noise(max_tokens, **kwargs):
    return CallConfig(model="local/tiny", max_tokens=max_tokens, **kwargs)


async def test_concurrent_requests_share_engine_steps_and_short_replies_do_not_wait_for_long_ones(tiny_gguf, tmp_path):
    backend, client = engine_client(tiny_gguf, tmp_path)
    finished: list[int] = []

    async def ask(index, max_tokens):
        completion = await client.generate(
            f"question {index}", config=noise(max_tokens, temperature=0.0), allow_empty=True
        )
        finished.append(index)
        return completion

    # The short replies are 64 tokens, not 4: long enough that all eight are in flight at once even
    # when a loaded machine spreads their arrivals over a few engine steps (CI saw at most 3 with 4).
    completions = await asyncio.gather(ask(0, 300), *(ask(i, 64) for i in range(1, 8)))
    assert max(backend.batch_sizes) == 8  # all eight in flight at once
    assert finished[-1] == 0  # the long one ended last ...
    assert finished.index(0) == 7 and len(backend.batch_sizes) < 300 + 20  # ... and the short ones did not wait for it
    assert [c.usage.output_tokens for c in completions] == [300] + [64] * 7
    assert all(c.finish_reason == "max_tokens" and c.usage.input_tokens > 5 for c in completions)
    backend.close()


async def test_a_cancelled_caller_stops_its_generation_at_the_next_step(tiny_gguf, tmp_path):
    backend, client = engine_client(tiny_gguf, tmp_path)
    task = asyncio.create_task(client.generate("write forever", config=noise(100_000), allow_empty=True))
    while len(backend.batch_sizes) < 5:  # generating
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)
    steps = len(backend.batch_sizes)
    await asyncio.sleep(0.3)
    assert len(backend.batch_sizes) == steps  # nothing runs on
    reply = await client.generate("and now something short", config=noise(3), allow_empty=True)
    assert reply.usage.output_tokens == 3  # the engine still serves
    backend.close()


async def test_closing_the_engine_fails_waiting_callers_instead_of_leaving_them_hanging(tiny_gguf, tmp_path):
    backend, client = engine_client(tiny_gguf, tmp_path)
    task = asyncio.create_task(client.generate("write forever", config=noise(100_000), allow_empty=True))
    while not backend.batch_sizes:
        await asyncio.sleep(0.01)
    await asyncio.to_thread(backend.close)
    with pytest.raises(Exception, match="closed"):
        await asyncio.wait_for(task, 5)


async def test_sampling_is_seeded_per_request_and_greedy_decoding_repeats(tiny_gguf, tmp_path):
    backend, client = engine_client(tiny_gguf, tmp_path)

    async def reply(seed, salt, temperature=1.0):
        config = noise(12, temperature=temperature, seed=seed, cache_salt=salt)
        return (await client.generate("tell me something", config=config, allow_empty=True)).text

    same_seed = await asyncio.gather(reply(7, None), reply(7, None))  # one call, twice: the same sample
    assert same_seed[0] == same_seed[1]
    salted = await asyncio.gather(*(reply(7, salt) for salt in "abcd"))  # salted: independent samples
    assert len(set(salted)) > 1
    others = {await reply(seed, "c") for seed in range(4)}
    assert len(others) > 1
    assert await reply(None, "d", 0.0) == await reply(None, "e", 0.0)
    backend.close()


async def test_a_greedy_reply_does_not_depend_on_what_is_generated_beside_it(tiny_gguf, tmp_path):
    # A random tiny model's logits are nearly flat, so the smallest numerical difference between
    # batch compositions changes its argmax: a sensitive detector of batch-dependent arithmetic.
    backend, client = engine_client(tiny_gguf, tmp_path)
    prompts = [f"question {i}: " + "and so on " * i for i in range(16)]

    async def one(prompt, salt):
        config = noise(24, temperature=0.0, cache_salt=salt)  # salted: generated, not replayed from the cache
        return (await client.generate(prompt, config=config, allow_empty=True)).text

    alone = [await one(p, "alone") for p in prompts]
    together = await asyncio.gather(*(one(p, "together") for p in prompts))
    again = await asyncio.gather(*(one(p, "again") for p in reversed(prompts)))
    assert max(backend.batch_sizes) > 1
    assert list(together) == alone and list(reversed(again)) == alone
    backend.close()


async def test_each_mode_compiles_the_model_with_its_properties_and_an_unknown_mode_is_refused(
    tiny_gguf, tmp_path, monkeypatch
):
    import openvino_genai

    from a3.llm.local import EngineBackend, local_backend
    from a3.llm.local.engine import BATCH_INVARIANT_PROPERTIES

    compiled_with = []
    real = openvino_genai.ContinuousBatchingPipeline

    def recording(path, scheduler, device, properties):
        compiled_with.append(properties)
        return real(path, scheduler, device, properties)

    monkeypatch.setattr(openvino_genai, "ContinuousBatchingPipeline", recording)
    for mode in ("fast", "exact"):
        backend, client = engine_client(tiny_gguf, tmp_path / mode, mode=mode)
        reply = await client.generate("question", config=noise(8, temperature=0.0), allow_empty=True)
        assert reply.usage.output_tokens > 0  # the fast mode serves too
        backend.close()
    # fast: the CPU plugin's own defaults; exact: f32 arithmetic, no dynamic quantization, f32 KV cache
    assert compiled_with == [{}, BATCH_INVARIANT_PROPERTIES]
    assert local_backend("local/smollm2-135m", {"engine_mode": "fast"}, 4).mode == "fast"
    assert local_backend("local/smollm2-135m", {}, 4).mode == "exact"
    with pytest.raises(ValueError, match="engine mode 'quick'"):
        EngineBackend(tiny_gguf, mode="quick")


async def test_a_call_without_max_tokens_is_bounded(tiny_gguf, tmp_path, monkeypatch):
    from a3.llm.local import engine

    monkeypatch.setattr(engine, "DEFAULT_MAX_TOKENS", 9)
    backend, client = engine_client(tiny_gguf, tmp_path)
    reply = await client.generate("go on", config=CallConfig(model="local/tiny"), allow_empty=True)
    assert reply.usage.output_tokens == 9 and reply.finish_reason == "max_tokens"
    backend.close()


async def test_structured_requests_are_constrained_by_the_schema(tiny_gguf, tmp_path, capfd):
    from typing import Literal

    from pydantic import BaseModel

    class Choice(BaseModel):
        label: Literal["left", "right"]
        sure: bool
        earlier: None  # a value the model has no wish to write

    backend, client = engine_client(tiny_gguf, tmp_path, max_repairs=0)
    # A random model left free writes noise (tabs, mostly); under the grammar only a compact Choice
    # can come out, so 100 tokens (one a character here) are always enough.
    replies = await asyncio.gather(
        *(client.generate(f"pick {i}", config=noise(100, temperature=0.0), schema=Choice) for i in range(6))
    )
    assert all(isinstance(r.parsed, Choice) and r.repairs == 0 for r in replies)

    class Note(BaseModel):
        text: str

    await backend.complete([], noise(1), Note)  # compiles a grammar with a free string
    assert "Warning" not in capfd.readouterr().err  # the grammar compiler had nothing to complain of
    backend.close()


@pytest.mark.parametrize("receiver", ["process", "engine thread"])
def test_ctrl_c_stops_a_local_generation_within_seconds(tiny_gguf, tmp_path, receiver):
    """Ctrl-C sent to the process, and Ctrl-C as the kernel may deliver it: to the engine thread while
    the main thread sleeps in the event loop (before the engine woke the loop, that one hung)."""
    script = textwrap.dedent(f"""
        import asyncio, faulthandler, signal, sys, threading
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test's diagnosis if it hangs
        # Ctrl-C handled as in a terminal: a test run started in the background ('&' in a script)
        # passes SIGINT on ignored, and Python then installs no handler for it.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.path.insert(0, {str(ROOT)!r})
        from a3.llm import CallConfig, LLMClient
        from a3.llm.local import EngineBackend
        backend = EngineBackend({str(tiny_gguf)!r})
        client = LLMClient({str(tmp_path / "run")!r}, backend_factory=lambda m, a, l: backend)
        async def main():
            task = asyncio.create_task(
                client.generate("x", config=CallConfig(model="local/tiny", max_tokens=10**6), allow_empty=True)
            )
            while len(backend.batch_sizes) < 3:
                await asyncio.sleep(0.01)
            if {receiver == "engine thread"}:
                engine = next(t for t in threading.enumerate() if t.name.startswith("a3-engine"))
                threading.Timer(0.5, signal.pthread_kill, (engine.ident, signal.SIGINT)).start()
            print("generating", flush=True)
            await task
        asyncio.run(main())
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert process.stdout.readline().strip() == "generating"
    if receiver == "process":
        process.send_signal(signal.SIGINT)
    started = time.monotonic()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:  # say where every thread waits, then fail
        process.send_signal(signal.SIGUSR1)
        time.sleep(2)
        process.kill()
        pytest.fail("still running 20 s after Ctrl-C; its threads:\n" + process.communicate()[1][-6000:])
    assert time.monotonic() - started < 5
    assert "KeyboardInterrupt" in process.stderr.read()


def test_the_rewrite_makes_every_quantised_tensor_q8_0_and_records_where_each_lies(tmp_path):
    import gguf
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf import quants

    from a3.llm.local.gguf_rewrite import rewrite_for_engine

    source = tmp_path / "mixed.gguf"
    rng = np.random.default_rng(0)
    dense = {name: rng.standard_normal((8, 64)).astype(np.float32) for name in ("a.weight", "b.weight", "c.weight")}
    writer = gguf.GGUFWriter(source, "llama")
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_token_list(["x", "y"])
    for (name, values), kind in zip(dense.items(), (Q.Q4_1, Q.Q5_0, Q.Q8_0), strict=False):
        data = quants.quantize(values, kind)
        writer.add_tensor(name, data, raw_shape=data.shape, raw_dtype=kind)
    writer.add_tensor("norm.weight", np.ones(64, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    layout = rewrite_for_engine(source, tmp_path / "engine.gguf")
    rewritten = {t.name: t for t in gguf.GGUFReader(tmp_path / "engine.gguf").tensors}
    original = {t.name: t for t in gguf.GGUFReader(source).tensors}
    assert {n: t.tensor_type for n, t in rewritten.items()} == {
        "a.weight": Q.Q8_0,
        "b.weight": Q.Q8_0,
        "c.weight": Q.Q8_0,
        "norm.weight": Q.F32,
    }
    for name in dense:  # the same values, to within Q8_0's rounding of the 4- and 5-bit grids
        before = quants.dequantize(original[name].data, original[name].tensor_type).reshape(8, 64)
        after = quants.dequantize(rewritten[name].data, Q.Q8_0).reshape(8, 64)
        assert np.abs(before - after).max() < 0.02 * np.abs(before).max()
    raw = (tmp_path / "engine.gguf").read_bytes()
    for name, tensor in rewritten.items():
        slot = layout.tensors[name]
        assert raw[slot.offset : slot.offset + tensor.data.nbytes] == tensor.data.tobytes()
    assert layout.architecture == "llama" and layout.heads == {"attn_q": 2, "attn_k": 1}
    tokens = gguf.GGUFReader(tmp_path / "engine.gguf").fields["tokenizer.ggml.tokens"]
    assert [bytes(tokens.parts[i]).decode() for i in tokens.data] == ["x", "y"]  # metadata copied


def write_adapter(folder, tensors, **config):
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 4, **config}))
    return folder


def test_a_lora_adapter_is_merged_in_gguf_layout(tiny_gguf, tmp_path):
    import gguf
    import numpy as np
    from gguf import quants

    from a3.llm.local.gguf_rewrite import merge_adapter, rewrite_for_engine, rope_permute

    layout = rewrite_for_engine(tiny_gguf, tmp_path / "engine.gguf")
    rng = np.random.default_rng(1)
    prefix = "base_model.model.model.layers.0"
    pairs = {f"{prefix}.self_attn.q_proj": (64, 64), f"{prefix}.mlp.down_proj": (64, 128)}
    tensors = {}
    for module, (rows, columns) in pairs.items():
        tensors[f"{module}.lora_A.weight"] = rng.standard_normal((2, columns)).astype(np.float32)
        tensors[f"{module}.lora_B.weight"] = rng.standard_normal((rows, 2)).astype(np.float32) * 0.1
    adapter = write_adapter(tmp_path / "adapter", tensors)
    merge_adapter(tmp_path / "engine.gguf", layout, adapter, tmp_path / "merged.gguf")

    def weights(path, name):
        tensor = next(t for t in gguf.GGUFReader(path).tensors if t.name == name)
        return quants.dequantize(tensor.data, tensor.tensor_type).reshape(
            [int(d) for d in reversed(tensor.shape.tolist())]
        )

    scale = 4 / 2
    q_delta = (
        scale
        * tensors[f"{prefix}.self_attn.q_proj.lora_B.weight"]
        @ tensors[f"{prefix}.self_attn.q_proj.lora_A.weight"]
    )
    down_delta = (
        scale * tensors[f"{prefix}.mlp.down_proj.lora_B.weight"] @ tensors[f"{prefix}.mlp.down_proj.lora_A.weight"]
    )
    expected_q = weights(tmp_path / "engine.gguf", "blk.0.attn_q.weight") + rope_permute(
        q_delta, 4
    )  # llama: rows permuted
    expected_down = weights(tmp_path / "engine.gguf", "blk.0.ffn_down.weight") + down_delta
    assert np.abs(weights(tmp_path / "merged.gguf", "blk.0.attn_q.weight") - expected_q).max() < 0.02
    assert np.abs(weights(tmp_path / "merged.gguf", "blk.0.ffn_down.weight") - expected_down).max() < 0.02
    untouched = weights(tmp_path / "merged.gguf", "blk.1.attn_q.weight") == weights(
        tmp_path / "engine.gguf", "blk.1.attn_q.weight"
    )
    assert untouched.all()
    assert (tmp_path / "merged.gguf").stat().st_size == (tmp_path / "engine.gguf").stat().st_size
    assert not np.allclose(rope_permute(q_delta, 4), q_delta)  # the permutation is not a no-op


def test_adapters_the_merge_cannot_serve_are_refused_with_the_reason(tiny_gguf, tmp_path):
    import numpy as np

    from a3.llm.local import AdapterMergeError
    from a3.llm.local.gguf_rewrite import merge_adapter, rewrite_for_engine

    layout = rewrite_for_engine(tiny_gguf, tmp_path / "engine.gguf")
    tensor = {"base_model.model.lm_head.lora_A.weight": np.zeros((2, 64), dtype=np.float32)}
    with pytest.raises(AdapterMergeError, match="only the attention and MLP projections"):
        merge_adapter(tmp_path / "engine.gguf", layout, write_adapter(tmp_path / "a", tensor), tmp_path / "m.gguf")
    with pytest.raises(AdapterMergeError, match="use_dora"):
        merge_adapter(
            tmp_path / "engine.gguf", layout, write_adapter(tmp_path / "b", tensor, use_dora=True), tmp_path / "m.gguf"
        )
    assert not (tmp_path / "m.gguf").exists()


def test_the_grammar_leaves_string_lengths_to_the_validator():
    # A counted repetition compiles into one grammar rule per character: a 400-character maximum
    # took minutes and held up every other request of the engine.
    from pydantic import BaseModel, Field

    from a3.llm.local.engine import schema_regex

    class Bounded(BaseModel):
        text: str = Field(min_length=10, max_length=400)
        tags: list[str] = Field(min_length=2, max_length=3)

    regex = schema_regex(Bounded)
    assert "400" not in regex and "{9" not in regex and "{10" not in regex
    assert re.fullmatch(regex, '{"text":"' + "x" * 500 + '","tags":["a","b"]}')  # long text: the validator's to refuse
    assert not re.fullmatch(regex, '{"text":"x","tags":["a"]}')  # item counts stay in the grammar
