"""Step 2, ``a3 meta summarize``: one LLM summary per run, concurrent, idempotent, accounted.

A summary cut off at ``max_tokens`` is kept, marked ``truncated`` and counted. A summary is keyed
by its run id and the hash of everything that shaped it (the rendered inputs, the prompt version
and the model settings), so re-running skips finished runs, and a changed input or prompt
re-summarises only what changed. Reused summaries add no cost. Runs that fail are listed; the CLI
exits non-zero when any did.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from a3.llm import LLMCallError, LLMClient, StructuredOutputError
from a3.meta.elicitation_runs import RunRef, success_threshold, successful_attempt
from a3.meta.formats import (
    Attempt,
    RefinementSummary,
    RunSummary,
    RunSummaryMetadata,
    TrajectoryEvaluation,
    write_run_summary,
)
from a3.meta.settings import LLMSettings
from a3.progress import Progress, SilentProgress
from a3.prompts import load_prompt
from a3.store import JsonlLog, RunDir, ledger_label, sha256_of

SUMMARIES = "summaries.jsonl"
STAGE = "meta-summarize"  # its calls' label in the ledger (summaries have no stage manifest)


class SummaryOptions(LLMSettings):
    """How ``summarize_runs`` writes summaries: the model, and whether to redo current ones or write beside runs."""

    force: bool = False
    beside_runs: bool = False  # also write the original's elicitation_run_summary.json next to each run


class RunFacts(BaseModel):
    """What a run's own files say about it, kept with its summary."""

    original_instruction: str
    perturbed_instruction: str
    mode: Literal["full", "reduced"]  # reduced: a benchmark example, summarised from its final instruction only
    harm: str | None = None  # what the judge said the agent did wrong; full mode only


class Summary(RunFacts):
    """One record of summaries.jsonl: a run's summary and everything that shaped it."""

    run_id: str
    input_hash: str
    summary: str
    truncated: bool = False  # absent from the records of early versions
    model: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    max_tokens: int
    generated_at: str


