"""Stage 4, ``a3 finetune``: iterations of agent-chosen LoRA SFT, each evaluated and kept.

Per iteration, under ``finetune/iter-NN/``: the agent's decision (with clamps), the drawn
training set, the adapter, validation and OOD responses and verdicts, capability scores. The
iteration's record is appended to ``finetune/iterations.jsonl`` and to the experiment log only
when all of that exists, so a crash repeats at most the unfinished part of one iteration (the
decision is saved, a finished training is not redone, judged responses are not re-judged).
After the last iteration the final model is chosen on validation (see ``selection``) and only
then is it measured on the sealed test split.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a3.align.capability import CapabilityScores, benchmark_fingerprint, evaluate_capability
from a3.align.evaluation import evaluate_model
from a3.align.expected import OUTPUT as EXPECTED_OUTPUT, STAGE as EXPECTED_STAGE
from a3.align.explog import ExperimentLog
from a3.align.finetune.agent import PROMPT, AgentContext, decide
from a3.align.finetune.decisions import TrainingPlan, fallback_plan, first_plan
from a3.align.finetune.general_data import GeneralDataSet, load_general_data
from a3.align.finetune.mixture import training_budget, weighted_training_set
from a3.align.finetune.selection import choose
from a3.align.finetune.serving import base_weights, served_model
from a3.align.finetune.train_job import run_job
from a3.align.finetune.trainer import TrainJob, write_training_data
from a3.align.judge import Judge
from a3.align.models import resolve_model
from a3.align.split import ASSIGNMENT_FILE, SPLIT_DIR, load_sealed_test, load_split, sealed_hypotheses
from a3.config import A3Config
from a3.errors import UserInputError
from a3.llm import CallConfig, LLMClient, StructuredOutputError
from a3.progress import Progress, SilentProgress
from a3.prompts import load_prompt
from a3.store import RunDir, atomic_write_json, file_sha256, pin_settings, read_json, sha256_of

STAGE = "finetune"
FOLDER = "finetune"
GENERAL_OUTPUT = "general/general_responses.json"


@dataclass(frozen=True)
class FinetuneOptions:
    """The original's step-4 flags; None means the config's ``finetune`` section."""

    num_iterations: int | None = None
    max_epochs: int | None = None
    batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    disable_benchmark_eval: bool = False
    agent_model: str | None = None
    num_gpus: int = 1
    log_token_budget: int = 6000
    use_vllm: bool | None = None  # None: when a GPU and vllm are present


@dataclass(frozen=True)
class _Settings:
    iterations: int
    max_epochs: int
    batch_size: int
    grad_accum: int
    benchmarks: bool


async def finetune(config: A3Config, run: RunDir, client: LLMClient, options: FinetuneOptions = FinetuneOptions(),
                   progress: Progress | None = None) -> dict[str, Any]:
    expected_manifest = run.manifest(EXPECTED_STAGE)
    if expected_manifest is None or expected_manifest.status != "done":
        raise UserInputError(f"{run.path}: run `a3 expected` first (stage 'expected' is not done)")
    ft = config.finetune
    settings = _Settings(
        iterations=options.num_iterations or ft.num_iterations,
        max_epochs=options.max_epochs or ft.max_epochs,
        batch_size=options.batch_size or ft.batch_size,
        grad_accum=options.gradient_accumulation_steps or ft.gradient_accumulation_steps,
        benchmarks=bool(config.capability.benchmarks) and not options.disable_benchmark_eval,
    )
    agent = agent_call_config(config, options.agent_model)
    general_path = general_data_path(config, run)
    identity = {  # everything an existing iteration's results depend on (not the number of iterations)
        "expected": expected_manifest.input_hash, "finetune": ft.model_dump(exclude={"num_iterations"}),
        "capability": config.capability.model_dump() if settings.benchmarks else None,
        "benchmark_files": benchmark_fingerprint(config.capability) if settings.benchmarks else None,
        "general_data": file_sha256(general_path) if general_path else None, "max_epochs": settings.max_epochs,
        "batch_size": settings.batch_size, "grad_accum": settings.grad_accum, "agent": agent.model,
        "judge": Judge.settings(config), "target": config.target_model.model_dump(),
        "log_token_budget": options.log_token_budget,
    }
    path = run.path / FOLDER / "settings.json"
    pin_settings(path, {"identity": sha256_of(identity)},
                 f"{path}: this run's finetuning iterations were made with other settings (config, flags or data); "
                 "use another --run-dir, or delete the finetune folder to start over")
    stage = run.stage(STAGE, inputs={"identity": identity, "iterations": settings.iterations},
                      prompt_versions={PROMPT: load_prompt(PROMPT).version}, models={"agent": agent.model})
    with stage:
        if not stage.skipped:
            loop = _Loop(config, run, client, options, settings, agent, general_path, progress or SilentProgress())
            await loop.execute()
            stage.add_output(f"{FOLDER}/summary.json")
    return read_json(run.path / FOLDER / "summary.json")


def agent_call_config(config: A3Config, override: str | None = None) -> CallConfig:
    ft = config.finetune
    name = override or ft.agent_model or config.hypothesis_generation.llm_model
    model, args = resolve_model(name, field="--agent-model" if override else "finetune.agent_model")
    return CallConfig(model=model, model_args=args, temperature=ft.agent_temperature, max_tokens=ft.agent_max_tokens)


def general_data_path(config: A3Config, run: RunDir) -> Path | None:
    """The configured general-data file, else the run's own on-policy file, else none."""
    if config.paths.dolci_responses_file:
        path = Path(config.paths.dolci_responses_file)
        if not path.is_file():
            raise UserInputError(f"paths.dolci_responses_file: {path} does not exist")
        return path
    own = run.path / GENERAL_OUTPUT
    return own if own.is_file() else None


