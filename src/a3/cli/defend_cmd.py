"""``a3 defend``: defences compared with finetuning on the same sets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from a3.cli.common import (
    ConfigArg,
    ConfigFileOpt,
    MaxCostOpt,
    PricesOpt,
    RunDirOpt,
    console,
    one_of,
    open_session,
    pct,
)
from a3.cli.errors import reports_errors

defend_app = typer.Typer(
    help="Defences evaluated on the run's sets: in-context examples (icl), a GEPA-optimised prompt (dspy).",
    no_args_is_help=True,
)


@defend_app.command("icl")
@reports_errors
def icl(
    config: Path | None = ConfigArg,
    config_file: Path | None = ConfigFileOpt,
    run_dir: Path | None = RunDirOpt,
    selection_method: str = typer.Option(
        "prompt_level", "--selection-method", help="prompt_level, hypothesis_level or random."
    ),
    num_iterations: int = typer.Option(5, "--num-iterations", min=1, help="Iterations of example selection."),
    num_icl_examples: int = typer.Option(20, "--num-icl-examples", min=1, help="Examples shown before each request."),
    trial: int = typer.Option(1, "--trial", min=1, help="Trial number (its own folder and random seed)."),
    agent_model: str | None = typer.Option(
        None, "--agent-model", help="Model string of the selecting agent [default: finetune.agent_model]."
    ),
    max_cost: float | None = MaxCostOpt,
    prices: Path | None = PricesOpt,
) -> None:
    """In-context defence: an agent (or chance) picks examples put before every request as earlier turns, \
after its system prompt."""
    from a3.align.compare.icl import IclOptions, Method, defend_icl

    methods: tuple[Method, ...] = ("prompt_level", "hypothesis_level", "random")
    method = one_of("--selection-method", selection_method, methods)
    s = open_session(config, config_file, run_dir, max_cost, prices)
    options = IclOptions(
        selection_method=method,
        num_iterations=num_iterations,
        num_icl_examples=num_icl_examples,
        trial=trial,
        agent_model=agent_model,
    )
    summary = s.work(lambda bars: defend_icl(s.config, s.run, s.client, options, bars))
    table = Table(title=f"ICL defence ({selection_method}, trial {trial}, {summary.examples} examples)")
    for column in ("iter", "val SFR", "val FPR", "OOD SFR", "OOD FPR"):
        table.add_column(column)
    chosen = summary.selection.chosen
    for row in summary.iterations:
        table.add_row(
            f"{row.iteration}{' *' if row.iteration == chosen else ''}",
            pct(row.validation.sfr),
            pct(row.validation.fpr),
            pct(row.ood.sfr),
            pct(row.ood.fpr),
        )
    console.print(table)
    if summary.stopped_early:
        console.print(f"[yellow]stopped early[/] at {escape(summary.stopped_early)}")
    console.print(f"chosen on validation: iteration {chosen} ({summary.selection.rule})")


@defend_app.command("dspy")
@reports_errors
def dspy(
    config: Path | None = ConfigArg,
    config_file: Path | None = ConfigFileOpt,
    run_dir: Path | None = RunDirOpt,
    auto: str = typer.Option("medium", "--auto", help="GEPA's budget: light, medium or heavy."),
    max_train_samples: int | None = typer.Option(
        None, "--max-train-samples", min=1, help="Training queries GEPA learns from [default: all]."
    ),
    max_val_samples: int | None = typer.Option(
        None,
        "--max-val-samples",
        min=1,
        help="Validation queries GEPA compares candidates on (a seeded sample; the chosen program is measured on all) "
        "[default: all].",
    ),
    max_metric_calls: int | None = typer.Option(
        None, "--max-metric-calls", min=1, help="An exact GEPA budget (program runs judged) instead of --auto."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Results folder under defences/dspy [default: from the options]."
    ),
    max_cost: float | None = MaxCostOpt,
    prices: Path | None = PricesOpt,
) -> None:
    """Prompt defence: DSPy's GEPA rewrites instructions appended to the target's system prompt, \
from the judge's verdicts."""
    from a3.align import layout
    from a3.align.compare.dspy import DspyOptions, defend_dspy
    from a3.align.compare.dspy.defence import Auto

    budgets: tuple[Auto, ...] = ("light", "medium", "heavy")
    gepa_auto = one_of("--auto", auto, budgets)
    s = open_session(config, config_file, run_dir, max_cost, prices)
    options = DspyOptions(
        auto=gepa_auto,
        max_train_samples=max_train_samples,
        max_metric_calls=max_metric_calls,
        name=name,
        max_val_samples=max_val_samples,
    )
    results = s.work(lambda bars: defend_dspy(s.config, s.run, s.client, options, bars))
    budget = f"GEPA's {results.auto} budget" if results.auto else "an exact budget"
    console.print(
        f"{results.metric_calls} of {results.budget} metric calls ({budget}), {results.train_queries} training queries"
    )
    table = Table(title="DSPy defence")
    for column in ("split", "SFR", "FPR"):
        table.add_column(column)
    for split in ("validation", "ood", "test"):
        metrics = getattr(results, split)
        table.add_row(split, pct(metrics.sfr), pct(metrics.fpr))
    console.print(table)
    if results.field_responses:
        console.print(
            f"{results.field_responses} replies were in DSPy's field format anyway (their response field judged); "
            f"{results.unparsed_responses} taken whole"
        )
    console.print(f"optimised instructions: {escape(results.instructions)}")
    console.print(f"saved in {s.run.path / layout.DSPY / results.name}")
