"""``a3 meta ...``: the meta-analysis of elicitation runs, step by step or all at once.

Flags keep the original scripts' names (``--data_filter``, ``--task_list_file``, ...); the
hyphenated spellings work too. The single steps read their inputs from, and name their outputs as,
the original's files (``a3.meta.formats``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from a3.cli.common import MaxCostOpt, PricesOpt, Workspace, open_workspace
from a3.cli.errors import reports_errors
from a3.cli.progress import make_console
from a3.errors import UserInputError

if TYPE_CHECKING:
    from a3.meta import SelectOptions

console = make_console(soft_wrap=True)  # run ids and paths stay whole for copy and paste
meta_app = typer.Typer(
    help="Meta-analysis of elicitation runs: select, summarize, categorize, cluster, report.", no_args_is_help=True
)

WorkDirOpt = typer.Option(
    Path("meta-analysis"),
    "--work-dir",
    help="Where A3 keeps this analysis: summaries, categorizations, ledger, call cache.",
)
AgentOpt = typer.Option(None, "--agent", help="Execution agent name (any).")
PerturbationOpt = typer.Option(
    None,
    "--perturbation_model",
    "--perturbation-model",
    help="Perturbation (seed) model folder [default: o4-mini-2025-04-16].",
)
RefinementFilterOpt = typer.Option(
    None, "--refinement_model_filter", "--refinement-model-filter", help="Only runs of this refinement model."
)
ModelOpt = typer.Option("gpt-5-2025-08-07", "--model", help="Model string, or a bare name combined with --api.")
ApiOpt = typer.Option(
    "openai", "--api", help="Provider for a bare --model name: openai, azure, anthropic, anthropic_bedrock."
)
TemperatureOpt = typer.Option(1.0, "--temperature")
MaxTokensOpt = typer.Option(
    None,
    "--max_tokens",
    "--max-tokens",
    min=1,
    help="default: the original's allowance for API models, 1024 for local ones",
)

_API_PREFIX = {
    "openai": "openai/",
    "azure": "openai/azure/",
    "anthropic": "anthropic/",
    "anthropic_bedrock": "anthropic/bedrock/",
}


def model_string(model: str, api: str) -> str:
    from a3.llm.naming import PROVIDERS

    if model.split("/", 1)[0] in PROVIDERS:
        return model
    if api not in _API_PREFIX:
        raise UserInputError(f"--api {api!r}: expected one of {', '.join(_API_PREFIX)}")
    return _API_PREFIX[api] + model


def _workspace(
    work_dir: Path,
    max_cost: float | None,
    prices: Path | None,
    concurrency: int = 16,
    model: str | None = None,
) -> Workspace:
    """The work dir and its client, after checking that ``model`` can be used here (nothing is written if not)."""
    from a3.llm.preflight import preflight
    from a3.llm.types import CallConfig

    if model is not None:
        preflight([CallConfig(model=model)])
    return open_workspace(work_dir, max_cost, prices, concurrency)


def _select_options(
    base_dir: Path | None,
    benchmark_dir: Path | None,
    domain: str,
    perturbation_model: str | None,
    refinement_model: str | None,
    agent: str | None,
    data_filter: Path | None,
    human_filter: Path | None,
) -> SelectOptions:
    from a3.meta import SelectOptions
    from a3.meta.elicitation_runs import DEFAULT_PERTURBATION_MODEL

    if not agent:
        raise UserInputError("--agent is required")
    return SelectOptions(
        agent=agent,
        base_dir=base_dir,
        benchmark_dir=benchmark_dir,
        domain=domain,
        perturbation_model=perturbation_model or DEFAULT_PERTURBATION_MODEL,
        refinement_model=refinement_model,
        data_filter=data_filter,
        human_annotation_filter=human_filter,
    )


BaseDirOpt = typer.Option(None, "--base-dir", "--base_dir", help="The run tree (the perturbed_queries/ folder).")
BenchmarkOpt = typer.Option(
    None,
    "--benchmark-dir",
    help="The reduced benchmark layout ({agent}/{example}/metadata.json + final_successful_query.json).",
)
DomainOpt = typer.Option("all", "--domain", help="Domain folder (os, multi_apps_test, ...) or all.")
RefinementOpt = typer.Option(
    None, "--refinement_model", "--refinement-model", help="Only this refinement model [default: every one found]."
)
DataFilterOpt = typer.Option(
    None, "--data_filter", "--data-filter", help="Baseline-harm filter JSON (task ids to exclude)."
)
GroupingOpt = typer.Option(
    "embed",
    "--grouping",
    help="embed: MiniLM groups, named by the model, which also places the outliers; "
    "llm: the original's batches of summaries placed by the model (always used with --resume).",
)
MaxGroupsOpt = typer.Option(
    None,
    "--max-groups",
    min=2,
    help="embed: the most groups the tree may be cut into [default: as many as the cut gives].",
)
HumanFilterOpt = typer.Option(
    None,
    "--human_annotation_filter",
    "--human-annotation-filter",
    help="final_decisions.json; 'False Positive' runs are excluded.",
)


def _grouping(value: str) -> str:
    if value not in ("embed", "llm"):
        raise UserInputError(f"--grouping {value!r}: expected embed or llm")
    return value


@meta_app.command("select")
@reports_errors
def select_cmd(
    base_dir: Path | None = BaseDirOpt,
    benchmark_dir: Path | None = BenchmarkOpt,
    domain: str = DomainOpt,
    perturbation_model: str | None = PerturbationOpt,
    refinement_model: str | None = RefinementOpt,
    agent: str | None = AgentOpt,
    data_filter: Path | None = DataFilterOpt,
    human_annotation_filter: Path | None = HumanFilterOpt,
    output: Path | None = typer.Option(
        None, "--output", help="Task list file [default: the original's name, in --work-dir]."
    ),
    work_dir: Path = WorkDirOpt,
) -> None:
    """Step 1: list the successful runs; every exclusion is counted and named."""
    from a3.meta import select_runs, write_task_list
    from a3.meta.select import default_output_name

    options = _select_options(
        base_dir,
        benchmark_dir,
        domain,
        perturbation_model,
        refinement_model,
        agent,
        data_filter,
        human_annotation_filter,
    )
    selection = select_runs(options)
    path = output or work_dir / default_output_name(options)
    write_task_list(path, selection)
    meta = selection.metadata
    console.print(
        f"{meta.total_successful_runs} successful runs selected: "
        + ", ".join(f"{m}: {n}" for m, n in meta.successful_runs_by_refinement_model.items())
    )
    for reason, info in meta.exclusions.items():
        console.print(f"  excluded, {reason.replace('_', ' ')}: {info.count}")
    for note in meta.notes:
        console.print(f"  [yellow]note:[/] {note}")
    console.print(f"task list: {path}")


TaskListOpt = typer.Option(
    ..., "--task_list_file", "--task_list_path", "--task-list", help="The task list from `a3 meta select`."
)


@meta_app.command("summarize")
@reports_errors
def summarize_cmd(
    task_list_file: Path = TaskListOpt,
    work_dir: Path = WorkDirOpt,
    agent: str | None = AgentOpt,
    perturbation_model: str | None = PerturbationOpt,
    refinement_model_filter: str | None = RefinementFilterOpt,
    base_dir: Path | None = typer.Option(None, "--base-dir", help="The run tree [default: the task list's base_dir]."),
    model: str = ModelOpt,
    api: str = ApiOpt,
    max_tokens: int | None = MaxTokensOpt,
    temperature: float = TemperatureOpt,
    max_parallel: int = typer.Option(10, "--max_parallel", "--max-parallel", min=1),
    force: bool = typer.Option(False, "--force", help="Summarise again even where a current summary exists."),
    beside_runs: bool = typer.Option(
        False, "--beside-runs", help="Also write the original's elicitation_run_summary.json next to each run."
    ),
    max_cost: float | None = MaxCostOpt,
    prices: Path | None = PricesOpt,
) -> None:
    """Step 2: one summary per run. Exit code 1 if any run could not be summarised."""
    from a3.meta import SummaryOptions, load_task_list, summarize_runs

    tasks = load_task_list(
        task_list_file,
        agent=agent,
        perturbation_model=perturbation_model,
        refinement_model_filter=refinement_model_filter,
        base_dir=base_dir,
    )
    if not tasks.runs:
        raise UserInputError(f"{task_list_file}: the task list holds no runs (did `a3 meta select` select none?)")
    ws = _workspace(work_dir, max_cost, prices, concurrency=max_parallel, model=model_string(model, api))
    options = SummaryOptions(
        model=model_string(model, api),
        max_tokens=max_tokens,
        temperature=temperature,
        force=force,
        beside_runs=beside_runs,
    )
    result = ws.work(lambda bars: summarize_runs(tasks.runs, ws.run, ws.client, options, bars))
    counts = result.counts
    console.print(
        f"summaries: {counts.generated} written, {counts.reused} already current, "
        f"{counts.failed} failed, of {counts.total}"
    )
    if counts.truncated:
        console.print(
            f"  [yellow]{counts.truncated} of the new summaries were cut off at max_tokens[/] "
            "(kept, marked truncated; raise --max_tokens for whole ones)"
        )
    for failure in result.failures:
        console.print(f"  [red]failed[/] {failure.run_id}: {failure.error}")
    if result.failures:
        raise typer.Exit(1)


@meta_app.command("categorize")
@reports_errors
def categorize_cmd(
    task_list_path: Path = TaskListOpt,
    work_dir: Path = WorkDirOpt,
    agent: str | None = AgentOpt,
    perturbation_model: str | None = PerturbationOpt,
    refinement_model_filter: str | None = RefinementFilterOpt,
    resume_categorization_path: Path | None = typer.Option(
        None,
        "--resume_categorization_path",
        "--resume",
        help="Extend this earlier categorization (ours or the original's).",
    ),
    initial_batch: int = typer.Option(10, "--initial_categorization_batch_size", min=1),
    iterative_batch: int = typer.Option(5, "--iterative_categorization_batch_size", min=1),
    parallel_batches: int = typer.Option(
        16,
        "--parallel-batches",
        min=1,
        help="Batches categorized concurrently per wave (1 = the original's one at a time).",
    ),
    merge_every: int = typer.Option(
        4, "--merge-every", min=0, help="Waves between merges of near-duplicate categories (0: only at the end)."
    ),
    pregroup: bool = typer.Option(
        False, "--pregroup", help="llm: group similar summaries into batches first with MiniLM embeddings."
    ),
    grouping: str = GroupingOpt,
    max_groups: int | None = MaxGroupsOpt,
    model: str = ModelOpt,
    api: str = ApiOpt,
    max_tokens: int | None = MaxTokensOpt,
    temperature: float = TemperatureOpt,
    max_cost: float | None = MaxCostOpt,
    prices: Path | None = PricesOpt,
) -> None:
    """Step 3: place every run in benign-input vulnerability categories (new, or extending --resume)."""
    from a3.meta import CategorizeContext, CategorizeOptions, categorize_runs, load_task_list, read_categorization

    tasks = load_task_list(
        task_list_path,
        agent=agent,
        perturbation_model=perturbation_model,
        refinement_model_filter=refinement_model_filter,
    )
    if not tasks.runs:
        raise UserInputError(f"{task_list_path}: the task list holds no runs (did `a3 meta select` select none?)")
    first = tasks.runs[0].run
    context = CategorizeContext(
        agent=agent or (first.agent if first else ""),
        perturbation_model=first.perturbation_model if first else "",
        task_list_path=str(task_list_path),
        refinement_model_filter=refinement_model_filter,
    )
    options = CategorizeOptions(
        model=model_string(model, api),
        max_tokens=max_tokens,
        temperature=temperature,
        initial_batch_size=initial_batch,
        iterative_batch_size=iterative_batch,
        parallel_batches=parallel_batches,
        merge_every=merge_every,
        pregroup=pregroup,
        method=_grouping(grouping),
        max_groups=max_groups,
    )
    embedder = None
    if pregroup or options.method == "embed":
        from a3.meta.categorize.pregroup import minilm_embedder

        embedder = minilm_embedder()
    ws = _workspace(work_dir, max_cost, prices, model=options.model)
    earlier = (
        read_categorization(resume_categorization_path, "categorization to resume")
        if resume_categorization_path
        else None
    )
    categorization = ws.work(
        lambda bars: categorize_runs(
            tasks.runs, ws.run, ws.client, context, options, resume_from=earlier, embedder=embedder, progress=bars
        )
    )
    stats = categorization.statistics
    console.print(
        f"{stats.total_categories} categories; {stats.unique_runs_categorized} of {stats.total_tasks} runs placed, "
        f"{stats.unassigned_runs} unassigned; {stats.sequential_llm_rounds} sequential LLM rounds; "
        f"{stats.unverified_quotes_dropped} trigger phrases dropped (not found in their run)"
    )
    if resume_categorization_path and options.method == "embed":
        console.print("note: extending an earlier categorization uses the llm method (--grouping llm)")
    console.print(f"categorization: {categorization.path}")


@meta_app.command("cluster")
@reports_errors
def cluster_cmd(
    input_path: Path = typer.Option(..., "--input_path", "--input-path", help="The categorization JSON from step 3."),
    output_dir: Path | None = typer.Option(
        None, "--output_dir", help="Where the clusters file goes [default: clusters_<model> beside the input]."
    ),
    work_dir: Path = WorkDirOpt,
    model: str = ModelOpt,
    api: str = ApiOpt,
    max_tokens: int | None = MaxTokensOpt,
    temperature: float = TemperatureOpt,
    max_per_call: int = typer.Option(
        40, "--max-categories-per-call", min=2, help="llm: above this many categories, cluster in levels."
    ),
    grouping: str = typer.Option(
        "embed",
        "--grouping",
        help="embed: categories grouped by their centroids, the model only names the "
        "clusters; llm: the original's, the model groups the categories.",
    ),
    max_cost: float | None = MaxCostOpt,
    prices: Path | None = PricesOpt,
) -> None:
    """Step 4a: group categories into clusters (each category in exactly one)."""
    from a3.meta import ClusterOptions, cluster_categories, read_categorization

    options = ClusterOptions(
        model=model_string(model, api),
        max_tokens=max_tokens,
        temperature=temperature,
        max_categories_per_call=max_per_call,
        method=_grouping(grouping),
    )
    ws = _workspace(work_dir, max_cost, prices, model=options.model)
    categorization = read_categorization(input_path)
    embedder = None
    if options.method == "embed":
        from a3.meta.categorize.pregroup import minilm_embedder

        embedder = minilm_embedder()
    clusters = ws.work(
        lambda bars: cluster_categories(categorization, ws.run, ws.client, options, output_dir, embedder=embedder)
    )
    stats = clusters.statistics
    console.print(f"{stats.input_categories} categories -> {stats.output_clusters} clusters ({stats.levels} level(s))")
    console.print(f"clusters: {clusters.path}")


@meta_app.command("report")
@reports_errors
def report_cmd(
    cluster_path: Path = typer.Option(..., "--cluster_path", "--cluster-path", help="The clusters JSON from step 4a."),
    categorization_path: Path | None = typer.Option(
        None, "--categorization_path", help="[default: the one the clusters file names]"
    ),
    output_path: Path | None = typer.Option(None, "--output_path", help="Markdown path; the HTML goes beside it."),
    max_examples: int = typer.Option(3, "--max_examples", "--max-examples", min=0),
    print_report: bool = typer.Option(False, "--print_report", "--print-report"),
) -> None:
    """Step 4b: the cluster report, Markdown and self-contained HTML."""
    from a3.meta import read_categorization, read_clusters, write_report

    clusters = read_clusters(cluster_path)
    categorization = read_categorization(Path(categorization_path or clusters.metadata.input_path))
    markdown, page = write_report(clusters, categorization, output_path, max_examples)
    if print_report:
        console.print(markdown.read_text(), markup=False, highlight=False)
    console.print(f"report: {markdown}\nreport (HTML): {page}")


@meta_app.command("run")
@reports_errors
def run_cmd(
    base_dir: Path | None = BaseDirOpt,
    benchmark_dir: Path | None = BenchmarkOpt,
    domain: str = DomainOpt,
    perturbation_model: str | None = PerturbationOpt,
    refinement_model: str | None = RefinementOpt,
    agent: str | None = AgentOpt,
    data_filter: Path | None = DataFilterOpt,
    human_annotation_filter: Path | None = HumanFilterOpt,
    work_dir: Path = WorkDirOpt,
    model: str = ModelOpt,
    api: str = ApiOpt,
    max_parallel: int = typer.Option(16, "--max_parallel", "--max-parallel", min=1),
    parallel_batches: int = typer.Option(16, "--parallel-batches", min=1),
    pregroup: bool = typer.Option(False, "--pregroup"),
    grouping: str = GroupingOpt,
    max_groups: int | None = MaxGroupsOpt,
    max_tokens: int | None = MaxTokensOpt,
    temperature: float = TemperatureOpt,
    max_cost: float | None = MaxCostOpt,
    prices: Path | None = PricesOpt,
) -> None:
    """All steps, resumable, into --work-dir with one cost ledger. --max_tokens and --temperature
    apply to every step (as each step's own flags do)."""
    from a3.meta import CategorizeOptions, ClusterOptions, MetaRunOptions, SummaryOptions, run_meta

    name = model_string(model, api)
    options = MetaRunOptions(
        select=_select_options(
            base_dir,
            benchmark_dir,
            domain,
            perturbation_model,
            refinement_model,
            agent,
            data_filter,
            human_annotation_filter,
        ),
        summary=SummaryOptions(model=name, max_tokens=max_tokens, temperature=temperature),
        categorize=CategorizeOptions(
            model=name,
            max_tokens=max_tokens,
            temperature=temperature,
            parallel_batches=parallel_batches,
            pregroup=pregroup,
            method=_grouping(grouping),
            max_groups=max_groups,
        ),
        cluster=ClusterOptions(model=name, max_tokens=max_tokens, temperature=temperature, method=_grouping(grouping)),
    )
    embedder = None
    if pregroup or options.categorize.method == "embed":
        from a3.meta.categorize.pregroup import minilm_embedder

        embedder = minilm_embedder()
    ws = _workspace(work_dir, max_cost, prices, concurrency=max_parallel, model=name)
    result = ws.work(lambda bars: run_meta(options, ws.run, ws.client, embedder=embedder, progress=bars))
    failures = result.summaries.failures
    if failures:
        console.print(
            f"[yellow]{len(failures)} runs could not be summarised[/] (the embed grouping still places them "
            "by their instructions and harm; the llm grouping lists them as unassigned):"
        )
        for failure in failures[:20]:
            console.print(f"  {failure.run_id}: {failure.error}", soft_wrap=True, markup=False)
    console.print(
        f"task list: {result.task_list}\ncategorization: {result.categorization.path}\nclusters: {result.clusters.path}"
    )
    console.print(f"report: {result.report_markdown}\nreport (HTML): {result.report_html}")


@meta_app.command("sample-data")
@reports_errors
def sample_data_cmd(
    out: Path = typer.Argument(..., help="Folder to create the synthetic data in."),
    runs: int = typer.Option(60, "--runs", min=1, help="Number of elicitation runs to generate."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write synthetic elicitation-run data in the original layout (for trying the pipeline)."""
    from a3.meta import write_sample_data

    info = write_sample_data(out, n_runs=runs, seed=seed)
    console.print(f"{runs} runs in {info.runs_dir} ({dict(info.outcomes)})")
    console.print(
        f"filters: {info.baseline_filter}, {info.human_filter}\n"
        f"reduced benchmark: {info.benchmark_dir}\nagent: {info.agent}"
    )
