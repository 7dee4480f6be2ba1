"""Reading an alignment run directory into the facts its report shows.

Everything comes from files the stages wrote (config, stage manifests, splits, summaries, the
cost ledger, the judge's verdicts); a stage that has not run yet is simply absent from the report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from a3 import __version__
from a3.align import layout
from a3.align.compare.dspy.defence import DspyResult, program_label
from a3.align.compare.icl import IclSummary, trial_label
from a3.align.compare.icl import iteration_label as icl_iteration_label
from a3.align.compare.planners import planner_method
from a3.align.finetune.records import FinetuneSummary, IterationRecord, iteration_label
from a3.align.generate.stage import HypothesisSummary
from a3.align.measure.capability import BenchmarkScore
from a3.align.measure.judge_validation import JudgeValidation
from a3.align.measure.noise import NoiseFloor
from a3.align.measure.selection import CandidateTests, Selection
from a3.align.metrics import Metrics
from a3.align.records import Kind, Verdict
from a3.align.run_files import SPLITS, ConfigOutline, RunFiles
from a3.align.split import SplitAssignment, SplitFile
from a3.config import A3Config
from a3.errors import UserInputError
from a3.llm.local import CATALOG
from a3.report.transcripts import Transcripts, collect_transcripts
from a3.stats import PairedComparison, paired_comparison
from a3.store import RunDir, StageManifest, UsageTotals

STAGE_ORDER = ("generate", "split", "expected", "general", "finetune")


@dataclass(frozen=True)
class Point:
    """One model measured on one split: a row of the comparison and a dot on the Pareto plot."""

    method: str  # "base", "A3", "fixed mixing", ...
    name: str  # "base model", "iteration 3", "dolci15_harmful50_benign50"
    split: str  # "validation" or "ood"
    sfr: float | None
    fpr: float | None
    highlight: bool = False  # the chosen iteration


@dataclass(frozen=True)
class JudgeCheck:
    description: str  # how the run's judge decides, per kind
    validation: JudgeValidation | None
    current: bool  # the validation was made for the judge this run's config describes


@dataclass(frozen=True)
class StageRow:
    """A stage's last attempt, from its manifest."""

    stage: str
    status: str | None
    finished_at: str | None
    duration_s: float | None
    calls: int
    cost_usd: float


@dataclass(frozen=True)
class Costs:
    """The ledger's totals per stage (or ledger label) and per model: paid calls, cache hits, tokens, dollars."""

    by_stage: dict[str, UsageTotals]
    by_model: dict[str, UsageTotals]

    @property
    def total_usd(self) -> float:
        return sum(row.cost_usd for row in self.by_stage.values())

    @property
    def unpriced_calls(self) -> int:
        return sum(row.unpriced_calls for row in self.by_stage.values())


@dataclass
class JudgeValidity:
    """Verdicts asked of the judge, those that validated, and those that did at the first try."""

    asked: int = 0
    valid: int = 0
    first_try: int = 0


@dataclass(frozen=True)
class HypothesisRow:
    summary: HypothesisSummary  # what stage 1 found for it
    split: str  # where stage 2 put it ("train", "ood", "train, validation, test" by query; "—" before the split)


@dataclass(frozen=True)
class SplitSize:
    hypotheses: int
    harmful: int
    benign: int


@dataclass(frozen=True)
class IterationRow:
    record: IterationRecord
    on_front: bool
    chosen: bool


@dataclass(frozen=True)
class ComparisonRow:
    """A model measured on the run's sets: validation and OOD, and the sealed test where measured."""

    method: str
    name: str
    validation: Metrics | None
    ood: Metrics | None
    test: Metrics | None = None
    chosen: bool = False

    def on(self, split: str) -> Metrics | None:
        return {"validation": self.validation, "ood": self.ood, "test": self.test}[split]


@dataclass(frozen=True)
class PlannerResult:
    """One planner's loop on the run: stage 4's own, or a comparison's (``a3 baseline planner``)."""

    planner: str
    method: str  # how its models are named
    iterations: list[IterationRecord]
    summary: FinetuneSummary
    paired_test: dict[str, PairedComparison]  # its chosen adapter against the base model on the sealed test

    @property
    def seconds(self) -> float:
        return sum(sum(r.seconds.values()) for r in self.iterations)


@dataclass(frozen=True)
class TestResult:
    """The chosen iteration and the base model on the sealed test split."""

    iteration: int
    chosen: Metrics
    base: Metrics
    noise_floor: NoiseFloor | None = None  # the base model measured a second time on the same queries
    tests: CandidateTests | None = None  # the choice's tests on the sealed test (None in older runs)
    # the sealed benchmarks' scores (None: not measured): base model, chosen adapter
    sealed_capability: tuple[dict[str, BenchmarkScore], dict[str, BenchmarkScore]] | None = None