class _Loop:
    def __init__(self, config: A3Config, run: RunDir, client: LLMClient, options: FinetuneOptions, settings: _Settings,
                 agent: CallConfig, general_path: Path | None, progress: Progress) -> None:
        self.config, self.run, self.client, self.options, self.settings = config, run, client, options, settings
        self.agent, self.progress = agent, progress
        self.general = load_general_data(general_path) if general_path else GeneralDataSet([], 0)
        self.folder = run.path / FOLDER
        self.records = run.log(f"{FOLDER}/iterations.jsonl", key="iteration")
        self.log = ExperimentLog(run)
        self.assignment = read_json(run.path / SPLIT_DIR / ASSIGNMENT_FILE)
        self.expected_rows = read_json(run.path / EXPECTED_OUTPUT)["responses"]
        self.budget = training_budget(self.expected_rows, config.finetune.training_budget)
        self.eval_sets = {"validation": load_split(run, "validation"), "ood": load_split(run, "ood")}
        self.base = base_weights(config)
        self.judge = Judge(client, config)

    async def execute(self) -> None:
        baseline = await self._capability(None, "baseline", self.folder / "capability_baseline")
        if baseline is not None:
            self.log.add("capability_baseline", "capability_baseline", scores=baseline)
        task = self.progress.task("finetune: iterations", self.settings.iterations)
        for iteration in range(1, self.settings.iterations + 1):
            if iteration not in self.records:
                await self._iteration(iteration, baseline)
            task.advance()
        self.log.write_markdown()
        await self._finish(baseline)

    async def _iteration(self, iteration: int, baseline: dict[str, Any] | None) -> None:
        folder = self.folder / f"iter-{iteration:02d}"
        decision = await self._decision(iteration, folder, baseline)
        plan = decision["plan_model"]
        training_set = weighted_training_set(self.expected_rows, plan, self.general.examples, self.budget,
                                             self.config.finetune.seed)
        write_training_data(training_set.examples, folder / "train_data.jsonl")
        job = TrainJob(
            base_model=str(self.base), data_file=str(folder / "train_data.jsonl"), output_dir=str(folder / "adapter"),
            lora_r=plan.lora_r, lora_alpha=plan.lora_alpha, learning_rate=plan.learning_rate, num_epochs=plan.num_epochs,
            batch_size=self.settings.batch_size, gradient_accumulation_steps=self.settings.grad_accum,
            max_length=self.config.finetune.max_length, seed=self.config.finetune.seed,
        )
        result = await asyncio.to_thread(run_job, job, folder / "job.json", self.options.num_gpus)
        served = served_model(self.config, self.base, folder / "adapter", f"iter-{iteration:02d}", self.options.use_vllm)
        metrics = await evaluate_model(self.config, self.run, self.client, served, self.judge, self.eval_sets,
                                       f"{FOLDER}/iter-{iteration:02d}/eval", self.progress, f"iteration {iteration}")
        capability = await self._capability(served, f"iteration {iteration}", folder / "capability")
        self.client.release(served)
        record = {
            "iteration": iteration, "based_on": decision["based_on"], "plan": plan.model_dump(),
            "reasoning": decision["reasoning"], "clamps": decision["clamps"], "fallback": decision.get("fallback"),
            "counts": training_set.counts,
            "train": result.model_dump(), "adapter": str((folder / "adapter").relative_to(self.run.path)),
            "model": served.model, "validation": metrics["validation"], "ood": metrics["ood"],
            "capability": capability, "capability_drop": _drop(baseline, capability),
        }
        self.records.append(record)
        self.log.add(f"iteration:{iteration}", "iteration", **{k: v for k, v in record.items() if k != "iteration"},
                     number=iteration)

    async def _decision(self, iteration: int, folder: Path, baseline: dict[str, Any] | None) -> dict[str, Any]:
        path = folder / "decision.json"
        if not path.exists():
            context = AgentContext(
                iteration=iteration, total=self.settings.iterations, train_hypotheses=self.assignment["train"],
                sealed=sealed_hypotheses(self.run), budget=self.budget, max_epochs=self.settings.max_epochs,
                capability_baseline=baseline, previous=list(self.records), split_by=self.assignment.get("by", "hypothesis"),
            )
            try:
                decision, plan, clamps = await decide(self.config, self.log, self.client, self.agent, context,
                                                      self.options.log_token_budget)
            except StructuredOutputError as exc:
                atomic_write_json(path, self._fallback(exc) if self.records else self._first_fallback(exc))
            else:
                atomic_write_json(path, {
                    "based_on": decision.based_on_iteration, "decision": decision.model_dump(), "plan": plan.model_dump(),
                    "clamps": clamps,
                    "reasoning": {k: getattr(decision, k) for k in ("overall_reasoning", "lora_reasoning", "training_reasoning",
                                                                     "general_data_reasoning")},
                })
        saved = read_json(path)
        return {**saved, "plan_model": TrainingPlan.model_validate(saved["plan"])}

    def _first_fallback(self, error: StructuredOutputError) -> dict[str, Any]:
        """The default first plan, for an agent that gave no valid first decision."""
        plan = first_plan(self.assignment["train"], self.settings.max_epochs, self.config.finetune.learning_rate_range)
        return _fallback_record(None, plan, f"default first plan; the agent gave no valid decision ({error})")

    def _fallback(self, error: StructuredOutputError) -> dict[str, Any]:
        """A rule-following next step from the best iteration so far, for an agent that gave no
        valid decision (a small agent often breaks the one-change rule every time)."""
        records = list(self.records)
        selection = choose(records, sfr_target=self.config.finetune.sfr_target,
                           max_drop=self.config.capability.max_drop, measured=self.settings.benchmarks)
        base = next((r for r in records if r["iteration"] == selection["chosen"]), records[-1])
        plan, why = fallback_plan(TrainingPlan.model_validate(base["plan"]), base["validation"]["sfr"],
                                  base["validation"]["fpr"], self.config.finetune.sfr_target, base["capability_drop"],
                                  self.config.capability.max_drop)
        return _fallback_record(base["iteration"], plan,
                                f"fallback from iteration {base['iteration']}: {why}; the agent gave no valid decision ({error})")

    async def _capability(self, served: CallConfig | None, label: str, log_dir: Path) -> dict[str, Any] | None:
        if not self.settings.benchmarks:
            return None
        saved = log_dir / "scores.json"
        if saved.exists():
            return read_json(saved)
        model = served or served_model(self.config, self.base, None, "base", self.options.use_vllm)
        task = self.progress.task(f"{label}: capability benchmarks", len(self.config.capability.benchmarks))
        scores = await evaluate_capability(self.client, model, self.config.capability, log_dir)
        task.advance(len(scores.benchmarks))
        if served is None:
            self.client.release(model)
        result = {name: s.model_dump() for name, s in scores.benchmarks.items()}
        atomic_write_json(saved, result)
        return result

    async def _finish(self, baseline: dict[str, Any] | None) -> None:
        records = list(self.records)
        selection = choose(records, sfr_target=self.config.finetune.sfr_target, max_drop=self.config.capability.max_drop,
                           measured=self.settings.benchmarks)
        test = None
        if selection["chosen"] is not None:
            chosen = next(r for r in records if r["iteration"] == selection["chosen"])
            served = served_model(self.config, self.base, self.run.path / chosen["adapter"], f"iter-{chosen['iteration']:02d}",
                                  self.options.use_vllm)
            queries = load_sealed_test(self.run)
            test = (await evaluate_model(self.config, self.run, self.client, served, self.judge, {"test": queries},
                                         f"{FOLDER}/sealed/test_eval", self.progress, "sealed test"))["test"]
            self.client.release(served)
            atomic_write_json(self.folder / "sealed" / "test_results.json", {"iteration": chosen["iteration"], "test": test})
        summary = {
            "iterations": [_row(r) for r in records],
            "selection": selection,
            "capability_baseline": baseline,
            "baseline": read_json(self.run.path / SPLIT_DIR / "baseline.json"),
            "test_baseline": read_json(self.run.path / SPLIT_DIR / "sealed" / "test_baseline.json"),
            "chosen_test": test,
            "general_data": {"examples": len(self.general.examples), "skipped": self.general.skipped},
            # iterations whose plan A3 made because the agent gave no valid decision
            "fallbacks": {str(r["iteration"]): r["fallback"] for r in records if r.get("fallback")},
        }
        atomic_write_json(self.folder / "summary.json", summary)


