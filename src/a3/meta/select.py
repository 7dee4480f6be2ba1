"""Step 1, ``a3 meta select``: the successful elicitation runs, with every exclusion counted and named.

Reads the original run tree or the reduced benchmark layout
(``{agent}/{example}/metadata.json`` + ``final_successful_query.json``) into the task list in the
original's schema (``a3.meta.formats.Selection``), plus canonical run ids, the exclusions and
notes. Unlike the original, the baseline-harm filter applies to every domain (``--domain all``
included), its agent key may be written with or without the ``agent_`` prefix, and a filter entry
that is missing is reported.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from a3.errors import UserInputError
from a3.meta.elicitation_runs import DEFAULT_PERTURBATION_MODEL, RunId, sanitise, success_threshold, successful_attempt
from a3.meta.formats import (
    BenchmarkRun,
    ExcludedRun,
    Exclusion,
    RefinementSummary,
    Selection,
    SelectionMetadata,
    TreeRun,
    load_baseline_filter,
    load_false_positives,
    shape_problem,
)

_SKIPPED_SUFFIXES = (".zip", ".py", ".txt", ".json")


class SelectOptions(BaseModel):
    """Where the runs are (a run tree or the reduced benchmark, exactly one) and the filters ``select_runs`` applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent: str
    base_dir: Path | None = None  # the run tree (perturbed_queries/)
    benchmark_dir: Path | None = None  # the reduced benchmark layout
    domain: str = "all"
    perturbation_model: str = DEFAULT_PERTURBATION_MODEL
    refinement_model: str | None = None
    data_filter: Path | None = None
    human_annotation_filter: Path | None = None


@dataclass
class _Tally:
    """Exclusions by reason, each with the items it excluded, and notes for the user."""

    reasons: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    notes: list[str] = field(default_factory=list)

    def exclude(self, reason: str, item: str) -> None:
        self.reasons[reason].append(item)

    def exclusions(self) -> dict[str, Exclusion]:
        return {
            reason: Exclusion(count=len(items), items=sorted(items)) for reason, items in sorted(self.reasons.items())
        }


def select_runs(options: SelectOptions) -> Selection:
    """The successful runs of ``options.agent``, every exclusion counted and named by its reason.

    Success is the refiner's own rule on each run's history; the baseline-harm and human-annotation
    filters then drop runs. Raises ``UserInputError`` for a missing folder or unreadable filter."""
    if (options.base_dir is None) == (options.benchmark_dir is None):
        raise UserInputError(
            "give exactly one of --base-dir (the run tree) and --benchmark-dir (the reduced benchmark)"
        )
    tally = _Tally()
    given = options.base_dir or options.benchmark_dir
    assert given is not None  # exactly one is given, checked above
    root = given.resolve()
    if not root.is_dir():
        raise UserInputError(f"{root}: no such directory")
    false_positives = (
        load_false_positives(options.human_annotation_filter, options.agent)
        if options.human_annotation_filter
        else set()
    )
    found: list[TreeRun] | list[BenchmarkRun]
    if options.base_dir is not None:
        found, domains = _walk_tree(root, options, tally)
    else:
        found, domains = _walk_benchmark(root, options, tally)
    baseline = (
        load_baseline_filter(options.data_filter, options.agent, domains, tally.notes) if options.data_filter else set()
    )

    details: dict[str, list[TreeRun | BenchmarkRun]] = defaultdict(list)
    excluded_fp: list[ExcludedRun] = []
    excluded_tasks: set[str] = set()
    for detail in found:
        run = RunId.parse(detail.run_id)
        if (run.domain, run.task_id) in baseline:
            tally.exclude("baseline_harm_filter", detail.run_id)
            excluded_tasks.add(run.task_id)
            continue
        fp_key = f"{run.task_id}:{run.perturbed_id}:{run.refinement_model}"
        if fp_key in false_positives:
            tally.exclude("human_false_positive", detail.run_id)
            excluded_fp.append(
                ExcludedRun(
                    domain=detail.domain,
                    task_id=detail.task_id,
                    perturbed_id=detail.perturbed_id,
                    refinement_model=detail.refinement_model,
                    task_spec=detail.task_spec,
                    fp_key=fp_key,
                    run_id=detail.run_id,
                )
            )
            continue
        details[run.refinement_model].append(detail)

    models = sorted(details)
    for model in models:
        details[model].sort(key=lambda d: (d.task_spec, d.run_id))
    fp_by_model: dict[str, int] = defaultdict(int)
    for entry in excluded_fp:
        fp_by_model[entry.refinement_model] += 1
    metadata = SelectionMetadata(
        generated_at=datetime.now().isoformat(timespec="seconds"),
        source="run_tree" if options.base_dir is not None else "benchmark",
        base_dir=str(root),
        domain=options.domain,
        perturbation_model=options.perturbation_model,
        refinement_model=options.refinement_model,
        agent=options.agent,
        data_filter=str(options.data_filter) if options.data_filter else None,
        human_annotation_filter=str(options.human_annotation_filter) if options.human_annotation_filter else None,
        excluded_task_ids_baseline_harm=sorted(excluded_tasks),
        num_excluded_tasks_baseline_harm=len(excluded_tasks),
        num_excluded_false_positives=len(excluded_fp),
        excluded_false_positives_by_refinement_model=dict(sorted(fp_by_model.items())),
        refinement_models_found=models,
        total_successful_runs=sum(len(v) for v in details.values()),
        successful_runs_by_refinement_model={m: len(details[m]) for m in models},
        exclusions=tally.exclusions(),
        notes=tally.notes,
    )
    return Selection(
        metadata=metadata,
        task_details_by_refinement_model={m: details[m] for m in models},
        excluded_false_positives=excluded_fp,
    )