@dataclass(frozen=True)
class DspyDefence:
    result: DspyResult
    candidates: int  # instructions GEPA proposed


@dataclass(frozen=True)
class IclDefence:
    name: str
    iteration: int
    examples: list[str]
    reasoning: str


@dataclass
class ReportData:
    """Everything the run report shows, collected from a run directory by ``collect``."""

    run: Path
    created_at: str
    a3_version: str
    attack: dict[str, str]
    models: dict[str, str]  # role -> model string
    model_versions: dict[str, str]  # local model -> weights sha256
    prompt_versions: dict[str, str]
    stages: list[StageRow]
    hypotheses: list[HypothesisRow]
    split_sizes: dict[str, SplitSize]
    split_by: str  # how stage 2 split the data: "hypothesis" or "query"
    iterations: list[IterationRow]
    selection: Selection | None
    fallbacks: dict[str, str]  # iteration -> why A3 made its plan (the agent gave no valid decision)
    comparison: list[ComparisonRow]
    points: list[Point]
    test: TestResult | None
    costs: Costs
    judge: JudgeValidity
    judge_check: JudgeCheck | None = None  # the judge's validation against labels, and whether it holds for this run
    # base vs chosen on the sealed test: "harmful" (SFR), "benign" (FPR), "benign_unsafe" (benign SFR)
    paired_test: dict[str, PairedComparison] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # queries the quality gate refused, by reason
    notes: list[str] = field(default_factory=list)
    dspy: list[DspyDefence] = field(default_factory=list)  # the instructions each DSPy program was optimised to
    icl: list[IclDefence] = field(default_factory=list)  # the examples of each ICL trial's chosen iteration
    transcripts: Transcripts = field(default_factory=lambda: Transcripts({}, {}, [], []))  # every judged reply
    planners: list[PlannerResult] = field(
        default_factory=list
    )  # stage 4's planner first, then the ones compared with it


def collect(run_dir: str | Path) -> ReportData:
    """The report's facts; a file this version cannot read is named in a UserInputError."""
    try:
        return _collect(Path(run_dir))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UserInputError(
            f"{run_dir}: a file there ({exc.title}) does not fit this A3 version ({where}: {first['msg']}); it was "
            "probably written by an older version: rerun that stage, or report it with the version that "
            "wrote it"
        ) from None


def _collect(run: Path) -> ReportData:
    run_dir = RunDir(run)
    if not run_dir.stages_dir.is_dir():
        raise UserInputError(f"{run}: not a run directory (no stages/ folder); give the folder `a3 run` wrote")
    files = RunFiles(run_dir)
    manifests = files.manifests()
    if not set(manifests) & set(STAGE_ORDER):
        raise UserInputError(
            f"{run}: no alignment stage has run here (stages: {', '.join(sorted(manifests)) or 'none'}); "
            "a meta-analysis run has its report from `a3 meta report`"
        )
    config = files.config()
    outline = ConfigOutline.model_validate(config.model_dump(mode="json")) if config else files.config_outline()
    assignment = files.assignment()
    split_of: dict[str, str] = {}
    for name in SPLITS:  # by query, an in-distribution hypothesis is in train, validation and test
        for h in assignment.hypotheses(name) if assignment else []:
            split_of[h] = f"{split_of[h]}, {name}" if h in split_of else name
    summary = files.finetune_summary()
    iterations = files.iterations()
    selection = summary.selection if summary else None
    test = _test_results(files)
    splits = files.splits()
    icl_summaries = files.icl_summaries()
    dspy_programs = files.dspy_programs()
    planners = _planners(files, outline.finetune.planner, iterations, summary, splits["test"])
    dspy_results = [result for result, _ in dspy_programs]
    comparison = _comparison(files, iterations, selection, test, icl_summaries, dspy_results, planners[1:])
    models = _models(outline, manifests)
    generation = files.generation()
    return ReportData(
        run=run,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        a3_version=__version__,
        attack={
            "name": outline.attack.name or run.name,
            "description": outline.attack.description,
        },
        models=models,
        model_versions={
            m: CATALOG[m.split("/", 1)[1]].sha256
            for m in models.values()
            if m.startswith("local/") and m.split("/", 1)[1] in CATALOG
        },
        prompt_versions={k: v for m in manifests.values() for k, v in m.prompt_versions.items()},
        stages=[_stage_row(name, manifests[name]) for name in sorted(manifests, key=_stage_order)],
        hypotheses=[HypothesisRow(h, split_of.get(h.id, "—")) for h in (generation.hypotheses if generation else [])],
        split_sizes=_split_sizes(splits, assignment),
        split_by=assignment.by if assignment else "hypothesis",
        iterations=[
            IterationRow(
                r,
                bool(selection and r.iteration in selection.pareto_front),
                bool(selection and r.iteration == selection.chosen),
            )
            for r in iterations
        ],
        selection=selection,
        fallbacks=summary.fallbacks if summary else {},
        comparison=comparison,
        dspy=[DspyDefence(result, len(prompt.candidates) if prompt else 0) for result, prompt in dspy_programs],
        icl=_icl_defences(files, icl_summaries),
        points=[
            Point(row.method, row.name, split, metrics.sfr, metrics.fpr, row.chosen)
            for row in comparison
            for split in ("validation", "ood", "test")
            if (metrics := row.on(split))
        ],
        test=test,
        costs=_costs(run),
        judge=_judge_validity(files),
        judge_check=_judge_check(files, config),
        paired_test=planners[0].paired_test if planners else {},
        dropped=generation.dropped if generation else {},
        transcripts=collect_transcripts(files, splits),
        planners=planners,
    )