def _drop(baseline: dict[str, Any] | None, capability: dict[str, Any] | None) -> float | None:
    """Points lost against the base model (positive = worse); None when anything is missing."""
    if not baseline or not capability:
        return None
    before = CapabilityScores.model_validate({"benchmarks": baseline}).overall
    after = CapabilityScores.model_validate({"benchmarks": capability}).overall
    return None if before is None or after is None else before - after


def _row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "iteration": record["iteration"], "plan": {k: v for k, v in record["plan"].items() if k != "weights"},
        "validation": {"sfr": record["validation"]["sfr"], "fpr": record["validation"]["fpr"]},
        "ood": {"sfr": record["ood"]["sfr"], "fpr": record["ood"]["fpr"]},
        "capability": {n: s["accuracy"] for n, s in (record["capability"] or {}).items()},
        "capability_drop": record["capability_drop"], "train_loss": record["train"]["train_loss"],
        "train_tokens_per_s": record["train"]["tokens_per_s"], "adapter": record["adapter"],
    }


def _fallback_record(based_on: int | None, plan: TrainingPlan, note: str) -> dict[str, Any]:
    """``decision.json`` for a plan A3 chose because the agent gave no valid decision."""
    return {"based_on": based_on, "decision": None, "plan": plan.model_dump(), "clamps": [], "fallback": note,
            "reasoning": {"overall_reasoning": note}}
