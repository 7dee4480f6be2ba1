"""How many requests should the local engine batch? The bundled models' throughput at several
concurrency limits, and whether the replies stay the same whatever the limit.

The client's per-model concurrency is also the engine's batch (``max_num_seqs``), set in a config by
``data_generation.max_concurrent``. For each limit a fresh client (no call cache) sends the same
64 requests at once, the model loaded before the clock starts:

1. Qwen2.5-Coder-0.5B writing benign look-alikes with the demo's prompt, from unmasked requests
   (sampled at 0.8, each request seeded as stage 1 seeds it): output tokens/s.
2. SmolLM2-135M answering the demo's queries greedily (48 tokens): replies/s.

Every limit's replies are compared with the first limit's, text for text: a limit that changed a
reply would change what a run generates, not only how fast.

    python bench/engine_batch.py [--limits 8 16 32]
Writes bench/results/engine_batch.json and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from pathlib import Path

import yaml
from determinism import BENIGN, HARMFUL

ROOT = Path(__file__).resolve().parent.parent
WRITER, TARGET = "local/qwen2.5-coder-0.5b", "local/smollm2-135m"


def requests() -> dict[str, tuple[list[list[dict[str, str]]], float, int]]:
    """Per model: the conversations, the temperature and the token budget, as the demo sends them."""
    demo = yaml.safe_load((ROOT / "configs/demo.yaml").read_text())
    system = demo["conversation_format"]["system_prompt"]
    template = demo["data_generation"]["benign_generation_prompt"]
    queries = (HARMFUL + BENIGN) * 2  # 80; the first 64 are sent
    writer = [[{"role": "user", "content": template.format(prompt=q)}] for q in HARMFUL * 4][:64]
    target = [[{"role": "system", "content": system}, {"role": "user", "content": q}] for q in queries][:64]
    return {WRITER: (writer, 0.8, 60), TARGET: (target, 0.0, 48)}


async def one_limit(model: str, limit: int, conversations: list[list[dict[str, str]]], temperature: float, budget: int):
    from a3.llm import CallConfig, LLMClient

    client = LLMClient(None, concurrency=limit)
    # The same seed and salt at every limit: a sampled request's random stream depends on them and the prompt.
    config = CallConfig(model=model, temperature=temperature, max_tokens=budget, seed=7, cache_salt="batch")
    warm = CallConfig(model=model, temperature=0.0, max_tokens=4, cache_salt="warm-up")
    await client.generate([{"role": "user", "content": "Hello"}], config=warm)  # load outside the clock
    started = time.perf_counter()
    replies = await asyncio.gather(*(client.generate(c, config=config) for c in conversations))
    seconds = time.perf_counter() - started
    client.close()
    tokens = sum(r.usage.output_tokens for r in replies)
    return [r.text for r in replies], seconds, tokens


async def measure(limits: list[int]) -> dict[str, object]:
    results: dict[str, object] = {}
    for model, (conversations, temperature, budget) in requests().items():
        rows = []
        first: list[str] | None = None
        for limit in limits:
            texts, seconds, tokens = await one_limit(model, limit, conversations, temperature, budget)
            first = first or texts
            rows.append(
                {
                    "limit": limit,
                    "seconds": round(seconds, 2),
                    "output_tokens": tokens,
                    "tokens_per_s": round(tokens / seconds, 1),
                    "replies_per_s": round(len(texts) / seconds, 2),
                    "replies_differing_from_first_limit": sum(a != b for a, b in zip(first, texts, strict=True)),
                }
            )
        results[model] = {
            "requests": len(conversations),
            "temperature": temperature,
            "max_tokens": budget,
            "rows": rows,
        }
    return {"machine": platform.processor() or platform.machine(), "limits": limits, "models": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", type=int, nargs="+", default=[8, 16, 32])
    args = parser.parse_args()
    result = asyncio.run(measure(args.limits))
    out = ROOT / "bench/results/engine_batch.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
