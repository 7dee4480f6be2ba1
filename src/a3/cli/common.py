"""What the commands share: their common options, the workspace (run directory and client) a
command works in, with the cost line printed however it ends, and for the alignment commands the
session (a validated config, its run directory and client)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer

from a3.cli.errors import valid_cost_cap
from a3.cli.progress import LineProgress, RichProgress, logs_progress, make_console, make_progress
from a3.config import A3Config
from a3.errors import UserInputError
from a3.formatting import percent
from a3.llm import LLMClient, PriceTable
from a3.progress import Progress
from a3.store import RunDir

T = TypeVar("T")
Choice = TypeVar("Choice", bound=str)

console = make_console()

ConfigArg = typer.Argument(None, help="The A3 config file (.json, .yaml).", show_default=False)
ConfigFileOpt = typer.Option(None, "--config-file", help="Same as CONFIG (the original scripts' flag).")
RunDirOpt = typer.Option(None, "--run-dir", help="Run directory [default: runs/<attack key>_<target model>].")
MaxCostOpt = typer.Option(
    None,
    "--max-cost",
    help="Stop before spending more than this many USD in this run directory (counted across resumes).",
    callback=valid_cost_cap,
)
PricesOpt = typer.Option(
    None,
    "--prices",
    help="YAML file of model prices besides the packaged ones (pattern: [input, output] USD per 1M tokens).",
)
ModelOpt = typer.Option(
    None, "--model", help="Model string for the generator/agent (overrides hypothesis_generation.llm_model)."
)


@dataclass(frozen=True)
class Workspace:
    """A run directory and the client that serves the command's calls."""

    run: RunDir
    client: LLMClient

    def work(self, body: Callable[[Progress], Coroutine[Any, Any, T]]) -> T:
        """Run ``body`` with progress bars; print the run's cost however it ends."""
        try:
            if logs_progress():
                with LineProgress() as lines:
                    return asyncio.run(body(lines))
            with make_progress() as bars:
                return asyncio.run(body(RichProgress(bars)))
        finally:
            console.print(f"cost so far: {self.run.ledger.totals().summary()} — run directory: {self.run.path}")


@dataclass(frozen=True)
class Session(Workspace):
    """An alignment command's workspace, with the validated config it was opened for."""

    config: A3Config


def open_workspace(path: Path, max_cost: float | None, prices: Path | None, concurrency: int) -> Workspace:
    """A client over ``path`` with the cost cap and any extra prices (for commands without a config)."""
    run = RunDir(path)
    return Workspace(run, LLMClient(run, max_cost=max_cost, prices=_price_table(prices), concurrency=concurrency))


def _price_table(prices: Path | None) -> PriceTable | None:
    from a3.llm.pricing import load_price_file

    return PriceTable(load_price_file(prices)) if prices else None


def open_session(
    config: Path | None,
    config_file: Path | None,
    run_dir: Path | None,
    max_cost: float | None,
    prices: Path | None,
    concurrency: int | None = None,
    seed: int | None = None,
) -> Session:
    """Load and check the config and every model it names before anything is written; with
    ``seed``, the config replicated under that seed (``A3Config.replicated``)."""
    from a3.align import runs
    from a3.align.roles import resolve_roles
    from a3.config import load_config
    from a3.llm.preflight import preflight

    path = config or config_file
    if path is None:
        raise UserInputError("give the config file: a3 <command> CONFIG (or --config-file CONFIG)")
    cfg = load_config(path)
    seed = runs.replication_seed(cfg, run_dir, seed)
    if seed is not None:
        cfg = cfg.replicated(seed)
    table = _price_table(prices)
    preflight(resolve_roles(cfg).models())
    run = runs.open_run(cfg, run_dir)
    return Session(run, runs.client_for(cfg, run, max_cost=max_cost, prices=table, concurrency=concurrency), cfg)


def one_of(option: str, value: str, choices: tuple[Choice, ...]) -> Choice:
    """``value`` as the one of ``choices`` it equals (typed as they are), or a UserInputError naming ``option``."""
    for choice in choices:
        if value == choice:
            return choice
    raise UserInputError(f"{option}: {value!r} is not one of {', '.join(choices)}")


def pct(value: float | None) -> str:
    """A rate in a terminal table: whole percents."""
    return percent(value)
