"""``a3 evaluate``: any model on the run's validation and OOD sets, judged like every other."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from a3.cli.common import ConfigArg, ConfigFileOpt, MaxCostOpt, PricesOpt, RunDirOpt, console, open_session, pct
from a3.cli.errors import reports_errors


def register(app: typer.Typer) -> None:
    @app.command()
    @reports_errors
    def evaluate(
        config: Path | None = ConfigArg,
        config_file: Path | None = ConfigFileOpt,
        run_dir: Path | None = RunDirOpt,
        model: str | None = typer.Option(
            None,
            "--model",
            help="Model string, e.g. anthropic/claude-sonnet-4-5, "
            "openrouter/openai/gpt-5 (with --adapter: the base weights' folder).",
        ),
        adapter: Path | None = typer.Option(
            None, "--adapter", help="A LoRA adapter folder, served on the target's base weights."
        ),
        name: str | None = typer.Option(
            None, "--name", help="Name of this row in the report [default: the model string]."
        ),
        ood_sample: int = typer.Option(
            100, "--ood-sample", min=0, help="OOD queries of each kind, a seeded random subset (0: all)."
        ),
        seed: int = typer.Option(42, "--seed", help="Seed of the OOD subset."),
        max_cost: float | None = MaxCostOpt,
        prices: Path | None = PricesOpt,
    ) -> None:
        """Evaluate any model on the run's validation and OOD queries with the run's judge."""
        from a3.align.compare.any_model import EvaluateOptions, evaluate_any

        s = open_session(config, config_file, run_dir, max_cost, prices)
        options = EvaluateOptions(model=model, adapter=adapter, name=name, ood_sample=ood_sample or None, seed=seed)
        result = s.work(lambda bars: evaluate_any(s.config, s.run, s.client, options, bars))
        for split in ("validation", "ood"):
            metrics = getattr(result, split)
            console.print(
                f"{escape(result.name)} on {split} ({len(result.queries[split])} queries): "
                f"SFR {pct(metrics.sfr)}, FPR {pct(metrics.fpr)}"
            )
