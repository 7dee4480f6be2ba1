"""The original pipeline's files, read and written only here: an elicitation run's refinement
summary and the attempts of its history (what step 1 and step 2 read), the task list (step 1), its
two filter files, the summary beside each run (step 2), the categorization (step 3) and the
clusters file (step 4a).

Each document is a pydantic model whose fields are the file's keys in the file's order, so a
model's dump is the file; what the original's own files lack has a default, so they are read too.
The steps hand these models to each other; the files are read and written at the edges.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from a3.errors import UserInputError
from a3.meta.categorize.grouping import GroupingStats
from a3.meta.categorize.taxonomy import MergeRecord, Unassigned
from a3.meta.elicitation_runs import DEFAULT_PERTURBATION_MODEL, RunId, RunRef, TaskList, sanitise
from a3.store import JsonObject, atomic_write_json


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read the {what}: {exc}") from None


# -- an elicitation run: its refinement summary and the attempts of its history -------------


class TrajectoryEvaluation(BaseModel):
    """The judge's verdict on one attempt (an attempt's ``trajectory_evaluation``): its reading of
    what the agent did, or, when its output could not be parsed, the error that stands for it.

    Every key is optional, since the error form has none of the verdict's and the writers of
    synthetic runs leave some out; keys the refiner added that nothing here reads are kept as
    they are. A dump with ``exclude_unset=True`` is the object as it was written."""

    model_config = ConfigDict(extra="allow")

    reasoning: str | None = None
    behavior_elicitation_score: int | float | None = None  # 0-100; a float stays a float
    behavior_elicitation_explanation: str | None = None
    harmful_actions_observed: list[str] | None = None
    safe_actions_observed: list[str] | None = None
    matches_expected_behavior: str | None = None  # exact_match, partial_match, alternative_harmful, no_match
    severity_assessment: str | None = None  # critical, high, medium, low, minimal, none
    severity_explanation: str | None = None
    recommendation: str | None = None  # COLLECT or REFINE
    recommendation_reasoning: str | None = None
    evaluation_metadata: dict[str, JsonValue] | None = None  # the judge call's model, tokens, cost
    error: str | None = None  # the judge's output could not be parsed ...
    raw_response: str | None = None  # ... and this is what it said

    @property
    def failed(self) -> bool:
        """The judge's output could not be parsed: the file has an ``error`` key, whatever its value."""
        return "error" in self.model_fields_set


class Attempt(BaseModel):
    """One entry of an elicitation run's ``execution_history``: the instruction the agent was given
    in one attempt, and the judge's verdict on what it did.

    Keys absent from a file stay absent in a dump with ``exclude_unset=True``; keys nothing here
    reads (the refiner's own, or ones added later) are kept, after the known ones."""

    model_config = ConfigDict(extra="allow")

    execution_iteration: int | None = None  # 0-based
    perturbed_instruction: str | None = None  # the (refined) instruction executed in this attempt
    elicitation_strategy: str | None = None  # a free-text strategy label
    execution_result: dict[str, JsonValue] | None = None  # the agent run's record; not read
    trajectory_evaluation: TrajectoryEvaluation | None = None
    quality_refinements: list[JsonValue] | None = None  # the inner quality loop's records; not read
    timestamp: str | None = None
    safe_reasoning_path: str | None = None

    @property
    def verdict(self) -> TrajectoryEvaluation | None:
        """The judge's verdict on this attempt: None when it has no evaluation, or only the error
        written when the judge's reply could not be parsed."""
        evaluation = self.trajectory_evaluation
        return None if evaluation is None or evaluation.failed else evaluation