def _domains(root: Path, domain: str) -> list[str]:
    if domain.lower() != "all":
        if not (root / domain).is_dir():
            raise UserInputError(f"{root / domain}: no such domain directory")
        return [domain]
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.endswith(_SKIPPED_SUFFIXES))


def _walk_tree(root: Path, options: SelectOptions, tally: _Tally) -> tuple[list[TreeRun], list[str]]:
    domains = _domains(root, options.domain)
    agent_dir_name = f"agent_{sanitise(options.agent)}"
    found = []
    for domain in domains:
        for task_dir in sorted(p for p in (root / domain).iterdir() if p.is_dir()):
            model_dir = task_dir / options.perturbation_model
            if not model_dir.is_dir():
                tally.exclude("no_perturbation_model_dir", f"{domain}/{task_dir.name}")
                continue
            for seed_dir in sorted(
                p for p in model_dir.iterdir() if p.is_dir() and p.name.startswith("perturbed_query_")
            ):
                perturbed_id = seed_dir.name.removeprefix("perturbed_query_")
                for refinement in _refinement_models(seed_dir, options.refinement_model, tally):
                    run = RunId(
                        domain, task_dir.name, options.perturbation_model, perturbed_id, refinement, options.agent
                    )
                    detail = _examine_run(run, seed_dir / f"iterative_refinement_{refinement}" / agent_dir_name, tally)
                    if detail is not None:
                        found.append(detail)
    return found, domains


def _refinement_models(seed_dir: Path, wanted: str | None, tally: _Tally) -> list[str]:
    if wanted is not None:
        return [sanitise(wanted)] if (seed_dir / f"iterative_refinement_{sanitise(wanted)}").is_dir() else []
    models = []
    for path in sorted(seed_dir.glob("iterative_refinement_*")):
        suffix = path.name.removeprefix("iterative_refinement_")
        if "_attempt_" in suffix:
            tally.exclude("archived_attempt_dir", str(path.relative_to(seed_dir.parents[3])))
            continue
        if path.is_dir():
            models.append(suffix)
    return models


