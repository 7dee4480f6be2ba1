"""``a3 meta run``: every step in one go, into one work directory with one cost ledger.

Each step hands the next its result: the selection's task list, the categorization, the clusters.
The task list and the report are written for the user; the steps' own files (summaries,
checkpoints, the categorization and clusters files) are where a resumed run picks up.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from a3.errors import UserInputError
from a3.llm import LLMClient
from a3.meta.categorize.pregroup import Embedder
from a3.meta.categorize.stage import CategorizeContext, CategorizeOptions, categorize_runs
from a3.meta.cluster import ClusterOptions, cluster_categories
from a3.meta.formats import Categorization, Clusters, SelectionMetadata, write_task_list
from a3.meta.report import write_report
from a3.meta.select import SelectOptions, select_runs
from a3.meta.summarize import SummaryOptions, SummaryReport, summarize_runs
from a3.progress import Progress
from a3.store import RunDir


class MetaRunOptions(BaseModel):
    """Every step's options for ``run_meta``: which runs to select, and how to summarise, categorize and cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    select: SelectOptions
    summary: SummaryOptions = SummaryOptions()
    categorize: CategorizeOptions = CategorizeOptions()
    cluster: ClusterOptions = ClusterOptions()
    max_examples: int = 3


class MetaRunResult(BaseModel):
    """What ``run_meta`` wrote: the task list, each step's result and the report's two formats."""

    task_list: Path
    summaries: SummaryReport  # the runs it could not summarise are listed as unassigned
    categorization: Categorization
    clusters: Clusters
    report_markdown: Path
    report_html: Path


def no_runs_message(metadata: SelectionMetadata) -> str:
    """Why a selection came out empty: the exclusions by reason."""
    reasons = ", ".join(f"{reason.replace('_', ' ')}: {info.count}" for reason, info in metadata.exclusions.items())
    return f"no runs selected from {metadata.base_dir} for agent {metadata.agent!r}" + (
        f" (excluded: {reasons})" if reasons else " (no runs found)"
    )


async def run_meta(
    options: MetaRunOptions,
    run_dir: RunDir,
    client: LLMClient,
    *,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> MetaRunResult:
    """The whole meta-analysis into ``run_dir``: select, summarise, categorize, cluster, report.

    Each step resumes where an earlier call stopped; a run that cannot be summarised is still
    categorized from its files. Raises ``UserInputError`` when no run is selected."""
    selection = select_runs(options.select)
    if not selection.metadata.total_successful_runs:
        raise UserInputError(no_runs_message(selection.metadata))
    task_list_path = run_dir.path / "task_list.json"
    write_task_list(task_list_path, selection)
    runs = selection.task_list().runs
    # A run that cannot be summarised does not stop the others: it is listed as unassigned.
    summaries = await summarize_runs(runs, run_dir, client, options.summary, progress)
    context = CategorizeContext(
        agent=options.select.agent,
        perturbation_model=options.select.perturbation_model,
        task_list_path=str(task_list_path),
        refinement_model_filter=options.select.refinement_model,
    )
    categorization = await categorize_runs(
        runs, run_dir, client, context, options.categorize, embedder=embedder, progress=progress
    )
    clusters = await cluster_categories(categorization, run_dir, client, options.cluster, embedder=embedder)
    markdown, page = write_report(clusters, categorization, max_examples=options.max_examples)
    return MetaRunResult(
        task_list=task_list_path,
        summaries=summaries,
        categorization=categorization,
        clusters=clusters,
        report_markdown=markdown,
        report_html=page,
    )