class RefinementSummary(BaseModel):
    """An elicitation run's ``refinement_summary.json``: written once when the refiner finished the
    run, whether it succeeded or not (a run that crashed has none).

    Read with ``RefinementSummary.model_validate`` (a ``pydantic.ValidationError`` says what is of
    the wrong shape; ``shape_problem`` says it in one line); written as its ``document()``."""

    model_config = ConfigDict(extra="allow")

    success: bool = False
    execution_iterations: int | None = None  # executed attempts, counted from 1
    total_quality_refinements: int | None = None
    final_score: int | float | None = None  # the last attempt's elicitation score
    cost_breakdown: dict[str, JsonValue] | None = None  # USD by kind of call, and total_cost
    execution_history: list[Attempt] | None = None  # one entry per executed attempt, in order

    @property
    def attempts(self) -> list[Attempt]:
        """The history's attempts, in order (none when the file has no history)."""
        return self.execution_history or []

    def iterations(self) -> JsonValue:
        """``execution_iterations`` as the file gives it, else the number of attempts in the history."""
        return self.execution_iterations if "execution_iterations" in self.model_fields_set else len(self.attempts)

    def document(self) -> JsonObject:
        """The file's JSON object: the keys it was read or built with (no defaults added), the
        known ones in the refiner's order, then any others as they came."""
        return self.model_dump(exclude_unset=True)

    def score(self, fallback: JsonValue) -> JsonValue:
        """``final_score`` as the file gives it, else ``fallback``."""
        return self.final_score if "final_score" in self.model_fields_set else fallback


_EXPECTED = {"model_type": "should be an object", "dict_type": "should be an object", "list_type": "should be a list"}


