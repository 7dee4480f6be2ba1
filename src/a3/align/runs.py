"""Opening a run directory for a config, and the client that serves its stages."""

from __future__ import annotations

import re
from pathlib import Path

from a3.align import layout
from a3.align.roles import target_call_config
from a3.config import A3Config
from a3.errors import UserInputError
from a3.llm import LLMClient, PriceTable
from a3.store import RunDir, atomic_write_json, read_json


def default_run_dir(config: A3Config) -> Path:
    """``runs/<attack key>_<target model>``, like the original's ``*_{behavior}_{model}`` folders."""
    target = target_call_config(config.target_model).model
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", target.split("/", 1)[-1]).strip("-")
    return Path("runs") / f"{config.attack.key}_{slug}"


def open_run(config: A3Config, run_dir: str | Path | None = None) -> RunDir:
    """The run directory, with the resolved config recorded in it."""
    run = RunDir(run_dir or default_run_dir(config))
    atomic_write_json(run.path / layout.CONFIG, config.model_dump(mode="json"))
    return run


def replication_seed(config: A3Config, run_dir: str | Path | None, asked: int | None) -> int | None:
    """The replication seed a command on ``run_dir`` runs under: the one asked for, else the one
    the run was made with (``a3 run --seed``), so that later commands on a replicated run (the
    baselines, a resumed stage) keep its seed without being told. Asking for another is refused."""
    folder = Path(run_dir or default_run_dir(config))
    recorded_path = folder / layout.CONFIG
    recorded = None
    if recorded_path.is_file():
        recorded = read_json(recorded_path).get("replication_seed")
    started = RunDir(folder).stages_dir.is_dir() and any(RunDir(folder).manifests())
    if asked is not None and asked != recorded and (recorded is not None or started):
        made = f"--seed {recorded}" if recorded is not None else "no --seed"
        raise UserInputError(
            f"{recorded_path}: this run was made with {made}, not --seed {asked}; use another --run-dir"
        )
    return asked if asked is not None else recorded


def client_for(
    config: A3Config,
    run: RunDir,
    *,
    max_cost: float | None = None,
    prices: PriceTable | None = None,
    concurrency: int | None = None,
) -> LLMClient:
    """A client whose per-model concurrency is the config's ``data_generation.max_concurrent``."""
    return LLMClient(
        run, max_cost=max_cost, prices=prices, concurrency=concurrency or config.data_generation.max_concurrent
    )
