"""Fan-out benchmark of the model layer.

1. The real provider path: N calls through LLMClient -> inspect_ai (openai-api provider) -> HTTP ->
   the stub server on 127.0.0.1 (its own process) answering after a fixed latency.
2. Our layer alone: the same N calls against a scripted backend that only sleeps for the latency,
   so the process CPU time per call is what LLMClient itself costs (hashing, cache, ledger,
   semaphores, retries bookkeeping).

Writes bench/results/llm_fanout.json and prints it.

    python bench/llm_fanout.py --calls 1000 --latency 0.2 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from a3.llm import CallConfig, LLMClient
from a3.testing import ScriptedClient
from a3.testing.stub_server import StubServer


async def _fan_out(client: LLMClient, config: CallConfig, calls: int) -> dict:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    completions = await asyncio.gather(*(client.generate(f"benchmark prompt {i}", config=config) for i in range(calls)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    latencies = sorted(c.backend_s for c in completions)
    return {
        "calls": calls,
        "wall_s": round(wall, 3),
        "calls_per_s": round(calls / wall, 1),
        "process_cpu_ms_per_call": round(1000 * cpu / calls, 3),
        "backend_latency_p50_ms": round(1000 * statistics.median(latencies), 1),
        "backend_latency_p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
        "failed": sum(1 for c in completions if not c.text),
    }


async def run(calls: int, latency: float, concurrency: int) -> dict:
    results: dict = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "settings": {"calls": calls, "latency_s": latency, "concurrency": concurrency},
    }
    with tempfile.TemporaryDirectory() as tmp, StubServer(latency=latency) as stub:
        client = LLMClient(Path(tmp) / "run", concurrency=concurrency)
        config = CallConfig(model="openai-api/stub/bench", model_args={"base_url": stub.base_url, "api_key": "bench"})
        await client.generate("warm-up", config=config)  # imports inspect and opens the connection pool
        results["stub_server_via_inspect"] = await _fan_out(client, config, calls)
        results["stub_server_via_inspect"]["max_in_flight_at_server"] = stub.stats()["max_in_flight"]
        client.close()

    with tempfile.TemporaryDirectory() as tmp:

        async def sleep_then_answer(messages, config):
            await asyncio.sleep(latency)
            return "ok"

        scripted = ScriptedClient(sleep_then_answer, run_dir=Path(tmp) / "run", concurrency=concurrency)
        results["our_layer_only"] = await _fan_out(scripted, CallConfig(model="scripted/bench"), calls)
        scripted.close()

    ideal = concurrency / latency
    results["ideal_calls_per_s"] = round(ideal, 1)
    results["our_overhead_ms_per_call"] = results["our_layer_only"]["process_cpu_ms_per_call"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "llm_fanout.json")
    args = parser.parse_args()
    results = asyncio.run(run(args.calls, args.latency, args.concurrency))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