def _stage_order(name: str) -> int:
    return STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER)


def _models(config: ConfigOutline, manifests: dict[str, StageManifest]) -> dict[str, str]:
    models = {role: model for m in manifests.values() for role, model in m.models.items()}
    for role, name in (("target", config.target_model.model_name), ("judge", config.judge_model.model_name)):
        if name and role not in models:
            models[role] = name
    return models


def _stage_row(name: str, manifest: StageManifest) -> StageRow:
    return StageRow(
        name,
        manifest.status,
        manifest.finished_at,
        manifest.duration_s,
        manifest.usage.calls,
        manifest.usage.cost_usd,
    )


def _split_sizes(splits: dict[str, SplitFile | None], assignment: SplitAssignment | None) -> dict[str, SplitSize]:
    sizes = {}
    for name, split in splits.items():
        if split is None:
            continue
        kinds = [q.kind for q in split.queries]
        hypotheses = assignment.hypotheses(name) if assignment else split.hypotheses
        sizes[name] = SplitSize(len(hypotheses), kinds.count("harmful"), kinds.count("benign"))
    return sizes


def _test_results(files: RunFiles) -> TestResult | None:
    chosen = files.chosen_test()
    if chosen is None:
        return None
    base = files.test_baseline() or Metrics()
    sealed = (
        (chosen.capability_base, chosen.capability)
        if chosen.capability_base is not None and chosen.capability is not None
        else None
    )
    return TestResult(chosen.iteration, chosen.test, base, chosen.noise_floor, chosen.tests, sealed)


def _comparison(
    files: RunFiles,
    iterations: list[IterationRecord],
    selection: Selection | None,
    test: TestResult | None,
    icl: list[IclSummary],
    dspy: list[DspyResult],
    planners: list[PlannerResult],
) -> list[ComparisonRow]:
    """Every measured model, each with its validation and OOD rates (and test where measured)."""
    rows: list[ComparisonRow] = []
    baseline = files.baseline()
    if baseline is not None:
        rows.append(
            ComparisonRow(
                "base", "base model", baseline.get("validation"), baseline.get("ood"), test.base if test else None
            )
        )
    for record in iterations:
        chosen = selection is not None and record.iteration == selection.chosen
        rows.append(
            ComparisonRow(
                "A3",
                iteration_label(record.iteration),
                record.validation,
                record.ood,
                test.chosen if test and chosen else None,
                chosen,
            )
        )
    for planner in planners:  # each compared planner's chosen iteration
        chosen_record = next((r for r in planner.iterations if r.iteration == planner.summary.selection.chosen), None)
        if chosen_record is not None:
            rows.append(
                ComparisonRow(
                    planner.method,
                    iteration_label(chosen_record.iteration),
                    chosen_record.validation,
                    chosen_record.ood,
                    planner.summary.chosen_test,
                )
            )
    for mix in files.fixed_mix():
        rows.append(ComparisonRow("fixed mixing", mix.name, mix.validation, mix.ood, mix.test))
    for summary in icl:
        best = next((r for r in summary.iterations if r.iteration == summary.selection.chosen), None)
        if best is not None:
            rows.append(
                ComparisonRow(
                    "ICL",
                    icl_iteration_label(summary.method, summary.trial, best.iteration),
                    best.validation,
                    best.ood,
                    summary.test,
                )
            )
    for result in dspy:
        rows.append(ComparisonRow("DSPy", program_label(result.name), result.validation, result.ood, result.test))
    for evaluation in files.evaluations():
        rows.append(ComparisonRow("evaluated", evaluation.name, evaluation.validation, evaluation.ood))
    return rows


