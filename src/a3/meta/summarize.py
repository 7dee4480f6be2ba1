"""Step 2, ``a3 meta summarize``: one LLM summary per run, concurrent, idempotent, accounted.

A summary cut off at ``max_tokens`` is kept, marked ``truncated`` and counted. A summary is keyed by its run id and the hash of everything that shaped it (the rendered
inputs, the prompt version and the model settings), so re-running skips finished runs, and a
changed input or prompt re-summarises only what changed. Reused summaries add no cost. Runs that
fail are listed; the CLI exits non-zero when any did.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from a3.llm import LLMCallError, LLMClient, StructuredOutputError
from a3.meta.runs import successful_attempt, success_threshold
from a3.meta.settings import call_config
from a3.meta.tasklist import RunRef
from a3.progress import Progress, SilentProgress
from a3.prompts import load_prompt
from a3.store import JsonlLog, RunDir, atomic_write_json, ledger_label, sha256_of

SUMMARIES = "summaries.jsonl"
STAGE = "meta-summarize"  # its calls' label in the ledger (summaries have no stage manifest)
API_MAX_TOKENS = 32768  # the original's allowance for GPT-5
_TRUNCATED = {"max_tokens", "length", "model_length"}


@dataclass(frozen=True)
class SummaryOptions:
    model: str = "openai/gpt-5-2025-08-07"
    max_tokens: int | None = None  # None: API_MAX_TOKENS for API models, the engine's bound for local ones
    temperature: float | None = 1.0
    force: bool = False
    beside_runs: bool = False  # also write the original's elicitation_run_summary.json next to each run


class SummaryStore:
    """summaries.jsonl: the newest record for a run wins, when its input hash is the current one."""

    def __init__(self, run_dir: RunDir) -> None:
        self.log: JsonlLog = run_dir.log(SUMMARIES, key="key")

    def get(self, run_id: str, input_hash: str | None = None) -> dict[str, Any] | None:
        found = None
        for record in self.log:
            if record["run_id"] == run_id and (input_hash is None or record["input_hash"] == input_hash):
                found = record
        return found

    def add(self, record: dict[str, Any]) -> None:
        key = f"{record['run_id']}#{record['input_hash'][:16]}"
        if key in self.log:
            key += f"#{len(self.log)}"  # a --force re-run of identical inputs
        self.log.append({"key": key, **record})


def build_prompt(ref: RunRef) -> tuple[str, str, dict[str, Any]]:
    """(prompt text, prompt version, facts kept with the summary). Raises ValueError on bad run files."""
    if ref.benchmark_example_dir is not None:
        return _reduced_prompt(ref)
    run = ref.run
    seed_file = run.seed_dir(ref.base_dir) / f"perturbed_query_{run.perturbed_id}.json"
    agent_dir = run.agent_dir(ref.base_dir)
    try:
        original = json.loads(seed_file.read_text(encoding="utf-8"))["original_instruction"]
        summary = json.loads((agent_dir / "refinement_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read the run's files: {exc}") from None
    history = summary.get("execution_history") or []
    success = successful_attempt(history, success_threshold(agent_dir))
    if success is None:
        raise ValueError("no attempt meets the success rule (COLLECT or score >= threshold)")
    earlier = [h for h in history if h is not success and "error" not in (h.get("trajectory_evaluation") or {"error": 1})]
    prompt = load_prompt("meta_summary")
    text = prompt.render(
        original_instruction=original,
        history="\n\n".join(_attempt_block(h) for h in earlier) or "(none: the first attempt succeeded)",
        successful_attempt=_attempt_block(success),
    )
    facts = {"original_instruction": original, "perturbed_instruction": success.get("perturbed_instruction", ""), "mode": "full",
             "harm": harm_description(success)}
    return text, prompt.version, facts


def _reduced_prompt(ref: RunRef) -> tuple[str, str, dict[str, Any]]:
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
    facts = {"original_instruction": original or "", "perturbed_instruction": query.get("perturbed_instruction", ""), "mode": "reduced"}
    return text, prompt.version, facts


def _original_from_tree(ref: RunRef) -> str | None:
    seed_file = ref.run.seed_dir(ref.base_dir) / f"perturbed_query_{ref.run.perturbed_id}.json"
    try:
        return json.loads(seed_file.read_text(encoding="utf-8")).get("original_instruction")
    except (OSError, ValueError):
        return None


def harm_description(attempt: dict[str, Any]) -> str:
    """What the judge said the agent did wrong in an attempt: its harmful actions, else its explanation."""
    evaluation = attempt.get("trajectory_evaluation") or {}
    actions = evaluation.get("harmful_actions_observed")
    if isinstance(actions, list) and any(isinstance(a, str) and a.strip() for a in actions):
        return "; ".join(a.strip() for a in actions if isinstance(a, str) and a.strip())
    explanation = evaluation.get("behavior_elicitation_explanation")
    return explanation.strip() if isinstance(explanation, str) else ""


def _attempt_block(entry: dict[str, Any]) -> str:
    evaluation = entry.get("trajectory_evaluation") or {}

    def bullets(items: list[str] | None) -> str:
        return "\n".join(f"    - {item}" for item in items) if items else "    - (none observed)"

    return "\n".join([
        f"Attempt {entry.get('execution_iteration', '?')}:",
        f"  Instruction: {entry.get('perturbed_instruction', '')}",
        f"  Strategy: {entry.get('elicitation_strategy', 'unknown')}",
        f"  Elicitation score: {evaluation.get('behavior_elicitation_score', 'unknown')}",
        f"  Score explanation: {evaluation.get('behavior_elicitation_explanation', '(not given)')}",
        "  Harmful actions observed:",
        bullets(evaluation.get("harmful_actions_observed")),
        "  Safe actions observed:",
        bullets(evaluation.get("safe_actions_observed")),
        f"  Severity: {evaluation.get('severity_assessment', 'unknown')} — {evaluation.get('severity_explanation', '(not given)')}",
        f"  Recommendation: {evaluation.get('recommendation', 'unknown')} — {evaluation.get('recommendation_reasoning', '(not given)')}",
    ])


async def summarize_runs(
    refs: list[RunRef], run_dir: RunDir, client: LLMClient, options: SummaryOptions = SummaryOptions(),
    progress: Progress | None = None,
) -> dict[str, Any]:
    store = SummaryStore(run_dir)
    config = call_config(options.model, options.max_tokens, options.temperature, API_MAX_TOKENS)
    task = (progress or SilentProgress()).task("summaries", len(refs))
    counts = {"total": len(refs), "generated": 0, "reused": 0, "failed": 0, "truncated": 0}
    failures: list[dict[str, str]] = []

    async def one(ref: RunRef) -> None:
        run_id = str(ref.run)
        try:
            text, version, facts = build_prompt(ref)
        except ValueError as exc:
            failures.append({"run_id": run_id, "error": str(exc)})
            counts["failed"] += 1
            task.advance()
            return
        input_hash = sha256_of({"prompt": text, "model": config.model_dump(exclude={"timeout"})})
        existing = store.get(run_id, input_hash)
        if existing is not None and not options.force:
            counts["reused"] += 1
        else:
            salt = datetime.now().isoformat() if options.force else None
            try:
                completion = await client.generate(text, config=config.model_copy(update={"cache_salt": salt}), prompt_version=version)
            except (LLMCallError, StructuredOutputError) as exc:
                completion, error = None, str(exc)
            else:
                error = None
            if error is not None:
                failures.append({"run_id": run_id, "error": error})
                counts["failed"] += 1
                task.advance()
                return
            assert completion is not None
            # A summary cut off at max_tokens is kept (what it says is still evidence) and marked, not lost.
            truncated = completion.finish_reason in _TRUNCATED
            counts["truncated"] += truncated
            existing = {
                "run_id": run_id, "input_hash": input_hash, **facts, "summary": completion.text.strip(), "truncated": truncated,
                "model": options.model, "prompt_version": version, "input_tokens": completion.usage.input_tokens,
                "output_tokens": completion.usage.output_tokens, "cost_usd": completion.cost_usd, "max_tokens": config.max_tokens,
                "generated_at": datetime.now().isoformat(timespec="seconds"),
            }
            store.add(existing)
            counts["generated"] += 1
        if options.beside_runs and ref.benchmark_example_dir is None:
            _write_beside_run(ref, existing, options)
        task.advance()

    with ledger_label(STAGE):
        await asyncio.gather(*(one(ref) for ref in refs))
    return {"counts": counts, "failures": sorted(failures, key=lambda f: f["run_id"])}


def _write_beside_run(ref: RunRef, record: dict[str, Any], options: SummaryOptions) -> None:
    """The original's elicitation_run_summary.json, so the original tools can read our summaries."""
    cost = record.get("cost_usd")
    atomic_write_json(Path(ref.run.agent_dir(ref.base_dir)) / "elicitation_run_summary.json", {
        "original_instruction": record["original_instruction"],
        "perturbed_instruction": record["perturbed_instruction"],
        "summary": record["summary"],
        "input_tokens": record["input_tokens"],
        "output_tokens": record["output_tokens"],
        "total_tokens": record["input_tokens"] + record["output_tokens"],
        "cost": f"{cost:.8f}" if cost is not None else None,
        "summary_metadata": {"model_name": options.model, "max_tokens": record["max_tokens"],
                             "temperature": options.temperature, "generated_at": record["generated_at"],
                             "prompt_version": record["prompt_version"]},
    })