class SummaryRecord(Summary):
    """A line of summaries.jsonl: a summary under its key (``<run id>#<input hash[:16]>``, made unique
    for a --force re-run of identical inputs).

    Written with the key, the run and its input hash first, and ``harm`` only when known (reduced
    mode has none), as earlier versions wrote them."""

    key: str

    @model_serializer(mode="wrap")
    def _as_line(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        head = {name: data.pop(name) for name in ("key", "run_id", "input_hash")}
        if data.get("harm") is None:
            data.pop("harm", None)
        return {**head, **data}


class SummaryCounts(BaseModel):
    total: int
    generated: int = 0
    reused: int = 0
    failed: int = 0
    truncated: int = 0


class RunFailure(BaseModel):
    run_id: str
    error: str


class SummaryReport(BaseModel):
    """What one pass made: the runs that failed are listed, and later steps list them as unassigned."""

    counts: SummaryCounts
    failures: list[RunFailure]


class SummaryStore:
    """summaries.jsonl: the newest record for a run wins, when its input hash is the current one."""

    def __init__(self, run_dir: RunDir) -> None:
        self.log: JsonlLog[SummaryRecord] = run_dir.log(SUMMARIES, SummaryRecord, key="key")

    def get(self, run_id: str, input_hash: str | None = None) -> Summary | None:
        found: Summary | None = None
        for record in self.log:
            if record.run_id == run_id and (input_hash is None or record.input_hash == input_hash):
                found = record
        return found

    def add(self, summary: Summary) -> None:
        key = f"{summary.run_id}#{summary.input_hash[:16]}"
        if key in self.log:
            key += f"#{len(self.log)}"  # a --force re-run of identical inputs
        self.log.append(SummaryRecord(**{**dict(summary), "key": key}))  # a record read back is added anew


def build_prompt(ref: RunRef) -> tuple[str, str, RunFacts]:
    """(prompt text, prompt version, facts kept with the summary). Raises ValueError on bad run files."""
    if ref.benchmark_example_dir is not None:
        return _reduced_prompt(ref)
    run = ref.run
    seed_file = run.seed_dir(ref.base_dir) / f"perturbed_query_{run.perturbed_id}.json"
    agent_dir = run.agent_dir(ref.base_dir)
    try:
        original = json.loads(seed_file.read_text(encoding="utf-8"))["original_instruction"]
        summary = RefinementSummary.model_validate(
            json.loads((agent_dir / "refinement_summary.json").read_text(encoding="utf-8"))
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read the run's files: {exc}") from None
    history = summary.attempts
    success = successful_attempt(history, success_threshold(agent_dir))
    if success is None:
        raise ValueError("no attempt meets the success rule (COLLECT or score >= threshold)")
    earlier = [attempt for attempt in history if attempt is not success and attempt.verdict is not None]
    prompt = load_prompt("meta_summary")
    text = prompt.render(
        original_instruction=original,
        history="\n\n".join(_attempt_block(h) for h in earlier) or "(none: the first attempt succeeded)",
        successful_attempt=_attempt_block(success),
    )
    facts = RunFacts(
        original_instruction=original,
        perturbed_instruction=success.perturbed_instruction or "",
        mode="full",
        harm=harm_description(success),
    )
    return text, prompt.version, facts


def _reduced_prompt(ref: RunRef) -> tuple[str, str, RunFacts]:
    folder = ref.benchmark_example_dir
    assert folder is not None
    try:
        query = json.loads((folder / "final_successful_query.json").read_text(encoding="utf-8"))
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the benchmark example: {exc}") from None
    original = _original_from_tree(ref)
    prompt = load_prompt("meta_summary_reduced")
    text = prompt.render(
        original_instruction=original or "not available",
        perturbed_instruction=query.get("perturbed_instruction", ""),
        strategy=query.get("elicitation_strategy", "unknown"),
        score=query.get("behavior_elicitation_score", "unknown"),
        iterations=query.get("execution_iterations_required", "unknown"),
        severity=meta.get("severity", "unknown"),
    )
    facts = RunFacts(
        original_instruction=original or "",
        perturbed_instruction=query.get("perturbed_instruction", ""),
        mode="reduced",
    )
    return text, prompt.version, facts


def _original_from_tree(ref: RunRef) -> str | None:
    seed_file = ref.run.seed_dir(ref.base_dir) / f"perturbed_query_{ref.run.perturbed_id}.json"
    try:
        original = json.loads(seed_file.read_text(encoding="utf-8")).get("original_instruction")
    except (OSError, ValueError):
        return None
    return original if isinstance(original, str) else None


def harm_description(attempt: Attempt) -> str:
    """What the judge said the agent did wrong in an attempt: its harmful actions, else its explanation."""
    evaluation = attempt.trajectory_evaluation or TrajectoryEvaluation()
    actions = [action.strip() for action in evaluation.harmful_actions_observed or [] if action.strip()]
    if actions:
        return "; ".join(actions)
    return (evaluation.behavior_elicitation_explanation or "").strip()


def _attempt_block(attempt: Attempt) -> str:
    evaluation = attempt.trajectory_evaluation or TrajectoryEvaluation()

    def shown(value: object, otherwise: str) -> object:
        return otherwise if value is None else value

    def bullets(items: list[str] | None) -> str:
        return "\n".join(f"    - {item}" for item in items) if items else "    - (none observed)"

    return "\n".join(
        [
            f"Attempt {shown(attempt.execution_iteration, '?')}:",
            f"  Instruction: {shown(attempt.perturbed_instruction, '')}",
            f"  Strategy: {shown(attempt.elicitation_strategy, 'unknown')}",
            f"  Elicitation score: {shown(evaluation.behavior_elicitation_score, 'unknown')}",
            f"  Score explanation: {shown(evaluation.behavior_elicitation_explanation, '(not given)')}",
            "  Harmful actions observed:",
            bullets(evaluation.harmful_actions_observed),
            "  Safe actions observed:",
            bullets(evaluation.safe_actions_observed),
            f"  Severity: {shown(evaluation.severity_assessment, 'unknown')} — "
            f"{shown(evaluation.severity_explanation, '(not given)')}",
            f"  Recommendation: {shown(evaluation.recommendation, 'unknown')} — "
            f"{shown(evaluation.recommendation_reasoning, '(not given)')}",
        ]
    )


async def summarize_runs(
    refs: list[RunRef],
    run_dir: RunDir,
    client: LLMClient,
    options: SummaryOptions = SummaryOptions(),
    progress: Progress | None = None,
) -> SummaryReport:
    """One summary per run, concurrent, kept in the work dir and reused while its inputs are unchanged.

    A run whose summary fails is listed in the report's failures, not raised; a summary cut off at
    ``max_tokens`` is kept and marked truncated."""
    store = SummaryStore(run_dir)
    config = options.call_config()
    task = (progress or SilentProgress()).task("summaries", len(refs))
    counts = SummaryCounts(total=len(refs))
    failures: list[RunFailure] = []

    async def one(ref: RunRef) -> None:
        run_id = str(ref.run)
        try:
            text, version, facts = build_prompt(ref)
        except ValueError as exc:
            failures.append(RunFailure(run_id=run_id, error=str(exc)))
            counts.failed += 1
            task.advance()
            return
        input_hash = sha256_of({"prompt": text, "model": config.model_dump(exclude={"timeout"})})
        existing = store.get(run_id, input_hash)
        if existing is not None and not options.force:
            counts.reused += 1
        else:
            salt = datetime.now().isoformat() if options.force else None
            try:
                completion = await client.generate(
                    text, config=config.model_copy(update={"cache_salt": salt}), prompt_version=version
                )
            except (LLMCallError, StructuredOutputError) as exc:
                failures.append(RunFailure(run_id=run_id, error=str(exc)))
                counts.failed += 1
                task.advance()
                return
            # A summary cut off at max_tokens is kept (what it says is still evidence) and marked, not lost.
            truncated = completion.truncated
            counts.truncated += truncated
            existing = Summary(
                **facts.model_dump(),
                run_id=run_id,
                input_hash=input_hash,
                summary=completion.text.strip(),
                truncated=truncated,
                model=options.model,
                prompt_version=version,
                input_tokens=completion.usage.input_tokens,
                output_tokens=completion.usage.output_tokens,
                cost_usd=completion.cost_usd,
                max_tokens=config.max_tokens or 0,  # never 0: call_config always sets it
                generated_at=datetime.now().isoformat(timespec="seconds"),
            )
            store.add(existing)
            counts.generated += 1
        if options.beside_runs and ref.benchmark_example_dir is None:
            write_run_summary(ref, _beside_run(existing, options))
        task.advance()

    with ledger_label(STAGE):
        await asyncio.gather(*(one(ref) for ref in refs))
    return SummaryReport(counts=counts, failures=sorted(failures, key=lambda f: f.run_id))


def _beside_run(summary: Summary, options: SummaryOptions) -> RunSummary:
    return RunSummary(
        original_instruction=summary.original_instruction,
        perturbed_instruction=summary.perturbed_instruction,
        summary=summary.summary,
        input_tokens=summary.input_tokens,
        output_tokens=summary.output_tokens,
        total_tokens=summary.input_tokens + summary.output_tokens,
        cost=None if summary.cost_usd is None else f"{summary.cost_usd:.8f}",
        summary_metadata=RunSummaryMetadata(
            model_name=options.model,
            max_tokens=summary.max_tokens,
            temperature=options.temperature,
            generated_at=summary.generated_at,
            prompt_version=summary.prompt_version,
        ),
    )
