"""``a3 baseline fixed-mix``: the paper's fixed-ratio SFT mixing baseline; ``a3 baseline planner``:
stage 4 under another planner."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from a3.cli.common import ConfigArg, ConfigFileOpt, MaxCostOpt, PricesOpt, RunDirOpt, console, open_session, pct
from a3.cli.errors import reports_errors
from a3.cli.stages_cmd import AgentOpt, NoBenchOpt, NumIterationsOpt, finetune_options, print_finetune

baseline_app = typer.Typer(help="Baselines to compare A3 with.", no_args_is_help=True)


@baseline_app.command("fixed-mix")
@reports_errors
def fixed_mix(
    config: Path | None = ConfigArg,
    config_file: Path | None = ConfigFileOpt,
    run_dir: Path | None = RunDirOpt,
    model_name_or_path: str | None = typer.Option(
        None, "--model-name-or-path", help="Weights to train [default: the config's target]."
    ),
    epochs: int = typer.Option(5, "--epochs", min=1),
    learning_rate: float = typer.Option(1e-5, "--learning-rate", min=1e-8, help="The original's 1e-5 by default."),
    batch_size: int = typer.Option(2, "--batch-size", min=1),
    no_lora: bool = typer.Option(False, "--no-lora", help="Full finetuning instead of LoRA."),
    lora_r: int = typer.Option(64, "--lora-r", min=1),
    lora_alpha: int = typer.Option(256, "--lora-alpha", min=1),
    target_size: int | None = typer.Option(
        None, "--target-size", min=1, help="Training examples [default: auto, 2 x min(#harmful, #benign)]."
    ),
    seed: int = typer.Option(42, "--seed"),
    harmful_share: list[int] | None = typer.Option(
        None,
        "--harmful-share",
        min=0,
        max=100,
        help="A harmful share to train, in percent; repeat for more [default: 10, 30, 50, 70 and 90].",
    ),
    disable_benchmark_eval: bool = NoBenchOpt,
    max_cost: float | None = MaxCostOpt,
    prices: Path | None = PricesOpt,
) -> None:
    """SFT at fixed harmful/benign ratios (by default five, 10-90%) with 15% general data: the mixing baseline."""
    from a3.align.compare.fixed_mix import HARMFUL_SHARES, FixedMixOptions, run_fixed_mix

    s = open_session(config, config_file, run_dir, max_cost, prices)
    options = FixedMixOptions(
        model_name_or_path=model_name_or_path,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        no_lora=no_lora,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        target_size=target_size,
        seed=seed,
        disable_benchmark_eval=disable_benchmark_eval,
        harmful_shares=tuple(dict.fromkeys(harmful_share)) if harmful_share else HARMFUL_SHARES,
    )
    results = s.work(lambda bars: run_fixed_mix(s.config, s.run, s.client, options, bars))
    table = Table(title="Fixed mixing baseline")
    for column in ("configuration", "val SFR", "val FPR", "OOD SFR", "OOD FPR", "test SFR", "test FPR"):
        table.add_column(column)
    for row in results:
        table.add_row(row.name, *(pct(value) for m in (row.validation, row.ood, row.test) for value in (m.sfr, m.fpr)))
    console.print(table)


@baseline_app.command("planner")
@reports_errors
def planner(
    config: Path | None = ConfigArg,
    config_file: Path | None = ConfigFileOpt,
    run_dir: Path | None = RunDirOpt,
    planner_name: str = typer.Option(
        ..., "--planner", help="agent, search or agent+search (not the one stage 4 uses)."
    ),
    num_iterations: int | None = NumIterationsOpt,
    disable_benchmark_eval: bool = NoBenchOpt,
    agent_model: str | None = AgentOpt,
    max_cost: float | None = MaxCostOpt,
    prices: Path | None = PricesOpt,
) -> None:
    """Stage 4's loop again with another planner, on the same data and budget: \
does an LLM agent plan better than a search?"""
    from a3.align.compare.planners import compare_planner

    s = open_session(config, config_file, run_dir, max_cost, prices)
    options = finetune_options(num_iterations, None, None, None, disable_benchmark_eval, agent_model, 1)
    summary = s.work(lambda bars: compare_planner(s.config, s.run, s.client, planner_name, options, bars))
    console.print(f"[bold]planner: {planner_name}[/]")
    print_finetune(summary)
