"""The local engine's two modes on the bundled writer model: how fast, and how batch-dependent.

``exact`` compiles the model with f32 arithmetic, no dynamic quantization and an f32 KV cache, so
that a greedy reply does not depend on what else is generated beside it (targets and judges are
served so). ``fast`` keeps the CPU plugin's own performance defaults (bf16 on CPUs with AMX or
AVX512-BF16); A3 serves models that only write in it. For each mode, a fresh client (no call
cache) with Qwen2.5-Coder-0.5B loaded before the clock starts:

1. the demo's look-alike job: 64 requests at once, sampled at 0.8, 60 tokens: output tokens/s;
2. prefill: 16 prompts of about 400 tokens at once, one token each: prompt tokens/s;
3. batch dependence: 16 greedy replies sent one at a time, then all at once: how many differ.

    python bench/engine_modes.py
Writes bench/results/engine_modes.json and prints it.
"""

from __future__ import annotations

import asyncio
import json
import platform
import time
from pathlib import Path

from determinism import BENIGN, HARMFUL
from engine_batch import WRITER, requests

ROOT = Path(__file__).resolve().parent.parent


def long_requests() -> list[list[dict[str, str]]]:
    context = " ".join(BENIGN)  # about 400 tokens of customer questions
    return [
        [{"role": "user", "content": f"{i}. {context}\nWhich of these questions is about cards?"}] for i in range(16)
    ]


async def one_mode(mode: str) -> dict[str, object]:
    from a3.llm import CallConfig, LLMClient

    client = LLMClient(None, concurrency=16)

    def call(**settings: object) -> CallConfig:
        return CallConfig(model=WRITER, model_args={"engine_mode": mode}, **settings)  # type: ignore[arg-type]

    look_alikes, temperature, budget = requests()[WRITER]  # the demo's look-alike job, as engine_batch.py sends it
    await client.generate([{"role": "user", "content": "Hello"}], config=call(temperature=0.0, max_tokens=4))
    started = time.perf_counter()
    sampled = await asyncio.gather(
        *(
            client.generate(c, config=call(temperature=temperature, max_tokens=budget, seed=7, cache_salt="sampled"))
            for c in look_alikes
        )
    )
    sampled_s = time.perf_counter() - started
    started = time.perf_counter()
    prefill = await asyncio.gather(
        *(
            client.generate(c, config=call(temperature=0.0, max_tokens=1, cache_salt="prefill"), allow_empty=True)
            for c in long_requests()
        )
    )
    prefill_s = time.perf_counter() - started
    greedy = [[{"role": "user", "content": q}] for q in HARMFUL[:16]]
    alone = [
        (await client.generate(c, config=call(temperature=0.0, max_tokens=32, cache_salt="alone"))).text for c in greedy
    ]
    together = await asyncio.gather(
        *(client.generate(c, config=call(temperature=0.0, max_tokens=32, cache_salt="together")) for c in greedy)
    )
    client.close()
    tokens = sum(r.usage.output_tokens for r in sampled)
    prompt_tokens = sum(r.usage.input_tokens for r in prefill)
    return {
        "look_alikes_s": round(sampled_s, 2),
        "look_alike_output_tokens_per_s": round(tokens / sampled_s, 1),
        "prefill_s": round(prefill_s, 2),
        "prefill_tokens_per_s": round(prompt_tokens / prefill_s, 1),
        "greedy_replies_differing_alone_vs_together": sum(a != b.text for a, b in zip(alone, together, strict=True)),
        "greedy_replies": len(greedy),
    }


def main() -> None:
    modes = {mode: asyncio.run(one_mode(mode)) for mode in ("exact", "fast")}
    result = {"machine": platform.processor() or platform.machine(), "model": WRITER, "modes": modes}
    out = ROOT / "bench/results/engine_modes.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
