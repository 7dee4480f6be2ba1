"""``a3 finetune``, ``a3 general-data``, ``a3 baseline fixed-mix`` and ``a3 run``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from a3.cli.align_cmd import (
    ConfigArg, ConfigFileOpt, MaxCostOpt, PricesOpt, RunDirOpt, _pct, _print_cost, _run_with_progress, _setup, console,
)
from a3.cli.errors import reports_errors

baseline_app = typer.Typer(help="Baselines to compare A3 with.", no_args_is_help=True)

NumIterationsOpt = typer.Option(None, "--num-iterations", min=1, help="SFT iterations [default: finetune.num_iterations, 30].")
MaxEpochsOpt = typer.Option(None, "--max-epochs", min=1, help="Most epochs the agent may choose [default: 10].")
BatchSizeOpt = typer.Option(None, "--batch-size", min=1, help="Batch size per device [default: 2].")
GradAccumOpt = typer.Option(None, "--gradient-accumulation-steps", min=1, help="Gradient accumulation steps [default: 4].")
NoBenchOpt = typer.Option(False, "--disable-benchmark-eval", help="Skip the capability benchmarks (MMLU-Pro/GPQA files).")
AgentOpt = typer.Option(None, "--agent-model", help="Model string for the finetuning agent [default: finetune.agent_model or the generator].")
GpusOpt = typer.Option(1, "--num-gpus", min=1, help="GPUs to train on (above 1: accelerate launch).")


def _finetune_options(num_iterations, max_epochs, batch_size, grad_accum, disable_benchmark_eval, agent_model, num_gpus):
    from a3.align.finetune.stage import FinetuneOptions

    return FinetuneOptions(num_iterations=num_iterations, max_epochs=max_epochs, batch_size=batch_size,
                           gradient_accumulation_steps=grad_accum, disable_benchmark_eval=disable_benchmark_eval,
                           agent_model=agent_model, num_gpus=num_gpus)


def _print_finetune(summary: dict) -> None:
    table = Table(title="Finetuning iterations (validation chooses; OOD is shown, test is sealed)")
    for column in ("iter", "r", "alpha", "lr", "epochs", "general %", "val SFR", "val FPR", "OOD SFR", "OOD FPR", "capability drop"):
        table.add_column(column)
    chosen = summary["selection"]["chosen"]
    for row in summary["iterations"]:
        plan = row["plan"]
        drop = row["capability_drop"]
        mark = " *" if row["iteration"] == chosen else ""
        table.add_row(f"{row['iteration']}{mark}", str(plan["lora_r"]), str(plan["lora_alpha"]), f"{plan['learning_rate']:g}",
                      str(plan["num_epochs"]), f"{plan['general_data_percentage']:g}", _pct(row["validation"]["sfr"]),
                      _pct(row["validation"]["fpr"]), _pct(row["ood"]["sfr"]), _pct(row["ood"]["fpr"]),
                      "n/a" if drop is None else f"{100 * drop:+.1f} pts")
    console.print(table)
    for iteration, note in (summary.get("fallbacks") or {}).items():
        console.print(f"[yellow]iteration {iteration}[/]: {escape(note)}")
    selection = summary["selection"]
    if chosen is not None:
        test = summary["chosen_test"]
        console.print(f"chosen: iteration {chosen} ({selection['rule']}); sealed test: SFR {_pct(test['sfr'])}, FPR {_pct(test['fpr'])}"
                      f" (base model: SFR {_pct(summary['test_baseline']['sfr'])}, FPR {_pct(summary['test_baseline']['fpr'])})")


def register(app: typer.Typer) -> None:
    app.add_typer(baseline_app, name="baseline")

    @app.command()
    @reports_errors
    def finetune(
        config: Optional[Path] = ConfigArg,
        config_file: Optional[Path] = ConfigFileOpt,
        run_dir: Optional[Path] = RunDirOpt,
        num_iterations: Optional[int] = NumIterationsOpt,
        max_epochs: Optional[int] = MaxEpochsOpt,
        batch_size: Optional[int] = BatchSizeOpt,
        gradient_accumulation_steps: Optional[int] = GradAccumOpt,
        disable_benchmark_eval: bool = NoBenchOpt,
        agent_model: Optional[str] = AgentOpt,
        num_gpus: int = GpusOpt,
        max_cost: Optional[float] = MaxCostOpt,
        prices: Optional[Path] = PricesOpt,
    ) -> None:
        """Stage 4: agent-chosen LoRA SFT iterations, each evaluated and kept; the final model chosen on validation."""
        from a3.align.finetune.stage import finetune as run_finetune

        cfg, run, client = _setup(config, config_file, run_dir, max_cost, prices)
        options = _finetune_options(num_iterations, max_epochs, batch_size, gradient_accumulation_steps,
                                    disable_benchmark_eval, agent_model, num_gpus)
        try:
            summary = _run_with_progress(lambda bars: run_finetune(cfg, run, client, options, bars))
        finally:
            _print_cost(run)
        _print_finetune(summary)

    @app.command("general-data")
    @reports_errors
    def general_data(
        config: Optional[Path] = ConfigArg,
        config_file: Optional[Path] = ConfigFileOpt,
        input: Optional[Path] = typer.Option(None, "--input", help="Dolci-style rows (JSON/JSONL with 'messages') [default: A3's bundled general prompts]."),
        output: Path = typer.Option(Path("dolci_responses.json"), "--output", help="Output file."),
        model: Optional[str] = typer.Option(None, "--model", help="Model that answers [default: the config's target, on-policy]."),
        num_samples: int = typer.Option(5000, "--num-samples", min=1, help="Rows to answer (a seeded random sample)."),
        max_workers: int = typer.Option(100, "--max-workers", min=1, help="Concurrent requests."),
        resume: bool = typer.Option(False, "--resume", help="Continue an existing output file."),
        seed: int = typer.Option(42, "--seed", help="Seed of the row sample."),
        max_cost: Optional[float] = MaxCostOpt,
        prices: Optional[Path] = PricesOpt,
    ) -> None:
        """On-policy general-data responses (the original's Dolci responses) for mixing into training."""
        from a3.align.finetune.general_data import GeneralDataOptions, generate_general_data
        from a3.align.models import resolve_model, target_call_config

        cfg, run, client = _setup(config, config_file, output.parent / ".a3-general-data", max_cost, prices, concurrency=max_workers)
        call = target_call_config(cfg.target_model)
        if model:
            name, args = resolve_model(model, field="--model")
            call = call.model_copy(update={"model": name, "model_args": args})
        options = GeneralDataOptions(source=input, output=output, num_samples=num_samples, max_workers=max_workers,
                                     resume=resume, seed=seed)
        try:
            summary = _run_with_progress(lambda bars: generate_general_data(client, call, options, bars))
        finally:
            _print_cost(run)
        console.print(f"{summary['written']} responses from {summary['model']} written to {summary['output']}"
                      + (f"; {summary['failed']} failed (run again with --resume)" if summary["failed"] else ""))

    @baseline_app.command("fixed-mix")
    @reports_errors
    def fixed_mix(
        config: Optional[Path] = ConfigArg,
        config_file: Optional[Path] = ConfigFileOpt,
        run_dir: Optional[Path] = RunDirOpt,
        model_name_or_path: Optional[str] = typer.Option(None, "--model-name-or-path", help="Weights to train [default: the config's target]."),
        epochs: int = typer.Option(5, "--epochs", min=1),
        learning_rate: float = typer.Option(1e-5, "--learning-rate", min=1e-8, help="The original's 1e-5 by default."),
        batch_size: int = typer.Option(2, "--batch-size", min=1),
        no_lora: bool = typer.Option(False, "--no-lora", help="Full finetuning instead of LoRA."),
        lora_r: int = typer.Option(64, "--lora-r", min=1),
        lora_alpha: int = typer.Option(256, "--lora-alpha", min=1),
        target_size: Optional[int] = typer.Option(None, "--target-size", min=1, help="Training examples [default: auto, 2 x min(#harmful, #benign)]."),
        seed: int = typer.Option(42, "--seed"),
        disable_benchmark_eval: bool = NoBenchOpt,
        max_cost: Optional[float] = MaxCostOpt,
        prices: Optional[Path] = PricesOpt,
    ) -> None:
        """SFT at five fixed harmful/benign ratios (10-90%) with 15% general data: the mixing baseline."""
        from a3.align.finetune.fixed_mix import FixedMixOptions, fixed_mix as run_fixed_mix

        cfg, run, client = _setup(config, config_file, run_dir, max_cost, prices)
        options = FixedMixOptions(model_name_or_path=model_name_or_path, epochs=epochs, learning_rate=learning_rate,
                                  batch_size=batch_size, no_lora=no_lora,
                                  lora_r=lora_r, lora_alpha=lora_alpha, target_size=target_size, seed=seed,
                                  disable_benchmark_eval=disable_benchmark_eval)
        try:
            summary = _run_with_progress(lambda bars: run_fixed_mix(cfg, run, client, options, bars))
        finally:
            _print_cost(run)
        table = Table(title="Fixed mixing baseline")
        for column in ("configuration", "val SFR", "val FPR", "OOD SFR", "OOD FPR", "test SFR", "test FPR"):
            table.add_column(column)
        for row in summary["results"]:
            table.add_row(row["name"], _pct(row["validation"]["sfr"]), _pct(row["validation"]["fpr"]), _pct(row["ood"]["sfr"]),
                          _pct(row["ood"]["fpr"]), _pct(row["test"]["sfr"]), _pct(row["test"]["fpr"]))
        console.print(table)

    @app.command("run")
    @reports_errors
    def run_all(
        config: Optional[Path] = ConfigArg,
        config_file: Optional[Path] = ConfigFileOpt,
        run_dir: Optional[Path] = RunDirOpt,
        skip_generate: bool = typer.Option(False, "--skip-generate"),
        skip_split: bool = typer.Option(False, "--skip-split"),
        skip_expected: bool = typer.Option(False, "--skip-expected"),
        skip_general: bool = typer.Option(False, "--skip-general"),
        skip_finetune: bool = typer.Option(False, "--skip-finetune"),
        start: Optional[str] = typer.Option(None, "--from", help="First stage: generate, split, expected, general, finetune."),
        stop: Optional[str] = typer.Option(None, "--until", help="Last stage."),
        model: Optional[str] = typer.Option(None, "--model", help="Generator/agent model (overrides hypothesis_generation.llm_model)."),
        num_rounds: int = typer.Option(10, "--num-rounds", min=1, help="Rounds of hypotheses."),
        general_samples: int = typer.Option(5000, "--general-samples", min=1, help="General prompts answered by the target."),
        num_iterations: Optional[int] = NumIterationsOpt,
        max_epochs: Optional[int] = MaxEpochsOpt,
        batch_size: Optional[int] = BatchSizeOpt,
        gradient_accumulation_steps: Optional[int] = GradAccumOpt,
        disable_benchmark_eval: bool = NoBenchOpt,
        agent_model: Optional[str] = AgentOpt,
        num_gpus: int = GpusOpt,
        max_cost: Optional[float] = MaxCostOpt,
        prices: Optional[Path] = PricesOpt,
    ) -> None:
        """The whole alignment pipeline (stages 1-4), resumable: finished stages are skipped."""
        from a3.align.expected import ExpectedOptions
        from a3.align.generate import GenerateOptions
        from a3.align.pipeline import RunOptions, run_pipeline, selected_stages

        skips = {name for name, flag in (("generate", skip_generate), ("split", skip_split), ("expected", skip_expected),
                                         ("general", skip_general), ("finetune", skip_finetune)) if flag}
        options = RunOptions(
            skip=frozenset(skips), start=start, stop=stop, generate=GenerateOptions(num_rounds=num_rounds, model=model),
            expected=ExpectedOptions(model=model), split_model=model, general_samples=general_samples,
            finetune=_finetune_options(num_iterations, max_epochs, batch_size, gradient_accumulation_steps,
                                       disable_benchmark_eval, agent_model or model, num_gpus),
        )
        selected_stages(options)  # flag errors before anything is written
        cfg, run, client = _setup(config, config_file, run_dir, max_cost, prices)
        try:
            results = _run_with_progress(lambda bars: run_pipeline(cfg, run, client, options, bars))
        finally:
            _print_cost(run)
        if "finetune" in results:
            _print_finetune(results["finetune"])
        console.print(f"run directory: {run.path}")
