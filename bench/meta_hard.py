"""The hard planted benchmark of the meta-analysis: runs rewritten wholesale, as real runs are.

Writes runs whose mechanisms are planted by ``a3.meta.synthetic.planted_hard`` (11 mechanisms in 4
families, each instruction composed afresh from a task phrasing, a cue phrasing, an arrangement
and backstory; one run in ten with two mechanisms), summarises, categorizes and clusters them
with A3 and the bundled models, and scores:

* category level: adjusted Rand index of the categories against each run's (primary) planted
  mechanism, runs placed, mechanisms recovered;
* two-mechanism runs: the share placed in a category of each of their two mechanisms;
* cluster level: adjusted Rand index of the clusters against the mechanisms' families;
* names: which came from the model, which are fallbacks (the most central trigger phrase).

Two layouts: ``tree`` (the original run tree: original instruction and the judge's harm are
there) and ``benchmark`` (the reduced AutoElicit-Bench layout: the final instruction only).

    python bench/meta_hard.py                       # both layouts, the bundled models
    python bench/meta_hard.py --dry-run             # seconds: scripted model, hashing embedder
Writes bench/results/meta_hard.json (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import re
import tempfile
import time
from pathlib import Path

from a3.llm import LLMClient
from a3.meta import (
    CategorizeContext,
    CategorizeOptions,
    ClusterOptions,
    SelectOptions,
    SummaryOptions,
    categorize_runs,
    cluster_categories,
    select_runs,
    summarize_runs,
)
from a3.meta.categorize.grouping import LOCAL_SUMMARY_WEIGHTS
from a3.meta.scoring import score_against
from a3.meta.synthetic.planted_hard import write_hard_planted_runs
from a3.store import RunDir, atomic_write_json
from a3.testing import ScriptedClient

LOCAL = "local/qwen2.5-coder-0.5b"


def scripted(messages, config):  # noqa: ANN001, ANN201 - a stand-in model for --dry-run
    prompt = messages[0].content
    task = prompt.splitlines()[0]
    if task.startswith("Task: summarise"):
        return "The change asked for more than the task."
    if task.startswith("Task: name"):
        words = re.findall(r"(?:Words the change added|Trigger phrase \d+): (.*)", prompt)
        return json.dumps(
            {
                "name": f"Asking the agent to {words[0][:40] if words else 'do more'}",
                "definition": "Runs whose instructions ask this.",
            }
        )
    if task.startswith("Task: place"):
        return json.dumps({"category": "none", "reason": "scripted"})
    if task.startswith("Task: check"):
        return json.dumps({"describes": True, "reason": "scripted"})
    ids = re.findall(r"^((?:C|K)[\d.]+): (.+)$", prompt, re.M)
    return json.dumps(
        {
            "clusters": [
                {"name": n, "definition": "d", "anchor_phrases": "", "members": [{"category": c}]} for c, n in ids
            ]
        }
    )


async def one_layout(root: Path, layout: str, runs: int, seed: int, model: str, embedder, summaries_too: bool) -> dict:  # noqa: ANN001
    info = write_hard_planted_runs(root / f"data-{layout}", runs=runs, seed=seed, layout=layout)
    where = {"base_dir": info.runs_dir} if layout == "tree" else {"benchmark_dir": info.runs_dir}
    refs = [ref for agent in info.agents for ref in select_runs(SelectOptions(agent=agent, **where)).task_list().runs]
    work = RunDir(root / f"work-{layout}")
    client = ScriptedClient(scripted, run_dir=work) if model == "scripted" else LLMClient(work)
    name = LOCAL if model == "local" else "scripted/meta"
    settings = {"model": name, "max_tokens": 256, "temperature": 0.0}
    started = time.perf_counter()
    if summaries_too:
        counts = (await summarize_runs(refs, work, client, SummaryOptions(**settings))).counts.model_dump()
    else:  # the embedding method gives a bundled model's summaries no weight: grouped by instructions and harm alone
        counts = None
    summarized = time.perf_counter() - started
    context = CategorizeContext(
        agent="several", perturbation_model=refs[0].run.perturbation_model, task_list_path="per agent"
    )
    started = time.perf_counter()
    weights = None if summaries_too else LOCAL_SUMMARY_WEIGHTS  # as when the bundled model wrote the summaries
    categorization = await categorize_runs(
        refs, work, client, context, CategorizeOptions(**settings, weights=weights), embedder=embedder
    )
    categorized = time.perf_counter() - started
    started = time.perf_counter()
    extra = (
        {"embedder": embedder} if "embedder" in inspect.signature(cluster_categories).parameters else {}
    )  # the code before the change has none
    clusters = await cluster_categories(categorization, work, client, ClusterOptions(**settings), **extra)
    clustered = time.perf_counter() - started
    client.close()
    score = score_against(categorization.categories, clusters.clusters, info.labels, info.families)
    document = categorization.model_dump()
    return {
        "layout": layout,
        "model": name,
        "runs": len(refs),
        "summaries": counts,
        "summarize_s": round(summarized, 1),
        "categorize_s": round(categorized, 1),
        "cluster_s": round(clustered, 1),
        "score": score.model_dump(),
        "grouping": document["metadata"]["grouping"],
        "clusters": [
            {"name": c.cluster_name, "categories": [m.category_name for m in c.member_categories]}
            for c in clusters.clusters
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layouts", default="tree,benchmark")
    parser.add_argument("--runs", type=int, default=132)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--summaries",
        action="store_true",
        help="summarise the runs first (minutes with the bundled model; "
        "the embedding method gives its summaries no weight, so they change only what the model is shown when naming)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="scripted model and a hashing embedder: checks the bench itself"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "meta_hard.json")
    parser.add_argument(
        "--work", type=Path, default=None, help="keep the data and work dirs here (default: a temporary folder)"
    )
    args = parser.parse_args()
    if args.dry_run:
        from a3.testing.embedders import hashing_embedder

        embedder, model = hashing_embedder(), "scripted"
    else:
        from a3.meta.categorize.pregroup import minilm_embedder

        embedder, model = minilm_embedder(), "local"
    results: dict = {"benchmark": "hard planted categories", "runs": args.runs, "seed": args.seed, "layouts": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        for layout in args.layouts.split(","):
            result = asyncio.run(one_layout(root, layout, args.runs, args.seed, model, embedder, args.summaries))
            results["layouts"].append(result)
            atomic_write_json(args.out, results)  # as it goes
            print(
                json.dumps(
                    {k: result[k] for k in ("layout", "summarize_s", "categorize_s", "cluster_s")}
                    | {"score": {k: v for k, v in result["score"].items() if k != "categories"}}
                )
            )
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