def _icl_defences(files: RunFiles, summaries: list[IclSummary]) -> list[IclDefence]:
    """The examples of each ICL trial's chosen iteration, with the agent's reasoning."""
    found = []
    for summary in summaries:
        chosen = summary.selection.chosen
        if not chosen:
            continue
        selection = files.icl_selection(summary, chosen)
        if selection is not None:
            label = trial_label(summary.method, summary.trial)
            found.append(IclDefence(label, chosen, selection.example_ids, selection.reasoning))
    return found


def _costs(run: Path) -> Costs:
    """Paid calls, cache hits, tokens and dollars from the ledger, per stage and per model."""
    costs = Costs(defaultdict(UsageTotals), defaultdict(UsageTotals))
    for entry in RunDir(run).ledger.entries():  # a run's ledger has a path: its file's entries
        costs.by_stage[entry.stage or "—"].add(entry)
        costs.by_model[entry.model or "—"].add(entry)
    return costs


def _judge_check(files: RunFiles, config: A3Config | None) -> JudgeCheck | None:
    from a3.align.measure.judge import describe_judge, judge_identity
    from a3.align.roles import judge_spec

    if config is None:
        return None  # a config this version cannot read: the report says nothing rather than guess
    validation = files.judge_validation()
    judge = judge_spec(config)
    current = validation is not None and validation.judge == judge_identity(judge)
    return JudgeCheck(description=describe_judge(judge), validation=validation, current=current)


# Each rate of the paired comparison and the query kind it is over (its decision: ``_paired_decision``).
PAIRED_RATES: dict[str, Kind] = {"harmful": "harmful", "benign": "benign", "benign_unsafe": "benign"}


def _paired_decision(rate: str, verdict: Verdict | None) -> bool | None:
    """A verdict's decision for one paired rate (SFR and FPR: the kind's own judge; the benign SFR:
    the harmful judge's check of a benign reply); None when that judge gave none."""
    if rate == "benign_unsafe":
        return bool(verdict.unsafe) if verdict is not None and verdict.unsafe_status == "ok" else None
    return bool(verdict.flagged) if verdict is not None and verdict.status == "ok" else None


def _planners(
    files: RunFiles,
    own: str,
    iterations: list[IterationRecord],
    summary: FinetuneSummary | None,
    split: SplitFile | None,
) -> list[PlannerResult]:
    """Stage 4's loop (first, when it has run; ``own`` its planner) and every planner compared with it."""
    results = []
    if summary is not None:
        results.append(PlannerResult(own, "A3", iterations, summary, _paired_test(files, layout.STAGE4, split)))
    for name in files.planner_names():
        where = layout.planner_folder(name)
        planned = files.finetune_summary(where)
        assert planned is not None  # planner_names lists the finished ones
        results.append(
            PlannerResult(
                name, planner_method(name), files.iterations(where), planned, _paired_test(files, where, split)
            )
        )
    return results


def _paired_test(files: RunFiles, where: layout.LoopFolder, split: SplitFile | None) -> dict[str, PairedComparison]:
    """Base model and a loop's chosen adapter on the same sealed test queries, per rate (SFR, FPR
    and the benign SFR), for a paired test."""
    if not files.has_chosen_test(where):
        return {}
    base = {v.id: v for v in files.verdicts(layout.GENERATION)}
    chosen = {v.id: v for v in files.verdicts(where.test_eval)}
    result = {}
    for name, kind in PAIRED_RATES.items():
        before, after = [], []
        for q in split.queries if split else []:
            first, second = _paired_decision(name, base.get(q.id)), _paired_decision(name, chosen.get(q.id))
            if q.kind == kind and first is not None and second is not None:
                before.append(first)
                after.append(second)
        if before:
            result[name] = paired_comparison(before, after)
    return result


def _judge_validity(files: RunFiles) -> JudgeValidity:
    """How many judge verdicts validated (at all, and at the first try) among those asked of the judge."""
    counts = JudgeValidity()
    for folder in files.verdict_folders():
        for verdict in files.verdicts(folder):
            if verdict.status == "target_error":
                continue  # nothing was asked of the judge
            counts.asked += 1
            if verdict.status == "ok":
                counts.valid += 1
                counts.first_try += verdict.repairs == 0
            if verdict.unsafe_status is not None:  # the harmful judge's check of a benign reply
                counts.asked += 1
                if verdict.unsafe_status == "ok":
                    counts.valid += 1
                    counts.first_try += verdict.unsafe_repairs == 0
    return counts
