"""Agreement of the meta-analysis with a reader's themes on real public elicitation runs.

The runs are the 117 examples of AutoElicit-Bench (``transferability/robustness_benchmark/`` of
the public OSU-NLP-Group/AutoElicit repository, reduced layout: the final instruction only, no
original instruction, no harm), fetched by you into ``--runs-dir`` (they are not in this
repository). The themes are ours: ``bench/data/real_themes.jsonl`` gives each run's theme(s),
written by reading its instruction before any method was run on it (``bench/data/README.md``).

For each set (one agent's runs from one domain, as ``a3 meta run`` takes them; each agent's runs;
all runs) it categorizes and clusters the runs with A3 and the bundled models and prints the
adjusted Rand index of the categories against the themes (a run in no category is a group of its
own; a run labelled "unclear" is a theme of its own), the share of runs placed, the themes
recovered, and each category with its name, where the name came from and its majority theme.

    python bench/meta_real.py --runs-dir /work/data/autoelicit-bench
    python bench/meta_real.py --runs-dir DIR --sets none --timed-runs 100   # a whole `a3 meta run`, timed
    python bench/meta_real.py --runs-dir DIR --dry-run      # scripted model, hashing embedder
Writes bench/results/meta_real.json (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import tempfile
import time
from pathlib import Path

from a3.llm import LLMClient
from a3.meta import (
    CategorizeContext,
    CategorizeOptions,
    ClusterOptions,
    SelectOptions,
    categorize_runs,
    cluster_categories,
    select_runs,
)
from a3.meta.categorize.grouping import LOCAL_SUMMARY_WEIGHTS
from a3.meta.scoring import score_against
from a3.store import RunDir, atomic_write_json
from a3.testing import ScriptedClient

HERE = Path(__file__).parent
LOCAL = "local/qwen2.5-coder-0.5b"
AGENTS = ("claude-haiku-4-5-20251001", "claude-opus-4-5-20251101")


def load_themes(path: Path) -> dict[str, dict]:
    """example id (task:perturbed id:refiner:agent) -> its row; 'unclear' becomes a theme of its own."""
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            row["keys"] = [t if t != "unclear" else f"unclear:{row['example_id']}" for t in row["themes"]]
            rows[row["example_id"]] = row
    return rows


async def one_set(name: str, refs: list, themes: dict[str, dict], root: Path, model: str, embedder) -> dict:  # noqa: ANN001
    from meta_hard import scripted  # bench/ is on the path when this runs as a script

    work = RunDir(root / f"work-{name}")
    client = ScriptedClient(scripted, run_dir=work) if model == "scripted" else LLMClient(work)
    settings = {"model": LOCAL if model == "local" else "scripted/meta", "max_tokens": 256, "temperature": 0.0}
    context = CategorizeContext(
        agent=name, perturbation_model=refs[0].run.perturbation_model, task_list_path="benchmark"
    )
    started = time.perf_counter()
    categorization = await categorize_runs(
        refs, work, client, context, CategorizeOptions(**settings, weights=LOCAL_SUMMARY_WEIGHTS), embedder=embedder
    )
    categorized = time.perf_counter() - started
    extra = (
        {"embedder": embedder} if "embedder" in inspect.signature(cluster_categories).parameters else {}
    )  # the code before the change has none
    started = time.perf_counter()
    clusters = await cluster_categories(categorization, work, client, ClusterOptions(**settings), **extra)
    clustered = time.perf_counter() - started
    client.close()
    labels = {str(ref.run): themes[ref.run.annotation_key]["keys"] for ref in refs}
    document = categorization.model_dump()
    score = score_against(categorization.categories, clusters.clusters, labels)
    confident = {run: keys for run, keys in labels.items() if themes[run_key(run)]["confidence"] != "low"}
    return {
        "set": name,
        "runs": len(refs),
        "categorize_s": round(categorized, 1),
        "cluster_s": round(clustered, 1),
        "score": score.model_dump(),
        "ari_high_and_medium_confidence": score_against(categorization.categories, None, confident).adjusted_rand_index,
        "grouping": document["metadata"]["grouping"],
        "clusters": len(clusters.clusters),
        "categories": [
            {
                "name": c["category_name"],
                "name_source": c.get("name_source"),
                "name_similarity": c.get("name_similarity"),
                "runs": len(c["examples"]),
                "themes": sorted({labels[e["run_id"]][0] for e in c["examples"] if e.get("run_id") in labels}),
                "trigger_phrases": [e["trigger_phrase"] for e in c["examples"]],
            }
            for c in document["categorization"]["categories"]
        ],
        "cluster_names": [
            {
                "name": c.cluster_name,
                "name_source": c.name_source,
                "categories": [m.category_name for m in c.member_categories],
            }
            for c in clusters.clusters
        ],
    }


async def timed_meta_run(runs_dir: Path, count: int, root: Path, model: str, embedder) -> dict:  # noqa: ANN001
    """A whole ``a3 meta run`` (select, summarize, categorize, cluster, report), as the CLI runs it with
    the bundled model and its defaults, over ``count`` real runs put under one agent (the benchmark
    has 67 and 50 per agent; ``a3 meta run`` takes one agent)."""
    import os
    import shutil

    from meta_hard import scripted

    from a3.meta import MetaRunOptions, SummaryOptions, run_meta

    agent = "timing-agent"
    target = root / "timed-benchmark" / agent
    examples = sorted(p for a in AGENTS for p in (runs_dir / a).iterdir() if p.is_dir())[:count]
    for index, folder in enumerate(examples):
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        task, pid, refiner, _ = meta["example_id"].split(":")
        meta["example_id"] = f"{task}:{pid}{index:03d}:{refiner}:{agent}"  # unique under one agent
        meta["execution_agent"] = agent
        out = target / meta["example_id"].replace(":", "_")
        out.mkdir(parents=True)
        shutil.copy(folder / "final_successful_query.json", out)
        (out / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    work = RunDir(root / "timed-work")
    client = ScriptedClient(scripted, run_dir=work) if model == "scripted" else LLMClient(work)
    name = LOCAL if model == "local" else "scripted/meta"
    options = MetaRunOptions(
        select=SelectOptions(agent=agent, benchmark_dir=target.parent),
        summary=SummaryOptions(model=name),
        categorize=CategorizeOptions(model=name),
        cluster=ClusterOptions(model=name),
    )
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = await run_meta(options, work, client, embedder=embedder)
    elapsed = time.perf_counter() - started
    client.close()
    stats = result.categorization.statistics
    return {
        "runs": len(examples),
        "wall_s": round(elapsed, 1),
        "load_average_at_start": round(load, 2),
        "cpus": os.cpu_count(),
        "summaries": result.summaries.counts.model_dump(),
        "categories": stats.total_categories,
        "runs_placed": stats.unique_runs_categorized,
        "clusters": len(result.clusters.clusters),
        "llm_calls": stats.llm_calls,
        "report": result.report_markdown.name,
    }


def run_key(run_id: str) -> str:
    domain, task, _perturbation, pid, refiner, agent = run_id.split("/")
    return f"{task}:{pid}:{refiner}:{agent}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runs-dir",
        type=Path,
        required=True,
        help="the benchmark folder: <agent>/<example>/{metadata,final_successful_query}.json",
    )
    parser.add_argument("--themes", type=Path, default=HERE / "data" / "real_themes.jsonl")
    parser.add_argument("--sets", default="haiku-os,haiku,opus,all")
    parser.add_argument(
        "--timed-runs", type=int, default=0, help="also time a whole a3 meta run over this many runs (0: skip)"
    )
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "meta_real.json")
    args = parser.parse_args()
    themes = load_themes(args.themes)
    by_agent = {
        agent: select_runs(SelectOptions(agent=agent, benchmark_dir=args.runs_dir)).task_list().runs for agent in AGENTS
    }
    missing = [
        ref.run.annotation_key for refs in by_agent.values() for ref in refs if ref.run.annotation_key not in themes
    ]
    if missing:
        raise SystemExit(f"{len(missing)} runs have no theme in {args.themes}: {missing[:3]}")
    sets = {
        "haiku-os": [r for r in by_agent[AGENTS[0]] if r.run.domain == "os"],
        "haiku": by_agent[AGENTS[0]],
        "opus": by_agent[AGENTS[1]],
        "all": by_agent[AGENTS[0]] + by_agent[AGENTS[1]],
    }
    if args.dry_run:
        from a3.testing.embedders import hashing_embedder

        embedder, model = hashing_embedder(), "scripted"
    else:
        from a3.meta.categorize.pregroup import minilm_embedder

        embedder, model = minilm_embedder(), "local"
    results: dict = {
        "benchmark": "AutoElicit-Bench, reader's themes",
        "themes": str(args.themes.name),
        "labelled_runs": len(themes),
        "sets": [],
    }
    if args.out.exists():  # keep what an earlier call measured that this one does not
        earlier = json.loads(args.out.read_text(encoding="utf-8"))
        results["sets"] = [s for s in earlier.get("sets", []) if s["set"] not in args.sets.split(",")]
        if "timed_meta_run" in earlier and not args.timed_runs:
            results["timed_meta_run"] = earlier["timed_meta_run"]
    with tempfile.TemporaryDirectory() as tmp:
        if args.timed_runs:
            results["timed_meta_run"] = asyncio.run(
                timed_meta_run(args.runs_dir, args.timed_runs, Path(tmp), model, embedder)
            )
            atomic_write_json(args.out, results)
            print(json.dumps(results["timed_meta_run"]))
        for name in [s for s in args.sets.split(",") if s in sets]:
            result = asyncio.run(one_set(name, sets[name], themes, Path(tmp), model, embedder))
            results["sets"].append(result)
            atomic_write_json(args.out, results)
            s = result["score"]
            print(
                json.dumps(
                    {
                        "set": name,
                        "runs": result["runs"],
                        "placed": s["placed"],
                        "ari": s["adjusted_rand_index"],
                        "ari_confident": result["ari_high_and_medium_confidence"],
                        "categories": len(result["categories"]),
                        "names_by_fallback": s["names_by_fallback"],
                        "categorize_s": result["categorize_s"],
                    }
                )
            )
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
