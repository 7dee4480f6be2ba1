"""Planted-category benchmark of the meta-analysis: does it find mechanisms we know are there?

Writes synthetic elicitation runs whose mechanisms are planted (``a3.meta.synthetic.planted``: 8
mechanisms, 6 wordings each, 3 domains, 3 agents), summarises and categorizes them with A3, and
scores the categorization against the planted labels as Clio did: the share of runs placed, the
adjusted Rand index, the share of planted mechanisms recovered as categories. It also times a
whole ``a3 meta run`` (select to report) over 20 runs of one agent.

    python bench/meta_quality.py                                  # bundled model and the oracle
    python bench/meta_quality.py --models oracle --dry-run        # seconds: tiny, scripted
Writes bench/results/meta_quality.json (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from a3.llm import LLMClient
from a3.meta import (
    CategorizeContext,
    CategorizeOptions,
    ClusterOptions,
    MetaRunOptions,
    SelectOptions,
    SummaryOptions,
    categorize_runs,
    run_meta,
    select_runs,
    summarize_runs,
)
from a3.meta.categorize.grouping import EmbedWeights
from a3.meta.scoring import score_against
from a3.meta.summarize import SummaryStore
from a3.meta.synthetic.planted import AGENTS, write_planted_runs
from a3.store import RunDir, atomic_write_json
from a3.testing import ScriptedClient
from a3.testing.planted_oracle import PlantedOracle

LOCAL = "local/qwen2.5-coder-0.5b"


def client_for(model: str, run: RunDir) -> LLMClient:
    if model == "oracle":
        return ScriptedClient(PlantedOracle(), run_dir=run)
    return LLMClient(run)


def refs_of(runs_dir: Path, agents: tuple[str, ...]) -> list:
    return [
        ref for agent in agents for ref in select_runs(SelectOptions(agent=agent, base_dir=runs_dir)).task_list().runs
    ]


async def quality(root: Path, model: str, runs: int, method: str, weights: EmbedWeights | None, embedder) -> dict:  # noqa: ANN001
    info = write_planted_runs(root / "data", runs=runs, seed=7)
    refs = refs_of(info.runs_dir, tuple(info.agents))
    work = RunDir(root / f"work-{model.replace('/', '_')}")
    client = client_for(model, work)
    name = LOCAL if model == "local" else "oracle/planted"
    started = time.perf_counter()
    summaries = await summarize_runs(refs, work, client, SummaryOptions(model=name, max_tokens=256, temperature=0.0))
    summarized = time.perf_counter() - started
    context = CategorizeContext(
        agent="several", perturbation_model=refs[0].run.perturbation_model, task_list_path="per agent"
    )
    options = CategorizeOptions(model=name, max_tokens=256, temperature=0.0, method=method, weights=weights)
    started = time.perf_counter()
    categorization = await categorize_runs(refs, work, client, context, options, embedder=embedder)
    categorized = time.perf_counter() - started
    document = categorization.model_dump()
    score = score_against(categorization.categories, None, {run: [key] for run, key in info.labels.items()})
    store = SummaryStore(work)
    examples = [store.get(str(ref.run)).summary[:400] for ref in refs[:3] if store.get(str(ref.run))]
    client.close()
    return {
        "model": name,
        "method": method,
        "runs": len(refs),
        "summaries": summaries.counts.model_dump(),
        "summarize_s": round(summarized, 1),
        "categorize_s": round(categorized, 1),
        "score": score.model_dump(),
        "statistics": {
            k: document["statistics"][k]
            for k in ("total_categories", "unassigned_runs", "unverified_quotes_dropped", "llm_calls")
        },
        "grouping": document["metadata"]["grouping"],
        "summary_examples": examples,
    }


async def timed_meta_run(root: Path, model: str, runs: int) -> dict:
    """A whole meta run (select, summarize, categorize, cluster, report) over ``runs`` runs of one agent."""
    info = write_planted_runs(root / "timed-data", runs=runs, seed=11, agents=(AGENTS[0],))
    name = LOCAL if model == "local" else "oracle/planted"
    work = RunDir(root / f"timed-{model.replace('/', '_')}")
    client = client_for(model, work)
    settings = {"model": name, "max_tokens": 256, "temperature": 0.0}
    options = MetaRunOptions(
        select=SelectOptions(agent=AGENTS[0], base_dir=info.runs_dir),
        summary=SummaryOptions(**settings),
        categorize=CategorizeOptions(**settings),
        cluster=ClusterOptions(**settings),
    )
    started = time.perf_counter()
    result = await run_meta(options, work, client)
    elapsed = time.perf_counter() - started
    client.close()
    score = score_against(result.categorization.categories, None, {run: [key] for run, key in info.labels.items()})
    return {
        "model": name,
        "runs": runs,
        "wall_s": round(elapsed, 1),
        "placed_share": score.placed_share,
        "adjusted_rand_index": score.adjusted_rand_index,
        "report": result.report_markdown.name,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="local,oracle", help="comma-separated: local (the bundled model), oracle")
    parser.add_argument("--runs", type=int, default=120)
    parser.add_argument("--method", default="embed", choices=["embed", "llm"])
    parser.add_argument("--weights", default=None, help="change,harm,summary (default: A3's)")
    parser.add_argument("--timed-runs", type=int, default=20, help="runs in the timed whole meta run (0: skip it)")
    parser.add_argument(
        "--dry-run", action="store_true", help="16 runs, oracle only, a hashing embedder: checks the bench itself"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "meta_quality.json")
    parser.add_argument(
        "--work", type=Path, default=None, help="keep the data and work dirs here (default: a temporary folder)"
    )
    args = parser.parse_args()
    weights = (
        EmbedWeights(**dict(zip(("change", "harm", "summary"), map(float, args.weights.split(",")), strict=False)))
        if args.weights
        else None
    )
    models = ["oracle"] if args.dry_run else args.models.split(",")
    embedder = None
    if args.dry_run:
        from a3.testing.embedders import hashing_embedder

        embedder = hashing_embedder()
        args.runs, args.timed_runs = 16, 0
    else:
        from a3.meta.categorize.pregroup import minilm_embedder

        embedder = minilm_embedder()
    results: dict = {
        "benchmark": "planted categories",
        "runs": args.runs,
        "method": args.method,
        "quality": [],
        "timed_meta_run": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        for model in models:
            result = asyncio.run(quality(root, model, args.runs, args.method, weights, embedder))
            results["quality"].append(result)
            atomic_write_json(args.out, results)  # as it goes: a later failure keeps what was measured
            print(
                json.dumps(
                    {k: result[k] for k in ("model", "summarize_s", "categorize_s")}
                    | {"score": {k: v for k, v in result["score"].items() if k != "categories"}}
                )
            )
        if args.timed_runs:
            for model in models:
                timed = asyncio.run(timed_meta_run(root, model, args.timed_runs))
                results["timed_meta_run"].append(timed)
                atomic_write_json(args.out, results)
                print(json.dumps(timed))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
