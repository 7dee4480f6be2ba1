"""``a3 baseline fixed-mix``: SFT at fixed harmful/benign ratios, the paper's mixing baseline.

Five configurations (10/30/50/70/90% harmful, the rest benign) with 15% general data, queries
drawn uniformly across hypotheses, fixed hyperparameters (LoRA r 64, alpha 256, learning rate
1e-5, 5 epochs). Each configuration's model is kept under
``baselines/fixed-mix/dolci15_harmful{X}_benign{Y}/`` and evaluated exactly like an A3 iteration.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from a3.align import layout
from a3.align.expected import STAGE as EXPECTED_STAGE
from a3.align.expected import load_expected
from a3.align.finetune.general_data import GeneralDataSet, load_general_data
from a3.align.finetune.mixture import TrainingCounts, fixed_training_set, training_budget
from a3.align.finetune.stage import general_data_path
from a3.align.finetune.train_job import run_job
from a3.align.finetune.trainer import TrainJob, TrainResult, write_training_data
from a3.align.measure.capability import BenchmarkScore, evaluate_capability
from a3.align.measure.evaluation import Subject, evaluate_model
from a3.align.measure.judge import Judge
from a3.align.measure.serving import base_weights, served_model
from a3.align.metrics import Metrics
from a3.align.roles import resolve_roles
from a3.align.split import load_sealed_test, load_split
from a3.config import A3Config
from a3.errors import UserInputError
from a3.llm import LLMClient
from a3.progress import Progress, SilentProgress
from a3.store import JsonObject, RunDir, atomic_write_json

HARMFUL_SHARES = (10, 30, 50, 70, 90)


class FixedMixOptions(BaseModel):
    """Options of the fixed-mix baseline (`a3 baseline fixed-mix`), the original's flags.

    The base weights (default: the config's target), training settings, the training budget (default:
    A3's, 2 x min(#harmful, #benign)), the share of general data, and the harmful shares to train."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name_or_path: str | None = None  # default: the config's target weights
    epochs: int = 5
    batch_size: int = 2
    gradient_accumulation_steps: int = 4
    no_lora: bool = False
    lora_r: int = 64
    lora_alpha: int = 256
    learning_rate: float = 1e-5
    target_size: int | None = None  # default: A3's budget, 2 x min(#harmful, #benign)
    seed: int = 42
    general_percentage: float = 15.0
    harmful_shares: tuple[int, ...] = HARMFUL_SHARES
    disable_benchmark_eval: bool = False
    num_gpus: int = 1
    use_vllm: bool | None = None


class FixedMixResult(BaseModel):
    """One configuration's trained model, measured: a line of ``results.jsonl``."""

    name: str  # dolci15_harmful30_benign70
    harmful_share: int
    general_percentage: float
    counts: TrainingCounts
    train: TrainResult
    model: str
    validation: Metrics
    ood: Metrics
    test: Metrics
    capability: dict[str, BenchmarkScore] | None


class FixedMixRecord(FixedMixResult):
    """A line of ``results.jsonl``: the result and the settings it was trained with (options, config
    and stage 3's input hash, compared whole: a later run with other settings is refused)."""

    settings: JsonObject

    def result(self) -> FixedMixResult:
        """The result without its settings."""
        return FixedMixResult(**{name: getattr(self, name) for name in FixedMixResult.model_fields})


async def run_fixed_mix(
    config: A3Config,
    run: RunDir,
    client: LLMClient,
    options: FixedMixOptions = FixedMixOptions(),
    progress: Progress | None = None,
) -> list[FixedMixResult]:
    """Train and measure the fixed-ratio baseline: one model per harmful share.

    Each model is measured on validation, OOD and the sealed test like an A3 iteration and kept under
    ``baselines/fixed-mix/``. Needs stage 3 done."""
    manifest = run.manifest(EXPECTED_STAGE)
    if manifest is None or manifest.status != "done":
        raise UserInputError(f"{run.path}: run `a3 expected` first (stage 'expected' is not done)")
    progress = progress or SilentProgress()
    base = Path(options.model_name_or_path) if options.model_name_or_path else base_weights(config.target_model)
    if not base.exists():
        raise UserInputError(f"--model-name-or-path: {base} is not a folder here")
    rows = load_expected(run) or []
    general_path = general_data_path(config.paths, run)
    general = load_general_data(general_path) if general_path else GeneralDataSet([], 0)
    budget = training_budget(rows, options.target_size or config.finetune.training_budget)  # A3's budget by default
    # The sealed test too: a baseline is reported beside A3's chosen iteration on the same queries
    # (no agent reads these results).
    eval_sets = {
        "validation": load_split(run, "validation"),
        "ood": load_split(run, "ood"),
        "test": load_sealed_test(run),
    }
    roles = resolve_roles(config)
    judge = Judge(client, roles.judge)
    benchmarks = bool(config.capability.benchmarks) and not options.disable_benchmark_eval
    results = run.log(layout.FIXED_MIX_RESULTS, FixedMixRecord, key="name")
    # The judge gate (config.judge), the sealed benchmarks (not measured here), stage 3's writer
    # budget and the look-alike mask (in stage 3's hash below, which carries stages 1 and 2) change
    # no result here: runs made before them stay valid.
    settings = {
        **_without_shares(options.model_dump(mode="json")),
        "config": config.model_dump(
            mode="json",
            exclude={
                "judge": True,
                "capability": {"sealed_benchmarks"},
                "expected_behavior_prompts": {"writer_max_tokens"},
                "data_generation": {"look_alike_mask"},
            },
        ),
        "expected": manifest.input_hash,
    }
    task = progress.task("fixed mixing: configurations", len(options.harmful_shares))
    for share in options.harmful_shares:
        name = f"dolci{options.general_percentage:g}_harmful{share}_benign{100 - share}"
        previous = results.get(name)
        if previous is not None and _without_shares(previous.settings) != settings:
            raise UserInputError(
                f"{run.path / layout.FIXED_MIX}: {name} was trained with other settings; use another --run-dir "
                f"or delete {run.path / layout.FIXED_MIX}"
            )
        if previous is None:
            folder = run.path / layout.FIXED_MIX / name
            training_set = fixed_training_set(
                rows, share / 100, options.general_percentage, general.examples, budget, options.seed
            )
            write_training_data(training_set.examples, folder / "train_data.jsonl")
            job = TrainJob(
                base_model=str(base),
                data_file=str(folder / "train_data.jsonl"),
                output_dir=str(folder / "model"),
                lora=not options.no_lora,
                lora_r=options.lora_r,
                lora_alpha=options.lora_alpha,
                learning_rate=options.learning_rate,
                num_epochs=options.epochs,
                batch_size=options.batch_size,
                gradient_accumulation_steps=options.gradient_accumulation_steps,
                max_length=config.finetune.max_length,
                seed=options.seed,
            )
            trained = await asyncio.to_thread(run_job, job, folder / "job.json", options.num_gpus)
            # A full finetune is a complete model folder; a LoRA run is an adapter on the base.
            served = (
                served_model(roles.evaluated_target, folder / "model", None, name, options.use_vllm)
                if options.no_lora
                else served_model(roles.evaluated_target, base, folder / "model", name, options.use_vllm)
            )
            metrics = await evaluate_model(
                run,
                Subject(client, served, "fixed mixing", name),
                judge,
                eval_sets,
                f"{layout.FIXED_MIX}/{name}/eval",
                progress,
                name,
            )
            capability = None
            if benchmarks:
                capability = (
                    await evaluate_capability(client, served, config.capability, folder / "capability")
                ).benchmarks
            client.release(served)
            result = FixedMixRecord(
                name=name,
                harmful_share=share,
                general_percentage=options.general_percentage,
                counts=training_set.counts,
                train=trained,
                model=served.model,
                validation=metrics["validation"],
                ood=metrics["ood"],
                test=metrics["test"],
                capability=capability,
                settings=settings,
            )
            results.append(result)
        task.advance()
    combined = [
        results[f"dolci{options.general_percentage:g}_harmful{s}_benign{100 - s}"].result()
        for s in options.harmful_shares
    ]
    atomic_write_json(
        run.path / layout.FIXED_MIX_CONFIGS,
        {"options": options.model_dump(mode="json"), "results": [r.model_dump(mode="json") for r in combined]},
    )
    return combined


def _without_shares(settings: JsonObject) -> JsonObject:
    """Settings without the list of shares: which shares a call trains changes no share's result, so a
    later call may add shares or train fewer (results saved before this rule hold the list)."""
    return {name: value for name, value in settings.items() if name != "harmful_shares"}
