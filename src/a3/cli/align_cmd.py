"""``a3 generate``, ``a3 split`` and ``a3 expected``: stages 1-3 of the alignment pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from a3.cli.errors import reports_errors, valid_cost_cap
from a3.cli.progress import RichProgress, make_progress
from a3.errors import UserInputError

console = Console()

ConfigArg = typer.Argument(None, help="The A3 config file (.json, .yaml).", show_default=False)
ConfigFileOpt = typer.Option(None, "--config-file", help="Same as CONFIG (the original scripts' flag).")
RunDirOpt = typer.Option(None, "--run-dir", help="Run directory [default: runs/<attack key>_<target model>].")
MaxCostOpt = typer.Option(None, "--max-cost", help="Stop before spending more than this many USD on this run.", callback=valid_cost_cap)
PricesOpt = typer.Option(None, "--prices", help="YAML file of model prices (pattern: [input, output] USD per 1M tokens).")
ModelOpt = typer.Option(None, "--model", help="Model string for the generator/agent (overrides hypothesis_generation.llm_model).")


def _setup(config: Optional[Path], config_file: Optional[Path], run_dir: Optional[Path], max_cost: Optional[float],
           prices: Optional[Path], concurrency: Optional[int] = None):
    from a3.align.models import config_models
    from a3.align.runs import client_for, open_run
    from a3.config import load_config
    from a3.llm.preflight import preflight
    from a3.llm import PriceTable
    from a3.llm.pricing import load_price_file

    path = config or config_file
    if path is None:
        raise UserInputError("give the config file: a3 <command> CONFIG (or --config-file CONFIG)")
    cfg = load_config(path)  # validated before anything is written
    table = PriceTable(load_price_file(prices)) if prices else None
    preflight(config_models(cfg))  # every model usable here, before anything is written
    run = open_run(cfg, run_dir)
    return cfg, run, client_for(cfg, run, max_cost=max_cost, prices=table, concurrency=concurrency)


def _run_with_progress(body: Callable[[RichProgress], Coroutine[Any, Any, Any]]) -> Any:
    with make_progress() as bars:
        return asyncio.run(body(RichProgress(bars)))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _print_cost(run) -> None:
    console.print(f"cost so far: {run.ledger.totals().summary()} — run directory: {run.path}")


def register(app: typer.Typer) -> None:
    @app.command()
    @reports_errors
    def generate(
        config: Optional[Path] = ConfigArg,
        config_file: Optional[Path] = ConfigFileOpt,
        run_dir: Optional[Path] = RunDirOpt,
        model: Optional[str] = ModelOpt,
        num_rounds: int = typer.Option(10, "--num-rounds", min=1, help="Rounds of hypotheses."),
        early_stop_rounds: Optional[int] = typer.Option(None, "--early-stop-rounds", min=1, help="Stop after this many rounds in a row find no failure."),
        log_token_budget: int = typer.Option(6000, "--log-token-budget", min=500, help="Tokens of experiment log shown to the agent."),
        max_cost: Optional[float] = MaxCostOpt,
        prices: Optional[Path] = PricesOpt,
    ) -> None:
        """Stage 1: propose hypotheses, write harmful and benign queries, measure the target."""
        from a3.align.generate import GenerateOptions, generate as run_generate

        cfg, run, client = _setup(config, config_file, run_dir, max_cost, prices)
        options = GenerateOptions(num_rounds=num_rounds, model=model, early_stop_rounds=early_stop_rounds, log_token_budget=log_token_budget)
        try:
            summary = _run_with_progress(lambda bars: run_generate(cfg, run, client, options, bars))
        finally:
            _print_cost(run)
        table = Table(title=f"Hypotheses ({summary['queries']} queries, {summary['failures']} generation failures)")
        for column in ("id", "round", "basis", "type", "SFR", "FPR", "hypothesis"):
            table.add_column(column)
        for row in summary["hypotheses"]:
            table.add_row(row["id"], str(row["round"]), row["basis_example"], row["change_type"], _pct(row["sfr"]),
                          _pct(row["fpr"]), escape(row["hypothesis"][:80]))
        console.print(table)

    @app.command()
    @reports_errors
    def split(
        config: Optional[Path] = ConfigArg,
        config_file: Optional[Path] = ConfigFileOpt,
        run_dir: Optional[Path] = RunDirOpt,
        model: Optional[str] = ModelOpt,
        max_cost: Optional[float] = MaxCostOpt,
        prices: Optional[Path] = PricesOpt,
    ) -> None:
        """Stage 2: split hypotheses into train / validation / OOD (+ sealed test); baseline rates."""
        from a3.align.split import split as run_split

        cfg, run, client = _setup(config, config_file, run_dir, max_cost, prices)
        try:
            baseline = asyncio.run(run_split(cfg, run, client, model=model))
        finally:
            _print_cost(run)
        table = Table(title="Splits and baseline of the untouched target (the test split is sealed)")
        for column in ("split", "hypotheses", "SFR", "FPR"):
            table.add_column(column)
        for name in ("train", "validation", "ood"):
            row = baseline[name]
            table.add_row(name, ", ".join(row["hypotheses"]), _pct(row["sfr"]), _pct(row["fpr"]))
        console.print(table)

    @app.command()
    @reports_errors
    def expected(
        config: Optional[Path] = ConfigArg,
        config_file: Optional[Path] = ConfigFileOpt,
        run_dir: Optional[Path] = RunDirOpt,
        model: Optional[str] = ModelOpt,
        max_parallel: Optional[int] = typer.Option(None, "--max-parallel", min=1, help="Concurrent writer calls [default: data_generation.max_concurrent]."),
        max_cost: Optional[float] = MaxCostOpt,
        prices: Optional[Path] = PricesOpt,
    ) -> None:
        """Stage 3: write the expected (safe or helpful) response for every training query."""
        from a3.align.expected import ExpectedOptions, expected as run_expected

        cfg, run, client = _setup(config, config_file, run_dir, max_cost, prices, concurrency=max_parallel)
        try:
            counts = _run_with_progress(lambda bars: run_expected(cfg, run, client, ExpectedOptions(model=model), bars))
        finally:
            _print_cost(run)
        console.print(f"expected behaviours: {counts['generated']} written, {counts['fallback_to_default']} fell back to the config's default response")
