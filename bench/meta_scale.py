"""Meta-analysis at scale: sequential LLM rounds and wall time of categorization.

Generates synthetic elicitation runs (ours, in the original layout), selects the first N
successful ones, summarises them and categorizes them with a scripted LLM that answers after a
fixed latency, so wall time reflects how many calls must wait on each other. The original needs
1 + ceil((N - 10) / 5) strictly sequential categorization calls.

    python bench/meta_scale.py --runs 1000 --latency 0.2
Writes bench/results/meta_scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import time
from pathlib import Path

from a3.meta import (
    CategorizeContext,
    CategorizeOptions,
    SelectOptions,
    SummaryOptions,
    categorize_runs,
    select_runs,
    summarize_runs,
    write_sample_data,
)
from a3.store import RunDir
from a3.testing import MetaWorld, ScriptedClient


async def run(n: int, latency: float, parallel_batches: int, merge_every: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        info = write_sample_data(root / "data", n_runs=int(n * 1.6) + 20, seed=1)
        refs = select_runs(SelectOptions(agent=info.agent, base_dir=info.runs_dir)).task_list().runs[:n]
        assert len(refs) == n, f"only {len(refs)} successful runs were generated"
        work = RunDir(root / "work")
        world = MetaWorld()
        client = ScriptedClient(world, latency=latency, run_dir=work, concurrency=64)
        t0 = time.perf_counter()
        await summarize_runs(refs, work, client, SummaryOptions())
        t_summaries = time.perf_counter() - t0
        options = CategorizeOptions(method="llm", parallel_batches=parallel_batches, merge_every=merge_every)
        context = CategorizeContext(
            agent=info.agent, perturbation_model=info.perturbation_model, task_list_path="tl.json"
        )
        t1 = time.perf_counter()
        stats = (await categorize_runs(refs, work, client, context, options)).statistics
        t_categorize = time.perf_counter() - t1
    original_rounds = 1 + math.ceil((n - 10) / 5)
    return {
        "runs": n,
        "scripted_latency_s": latency,
        "settings": {
            "initial_batch": 10,
            "iterative_batch": 5,
            "parallel_batches": parallel_batches,
            "merge_every": merge_every,
        },
        "summaries_wall_s": round(t_summaries, 2),
        "categorization_wall_s": round(t_categorize, 2),
        "sequential_llm_rounds": stats.sequential_llm_rounds,
        "original_sequential_rounds": original_rounds,
        "original_wall_s_at_this_latency": round(original_rounds * latency, 1),
        "categorization_llm_calls": stats.llm_calls,
        "categories": stats.total_categories,
        "unique_runs_categorized": stats.unique_runs_categorized,
        "unassigned_runs": stats.unassigned_runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the scripted LLM takes per call")
    parser.add_argument("--parallel-batches", type=int, default=16)
    parser.add_argument("--merge-every", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "meta_scale.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.runs, args.latency, args.parallel_batches, args.merge_every))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
