"""``a3 run``: the whole alignment pipeline, resumable."""

from __future__ import annotations

from pathlib import Path

import typer

from a3.cli.common import ConfigArg, ConfigFileOpt, MaxCostOpt, PricesOpt, RunDirOpt, open_session
from a3.cli.errors import reports_errors
from a3.cli.stages_cmd import (
    AgentOpt,
    BatchSizeOpt,
    GradAccumOpt,
    MaxEpochsOpt,
    NoBenchOpt,
    NumIterationsOpt,
    ProcessesOpt,
    finetune_options,
    print_finetune,
)


def register(app: typer.Typer) -> None:
    @app.command("run")
    @reports_errors
    def run_all(
        config: Path | None = ConfigArg,
        config_file: Path | None = ConfigFileOpt,
        run_dir: Path | None = RunDirOpt,
        skip_generate: bool = typer.Option(False, "--skip-generate"),
        skip_split: bool = typer.Option(False, "--skip-split"),
        skip_expected: bool = typer.Option(False, "--skip-expected"),
        skip_general: bool = typer.Option(False, "--skip-general"),
        skip_finetune: bool = typer.Option(False, "--skip-finetune"),
        start: str | None = typer.Option(
            None, "--from", help="First stage: generate, split, expected, general, finetune."
        ),
        stop: str | None = typer.Option(None, "--until", help="Last stage."),
        model: str | None = typer.Option(
            None, "--model", help="Generator/agent model (overrides hypothesis_generation.llm_model)."
        ),
        num_rounds: int = typer.Option(10, "--num-rounds", min=1, help="Rounds of hypotheses."),
        general_samples: int = typer.Option(
            5000, "--general-samples", min=1, help="General prompts answered by the target."
        ),
        num_iterations: int | None = NumIterationsOpt,
        max_epochs: int | None = MaxEpochsOpt,
        batch_size: int | None = BatchSizeOpt,
        gradient_accumulation_steps: int | None = GradAccumOpt,
        disable_benchmark_eval: bool = NoBenchOpt,
        agent_model: str | None = AgentOpt,
        num_processes: int = ProcessesOpt,
        max_cost: float | None = MaxCostOpt,
        prices: Path | None = PricesOpt,
        seed: int | None = typer.Option(
            None,
            "--seed",
            help="Replication seed: the generator's samples, the split and "
            "the finetuning draws all take it [default: the config's seeds].",
        ),
    ) -> None:
        """The whole alignment pipeline (stages 1-4), resumable: finished stages are skipped."""
        from a3.align.expected import ExpectedOptions
        from a3.align.generate.stage import GenerateOptions
        from a3.align.pipeline import RunOptions, run_pipeline, selected_stages

        skips = {
            name
            for name, flag in (
                ("generate", skip_generate),
                ("split", skip_split),
                ("expected", skip_expected),
                ("general", skip_general),
                ("finetune", skip_finetune),
            )
            if flag
        }
        options = RunOptions(
            skip=frozenset(skips),
            start=start,
            stop=stop,
            generate=GenerateOptions(num_rounds=num_rounds, model=model),
            expected=ExpectedOptions(model=model),
            split_model=model,
            general_samples=general_samples,
            finetune=finetune_options(
                num_iterations,
                max_epochs,
                batch_size,
                gradient_accumulation_steps,
                disable_benchmark_eval,
                agent_model or model,
                num_processes,
            ),
        )
        selected_stages(options)  # flag errors before anything is written
        s = open_session(config, config_file, run_dir, max_cost, prices, seed=seed)
        results = s.work(lambda bars: run_pipeline(s.config, s.run, s.client, options, bars))
        if results.finetune is not None:
            print_finetune(results.finetune)