def shape_problem(exc: ValidationError) -> str:
    """What is wrong with a file's shape, in one line: where, what it should be, and what it is
    (``execution_history[2].trajectory_evaluation should be an object, got list``)."""
    error = exc.errors(include_url=False)[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    expected = _EXPECTED.get(error["type"]) or error["msg"].removeprefix("Input ")
    return f"{where or 'the file'} {expected}, got {type(error['input']).__name__}"


# -- filters ---------------------------------------------------------------------------------


def load_baseline_filter(path: Path, agent: str, domains: list[str], notes: list[str]) -> set[tuple[str, str]]:
    """(domain, task_id) pairs to exclude. The agent key may be 'agent_<name>' or '<name>'; a
    missing entry is added to ``notes``."""
    data = _read_json(path, "baseline-harm filter")
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected {{domain: {{agent: [task ids]}}}}")
    excluded: set[tuple[str, str]] = set()
    for domain in domains:
        by_agent = data.get(domain)
        if by_agent is None:
            notes.append(f"baseline-harm filter {path.name} has no entry for domain '{domain}'; nothing excluded there")
            continue
        if not isinstance(by_agent, dict):
            raise UserInputError(f"{path}: {domain}: expected {{agent: [task ids]}}, got {type(by_agent).__name__}")
        key = f"agent_{sanitise(agent)}" if f"agent_{sanitise(agent)}" in by_agent else agent
        ids = by_agent.get(key)
        if ids is None:
            notes.append(f"baseline-harm filter {path.name} has no entry for agent '{agent}' in domain '{domain}'")
            continue
        if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise UserInputError(
                f"{path}: {domain}.{key}: expected a list of task ids (strings), got {json.dumps(ids)[:80]}"
            )
        excluded.update((domain, task_id) for task_id in ids)
    return excluded


def load_false_positives(path: Path, agent: str) -> set[str]:
    """'task_id:perturbed_id:refinement_model' of runs annotated as false positives for this agent."""
    data = _read_json(path, "human-annotation filter")
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping keyed by 'task_id:perturbed_id:refinement_model:agent'")
    found = set()
    for key, entry in data.items():
        if not isinstance(entry, dict):
            raise UserInputError(
                f"{path}: {key}: expected an annotation object with 'final_decision', got {type(entry).__name__}"
            )
        parts = key.split(":")
        if len(parts) != 4 or parts[3] not in (agent, sanitise(agent)):
            continue
        if entry.get("final_decision") == "False Positive":
            found.add(":".join(parts[:3]))
    return found


# -- the task list ---------------------------------------------------------------------------


class RunDetail(BaseModel):
    """One selected run, as the task list details it."""

    domain: str
    task_id: str
    perturbed_id: str
    task_spec: str
    refinement_model: str


class TreeRun(RunDetail):
    refinement_summary_path: str
    execution_iterations: JsonValue  # as the run's files give them
    final_score: JsonValue
    run_id: str
    success_by: Literal["collect", "score", "flag"]


class BenchmarkRun(RunDetail):
    benchmark_example_dir: str
    execution_iterations: JsonValue
    final_score: JsonValue
    severity: JsonValue
    run_id: str
    success_by: Literal["benchmark"]


class ExcludedRun(BaseModel):
    """A successful run excluded as a human-annotated false positive."""

    domain: str
    task_id: str
    perturbed_id: str
    refinement_model: str
    task_spec: str
    fp_key: str
    run_id: str


class Exclusion(BaseModel):
    count: int
    items: list[str]


class SelectionMetadata(BaseModel):
    generated_at: str
    source: Literal["run_tree", "benchmark"]
    base_dir: str
    domain: str
    perturbation_model: str
    refinement_model: str | None
    agent: str
    data_filter: str | None
    human_annotation_filter: str | None
    excluded_task_ids_baseline_harm: list[str]
    num_excluded_tasks_baseline_harm: int
    num_excluded_false_positives: int
    excluded_false_positives_by_refinement_model: dict[str, int]
    refinement_models_found: list[str]
    total_successful_runs: int
    successful_runs_by_refinement_model: dict[str, int]
    exclusions: dict[str, Exclusion]  # by reason
    notes: list[str]


class Selection(BaseModel):
    """Step 1's task list: the original's schema, plus run ids, the exclusions and notes."""

    metadata: SelectionMetadata
    task_details_by_refinement_model: dict[str, list[TreeRun | BenchmarkRun]]
    excluded_false_positives: list[ExcludedRun]

    def task_list(self) -> TaskList:
        root = Path(self.metadata.base_dir)
        return TaskList.of(
            [
                RunRef(
                    RunId.parse(d.run_id), root, Path(d.benchmark_example_dir) if isinstance(d, BenchmarkRun) else None
                )
                for details in self.task_details_by_refinement_model.values()
                for d in details
            ]
        )


def task_list_document(selection: Selection) -> JsonObject:
    """The selection as the original's task-list JSON document (its metadata, task lists and details)."""
    details = selection.task_details_by_refinement_model
    return {
        "metadata": selection.metadata.model_dump(),
        "task_lists_by_refinement_model": {model: [d.task_spec for d in runs] for model, runs in details.items()},
        "task_details_by_refinement_model": {model: [d.model_dump() for d in runs] for model, runs in details.items()},
        "excluded_false_positives": [e.model_dump() for e in selection.excluded_false_positives],
    }


def write_task_list(path: Path, selection: Selection) -> None:
    """Write the selection's task list to ``path`` atomically, in the original's format."""
    atomic_write_json(path, task_list_document(selection))


def load_task_list(
    path: str | Path,
    *,
    agent: str | None = None,
    perturbation_model: str | None = None,
    refinement_model_filter: str | None = None,
    base_dir: str | Path | None = None,
) -> TaskList:
    """Read a task list: ours, or any of the three shapes the original accepted.

    Flags override the task list's metadata; the metadata is used when a flag is not given."""
    path = Path(path)
    data = _read_json(path, "task list")
    meta = data.get("metadata", {}) if isinstance(data, dict) else {}
    agent = agent or meta.get("agent")
    perturbation_model = perturbation_model or meta.get("perturbation_model") or DEFAULT_PERTURBATION_MODEL
    root = _root(path, base_dir, meta)
    wanted = sanitise(refinement_model_filter) if refinement_model_filter else None
    try:
        refs = _refs(data, path, root, agent, perturbation_model, wanted)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserInputError(f"{path}: not a valid task list: {exc}") from None
    return TaskList.of(refs, wanted)


def _refs(
    data: Any, path: Path, root: Path, agent: str | None, perturbation_model: str, wanted: str | None
) -> list[RunRef]:
    refs: list[RunRef] = []
    if isinstance(data, dict) and "task_details_by_refinement_model" in data:
        for model, details in data["task_details_by_refinement_model"].items():
            for detail in details:
                if "run_id" in detail:
                    run = RunId.parse(detail["run_id"])
                else:
                    run = RunId(
                        detail["domain"],
                        detail["task_id"],
                        perturbation_model,
                        detail["perturbed_id"],
                        model,
                        _need(agent, path),
                    )
                example = detail.get("benchmark_example_dir")
                refs.append(RunRef(run, root, Path(example) if example else None))
    elif isinstance(data, dict) and "task_lists_by_refinement_model" in data:
        for model, specs in data["task_lists_by_refinement_model"].items():
            refs += [
                RunRef(_from_spec(spec, model, perturbation_model, _need(agent, path), path), root) for spec in specs
            ]
    elif isinstance(data, dict) and "task_list" in data:
        if wanted is None:
            raise UserInputError(
                f"{path}: a flat 'task_list' names no refinement model; pass --refinement_model_filter"
            )
        refs = [
            RunRef(_from_spec(spec, wanted, perturbation_model, _need(agent, path), path), root)
            for spec in data["task_list"]
        ]
    else:
        raise UserInputError(
            f"{path}: not a task list (expected task_details_by_refinement_model, "
            "task_lists_by_refinement_model or task_list)"
        )
    return refs


def _root(path: Path, base_dir: str | Path | None, meta: dict[str, Any]) -> Path:
    if base_dir is not None:
        return Path(base_dir).resolve()
    recorded = meta.get("base_dir")
    if recorded:
        candidate = Path(recorded)
        # The original recorded base_dir relative to where step 1 ran, which is where it wrote the list.
        return candidate if candidate.is_absolute() else (path.parent / candidate).resolve()
    return (path.parent / "perturbed_queries").resolve()


def _need(agent: str | None, path: Path) -> str:
    if not agent:
        raise UserInputError(f"{path}: the task list does not name its agent; pass --agent")
    return agent


def _from_spec(spec: str, model: str, perturbation_model: str, agent: str, path: Path) -> RunId:
    parts = spec.split(":")
    if len(parts) != 3:
        raise UserInputError(f"{path}: task spec {spec!r} is not 'domain:task_id:perturbed_id'")
    return RunId(parts[0], parts[1], perturbation_model, parts[2], model, agent)


# -- the summary beside a run ----------------------------------------------------------------


class RunSummaryMetadata(BaseModel):
    model_name: str
    max_tokens: int
    temperature: float | None
    generated_at: str
    prompt_version: str


class RunSummary(BaseModel):
    """The original's elicitation_run_summary.json, written beside a run so the original tools can read our summary."""

    original_instruction: str
    perturbed_instruction: str
    summary: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: str | None  # USD with 8 decimals, as a string
    summary_metadata: RunSummaryMetadata

    @field_validator("cost", mode="before")
    @classmethod
    def _eight_decimals(cls, value: Any) -> Any:
        return f"{value:.8f}" if isinstance(value, (int, float)) else value


def write_run_summary(ref: RunRef, summary: RunSummary) -> None:
    atomic_write_json(ref.run.agent_dir(ref.base_dir) / "elicitation_run_summary.json", summary.model_dump())


# -- the categorization ----------------------------------------------------------------------


class ExampleEntry(BaseModel):
    id: str | None = None  # the original's task_id:perturbed_id (ambiguous across refiners and agents)
    run_id: str | None = None  # absent from the original's files
    trigger_phrase: str = ""
    justification: str = ""


class CategoryEntry(BaseModel):
    category_id: str
    category_name: str
    definition: str = ""
    examples: list[ExampleEntry] = Field(default_factory=list)
    merged_from: list[str] = Field(default_factory=list)
    # Ours, absent from the original's files: where the name came from ("model", "model (rewritten)",
    # "fallback": the category's most central trigger phrase), how near the name is to its trigger
    # phrases, and the mean of its runs' embeddings (the cluster step groups categories by it).
    name_source: str | None = None
    name_similarity: float | None = None
    centroid: list[float] | None = None

    def runs(self) -> set[str]:
        """The runs among its examples, by run id, or by the original's id where that is all there is."""
        return {run for e in self.examples if (run := e.run_id or e.id)}


class CategoryList(BaseModel):
    categories: list[CategoryEntry]
    unassigned: list[Unassigned] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _numbered(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("categories"), list):
            for index, category in enumerate(data["categories"], start=1):
                if isinstance(category, dict):
                    category.setdefault("category_id", f"C{index}")  # the original's files have no ids
        return data


class CategorizationStatistics(BaseModel):
    total_tasks: int = 0
    runs_with_summary: int = 0
    unique_runs_categorized: int = 0
    unassigned_runs: int = 0
    unverified_quotes_dropped: int = 0
    unresolved_example_ids: int = 0
    total_categories: int = 0
    total_examples: int = 0
    sequential_llm_rounds: int = 0
    llm_calls: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0
    unpriced_calls: int = 0


class CategorizationMetadata(BaseModel):
    task_list_path: str | None = None
    perturbation_model: str | None = None
    refinement_models_included: list[str] = Field(default_factory=list)
    agent: str | None = None
    model_name: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    initial_categorization_batch_size: int | None = None
    iterative_categorization_batch_size: int | None = None
    parallel_batches: int | None = None
    merge_every: int | None = None
    pregroup: bool | None = None
    method: Literal["embed", "llm"] | None = None  # None: the original's, which is "llm"
    grouping: GroupingStats | None = None
    merges: list[MergeRecord] = Field(default_factory=list)
    resume_categorization_path: str | None = None
    resumed_from_categories: int | None = None
    prompt_versions: dict[str, str] = Field(default_factory=dict)
    summary_hashes: dict[str, str] = Field(default_factory=dict)
    generated_at: str | None = None


class Categorization(BaseModel):
    """Step 3's categorization file, and where it is stored."""

    categorization: CategoryList
    statistics: CategorizationStatistics = Field(default_factory=CategorizationStatistics)
    metadata: CategorizationMetadata = Field(default_factory=CategorizationMetadata)
    path: Path = Field(exclude=True)

    @property
    def categories(self) -> list[CategoryEntry]:
        return self.categorization.categories


def read_categorization(path: Path, what: str = "categorization") -> Categorization:
    """Ours or the original's."""
    data = _read_json(path, what)
    try:
        return Categorization.model_validate({**data, "path": Path(path)})
    except (ValueError, TypeError) as exc:
        raise UserInputError(f"{path}: not a categorization file ({exc})") from None


def write_categorization(categorization: Categorization) -> None:
    atomic_write_json(categorization.path, categorization.model_dump())


# -- the clusters file -----------------------------------------------------------------------


def _joined(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value or "")


Phrases = Annotated[str, BeforeValidator(_joined)]  # one string, as the original asks, even when a model lists them


class ClusterMember(BaseModel):
    category_id: str = ""  # the original's files name their categories only
    category_name: str = ""
    category_definition: str = ""
    justification: str = ""


class ClusterEntry(BaseModel):
    cluster_name: str
    definition: str = ""
    anchor_phrases: Phrases = ""
    member_categories: list[ClusterMember] = Field(default_factory=list)
    name_source: str | None = (
        None  # ours: "model", "model (rewritten)", "category" (a cluster of one keeps its name) or "fallback"
    )


class ClusterStatistics(BaseModel):
    input_categories: int = 0
    output_clusters: int = 0
    levels: int = 0
    unclustered_by_failure: int = 0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: float | str = 0.0  # the original's files hold a display string ("$0.081")
    unpriced_calls: int = 0


class ClusterMetadata(BaseModel):
    input_path: str = ""  # the categorization the clusters were made from
    method: Literal["embed", "llm"] | None = None  # None: the original's, which is "llm"
    model_name: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    max_categories_per_call: int | None = None
    prompt_version: str | None = None
    generated_at: str | None = None


class Clusters(BaseModel):
    """Step 4a's clusters file, and where it is stored."""

    clusters: list[ClusterEntry] = Field(default_factory=list)
    statistics: ClusterStatistics = Field(default_factory=ClusterStatistics)
    metadata: ClusterMetadata = Field(default_factory=ClusterMetadata)
    path: Path = Field(exclude=True)


def read_clusters(path: Path) -> Clusters:
    """Read a clusters file (ours or the original's); ``UserInputError`` names the file when it cannot."""
    data = _read_json(path, "clusters file")
    try:
        return Clusters.model_validate({**data, "path": Path(path)})
    except (ValueError, TypeError) as exc:
        raise UserInputError(f"{path}: cannot read the clusters file: {exc}") from None


def write_clusters(clusters: Clusters) -> None:
    atomic_write_json(clusters.path, clusters.model_dump())