def _examine_run(run: RunId, agent_dir: Path, tally: _Tally) -> TreeRun | None:
    if not agent_dir.is_dir():
        return None  # this seed was not run with this agent: not a run, nothing to exclude
    summary_path = agent_dir / "refinement_summary.json"
    if not summary_path.exists():
        tally.exclude("no_refinement_summary", str(run))
        return None
    try:
        raw = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        tally.exclude("unreadable_refinement_summary", str(run))
        tally.notes.append(f"{summary_path}: skipped, cannot be read: {exc}")
        return None
    try:
        summary = RefinementSummary.model_validate(raw)
    except ValidationError as exc:
        tally.exclude("malformed_refinement_summary", str(run))
        tally.notes.append(f"{summary_path}: skipped, {shape_problem(exc)}")
        return None
    history = summary.attempts
    attempt = successful_attempt(history, success_threshold(agent_dir))
    flag = summary.success
    if history and (attempt is not None) != flag:
        tally.notes.append(
            f"{run}: the 'success' flag says {flag} but the refiner's rule on the history says "
            f"{attempt is not None}; the rule is used"
        )
    succeeded = attempt is not None if history else flag
    if not succeeded:
        tally.exclude("not_successful", str(run))
        return None
    verdict = attempt.verdict if attempt is not None else None
    score = verdict.behavior_elicitation_score if verdict is not None else None
    collect = verdict is not None and verdict.recommendation == "COLLECT"
    return TreeRun(
        domain=run.domain,
        task_id=run.task_id,
        perturbed_id=run.perturbed_id,
        task_spec=run.task_spec,
        refinement_model=run.refinement_model,
        refinement_summary_path=str(summary_path),
        execution_iterations=summary.iterations(),
        final_score=summary.score(score if score is not None else 0),
        run_id=str(run),
        success_by="collect" if collect else ("score" if attempt else "flag"),
    )


def _walk_benchmark(root: Path, options: SelectOptions, tally: _Tally) -> tuple[list[BenchmarkRun], list[str]]:
    agent_dir = root / options.agent
    if not agent_dir.is_dir():
        raise UserInputError(f"{agent_dir}: no benchmark folder for agent '{options.agent}'")
    found, domains = [], set()
    for example_dir in sorted(p for p in agent_dir.iterdir() if p.is_dir()):
        try:
            meta = json.loads((example_dir / "metadata.json").read_text(encoding="utf-8"))
            query = json.loads((example_dir / "final_successful_query.json").read_text(encoding="utf-8"))
            task_id, perturbed_id, refinement, agent = meta["example_id"].split(":")
        except (OSError, ValueError, KeyError):
            tally.exclude("unreadable_benchmark_example", str(example_dir.relative_to(root)))
            continue
        domain = meta.get("domain", "unknown")
        if options.domain.lower() != "all" and domain != options.domain:
            tally.exclude("other_domain", meta["example_id"])
            continue
        if options.refinement_model and refinement != sanitise(options.refinement_model):
            tally.exclude("other_refinement_model", meta["example_id"])
            continue
        domains.add(domain)
        run = RunId(domain, task_id, options.perturbation_model, perturbed_id, refinement, agent)
        found.append(
            BenchmarkRun(
                domain=domain,
                task_id=task_id,
                perturbed_id=perturbed_id,
                task_spec=run.task_spec,
                refinement_model=refinement,
                benchmark_example_dir=str(example_dir),
                execution_iterations=query.get("execution_iterations_required"),
                final_score=query.get("behavior_elicitation_score"),
                severity=meta.get("severity"),
                run_id=str(run),
                success_by="benchmark",
            )
        )
    return found, sorted(domains)


def default_output_name(options: SelectOptions) -> str:
    """The original's file name, with the baseline suffix only when the filter was applied."""
    domain = "all_domains" if options.domain.lower() == "all" else options.domain
    model = f"_{sanitise(options.refinement_model)}" if options.refinement_model else "_all_refinement_models"
    suffix = ("_0pct_baseline" if options.data_filter else "") + (
        "_human_filtered" if options.human_annotation_filter else ""
    )
    return f"task_list_{domain}_{options.agent.replace('-', '_')}{model}{suffix}_{datetime.now():%Y%m%d_%H%M%S}.json"
