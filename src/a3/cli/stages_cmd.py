"""The stage commands: ``a3 generate``, ``split``, ``expected``, ``general-data`` and ``finetune``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from a3.align.finetune.records import FinetuneSummary
from a3.cli.common import (
    ConfigArg,
    ConfigFileOpt,
    MaxCostOpt,
    ModelOpt,
    PricesOpt,
    RunDirOpt,
    console,
    open_session,
    pct,
)
from a3.cli.errors import reports_errors

if TYPE_CHECKING:
    from a3.align.finetune.stage import FinetuneOptions

NumIterationsOpt = typer.Option(
    None, "--num-iterations", min=1, help="SFT iterations [default: finetune.num_iterations, 30]."
)
MaxEpochsOpt = typer.Option(None, "--max-epochs", min=1, help="Most epochs the agent may choose [default: 10].")
BatchSizeOpt = typer.Option(
    None,
    "--batch-size",
    min=1,
    help="Examples per micro-batch (per device) [default: 2]; times "
    "--gradient-accumulation-steps, the global batch, which --num-processes splits.",
)
GradAccumOpt = typer.Option(
    None, "--gradient-accumulation-steps", min=1, help="Gradient accumulation steps [default: 4]."
)
NoBenchOpt = typer.Option(
    False, "--disable-benchmark-eval", help="Skip the capability benchmarks (MMLU-Pro/GPQA files)."
)
AgentOpt = typer.Option(
    None,
    "--agent-model",
    help="Model string for the finetuning agent [default: finetune.agent_model or the generator].",
)
ProcessesOpt = typer.Option(
    1,
    "--num-processes",
    "--num-gpus",
    min=1,
    help="Data-parallel training processes (above 1: accelerate launch): one per GPU when CUDA is present, else on the "
    "CPU over gloo. The global batch (--batch-size x --gradient-accumulation-steps) stays the same.",
)


def finetune_options(
    num_iterations: int | None,
    max_epochs: int | None,
    batch_size: int | None,
    grad_accum: int | None,
    disable_benchmark_eval: bool,
    agent_model: str | None,
    num_processes: int,
) -> FinetuneOptions:
    from a3.align.finetune.stage import FinetuneOptions

    # FinetuneOptions.num_gpus is the number of training processes (one per GPU where there are GPUs).
    return FinetuneOptions(
        num_iterations=num_iterations,
        max_epochs=max_epochs,
        batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        disable_benchmark_eval=disable_benchmark_eval,
        agent_model=agent_model,
        num_gpus=num_processes,
    )


def print_finetune(summary: FinetuneSummary) -> None:
    table = Table(title="Finetuning iterations (validation chooses; OOD is shown, test is sealed)")
    for column in (
        "iter",
        "r",
        "alpha",
        "lr",
        "epochs",
        "general %",
        "val SFR",
        "val FPR",
        "OOD SFR",
        "OOD FPR",
        "capability drop",
    ):
        table.add_column(column)
    chosen = summary.selection.chosen
    for row in summary.iterations:
        plan, drop = row.plan, row.capability_drop
        mark = " *" if row.iteration == chosen else ""
        table.add_row(
            f"{row.iteration}{mark}",
            str(plan.lora_r),
            str(plan.lora_alpha),
            f"{plan.learning_rate:g}",
            str(plan.num_epochs),
            f"{plan.general_data_percentage:g}",
            pct(row.validation["sfr"]),
            pct(row.validation["fpr"]),
            pct(row.ood["sfr"]),
            pct(row.ood["fpr"]),
            "n/a" if drop is None else f"{100 * drop:+.1f} pts",
        )
    console.print(table)
    for iteration, note in summary.fallbacks.items():
        console.print(f"[yellow]iteration {iteration}[/]: {escape(note)}")
    if chosen is not None and summary.chosen_test is not None:
        test, base = summary.chosen_test, summary.test_baseline
        console.print(
            f"chosen: iteration {chosen} ({summary.selection.rule}); "
            f"sealed test: SFR {pct(test.sfr)}, FPR {pct(test.fpr)}"
            f" (base model: SFR {pct(base.sfr)}, FPR {pct(base.fpr)})"
        )


def register(app: typer.Typer) -> None:
    @app.command()
    @reports_errors
    def generate(
        config: Path | None = ConfigArg,
        config_file: Path | None = ConfigFileOpt,
        run_dir: Path | None = RunDirOpt,
        model: str | None = ModelOpt,
        num_rounds: int = typer.Option(10, "--num-rounds", min=1, help="Rounds of hypotheses."),
        early_stop_rounds: int | None = typer.Option(
            None, "--early-stop-rounds", min=1, help="Stop after this many rounds in a row find no failure."
        ),
        log_token_budget: int = typer.Option(
            6000, "--log-token-budget", min=500, help="Tokens of experiment log shown to the agent."
        ),
        max_cost: float | None = MaxCostOpt,
        prices: Path | None = PricesOpt,
    ) -> None:
        """Stage 1: propose hypotheses, write harmful and benign queries, measure the target."""
        from a3.align.generate.stage import GenerateOptions, run_generate

        s = open_session(config, config_file, run_dir, max_cost, prices)
        options = GenerateOptions(
            num_rounds=num_rounds, model=model, early_stop_rounds=early_stop_rounds, log_token_budget=log_token_budget
        )
        summary = s.work(lambda bars: run_generate(s.config, s.run, s.client, options, bars))
        table = Table(title=f"Hypotheses ({summary.queries} queries, {summary.failures} generation failures)")
        for column in ("id", "round", "basis", "type", "SFR", "FPR", "hypothesis"):
            table.add_column(column)
        for row in summary.hypotheses:
            table.add_row(
                row.id,
                str(row.round),
                row.basis_example,
                row.change_type,
                pct(row.sfr),
                pct(row.fpr),
                escape(row.hypothesis[:80]),
            )
        console.print(table)

    @app.command()
    @reports_errors
    def split(
        config: Path | None = ConfigArg,
        config_file: Path | None = ConfigFileOpt,
        run_dir: Path | None = RunDirOpt,
        model: str | None = ModelOpt,
        max_cost: float | None = MaxCostOpt,
        prices: Path | None = PricesOpt,
    ) -> None:
        """Stage 2: split hypotheses into train / validation / OOD (+ sealed test); baseline rates."""
        from a3.align.split import run_split

        s = open_session(config, config_file, run_dir, max_cost, prices)
        baseline = s.work(lambda bars: run_split(s.config, s.run, s.client, model=model))
        table = Table(title="Splits and baseline of the untouched target (the test split is sealed)")
        for column in ("split", "hypotheses", "SFR", "FPR"):
            table.add_column(column)
        for name in ("train", "validation", "ood"):
            metrics = baseline[name]
            table.add_row(name, ", ".join(metrics.hypotheses), pct(metrics.sfr), pct(metrics.fpr))
        console.print(table)

    @app.command()
    @reports_errors
    def expected(
        config: Path | None = ConfigArg,
        config_file: Path | None = ConfigFileOpt,
        run_dir: Path | None = RunDirOpt,
        model: str | None = ModelOpt,
        max_parallel: int | None = typer.Option(
            None, "--max-parallel", min=1, help="Concurrent writer calls [default: data_generation.max_concurrent]."
        ),
        max_cost: float | None = MaxCostOpt,
        prices: Path | None = PricesOpt,
    ) -> None:
        """Stage 3: write the expected (safe or helpful) response for every training query."""
        from a3.align.expected import ExpectedOptions, run_expected

        s = open_session(config, config_file, run_dir, max_cost, prices, concurrency=max_parallel)
        counts = s.work(lambda bars: run_expected(s.config, s.run, s.client, ExpectedOptions(model=model), bars))
        console.print(
            f"expected behaviours: {counts.generated} written, "
            f"{counts.fallback_to_default} fell back to the config's default response"
        )

    @app.command("general-data")
    @reports_errors
    def general_data(
        config: Path | None = ConfigArg,
        config_file: Path | None = ConfigFileOpt,
        input: Path | None = typer.Option(
            None,
            "--input",
            help="Dolci-style rows (JSON/JSONL with 'messages') [default: A3's bundled general prompts].",
        ),
        output: Path = typer.Option(Path("dolci_responses.json"), "--output", help="Output file."),
        model: str | None = typer.Option(
            None, "--model", help="Model that answers [default: the config's target, on-policy]."
        ),
        num_samples: int = typer.Option(5000, "--num-samples", min=1, help="Rows to answer (a seeded random sample)."),
        max_workers: int = typer.Option(100, "--max-workers", min=1, help="Concurrent requests."),
        resume: bool = typer.Option(False, "--resume", help="Continue an existing output file."),
        seed: int = typer.Option(42, "--seed", help="Seed of the row sample."),
        max_cost: float | None = MaxCostOpt,
        prices: Path | None = PricesOpt,
    ) -> None:
        """On-policy general-data responses (the original's Dolci responses) for mixing into training."""
        from a3.align.finetune.general_data import GeneralDataOptions, generate_general_data
        from a3.align.roles import target_call_config
        from a3.llm.naming import resolve_model

        s = open_session(
            config, config_file, output.parent / ".a3-general-data", max_cost, prices, concurrency=max_workers
        )
        call = target_call_config(s.config.target_model)
        if model:
            name, args = resolve_model(model, field="--model")
            call = call.model_copy(update={"model": name, "model_args": args})
        options = GeneralDataOptions(
            source=input, output=output, num_samples=num_samples, max_workers=max_workers, resume=resume, seed=seed
        )
        summary = s.work(lambda bars: generate_general_data(s.client, call, options, bars))
        console.print(
            f"{summary.written} responses from {summary.model} written to {summary.output}"
            + (f"; {summary.failed} failed (run again with --resume)" if summary.failed else "")
        )

    @app.command()
    @reports_errors
    def finetune(
        config: Path | None = ConfigArg,
        config_file: Path | None = ConfigFileOpt,
        run_dir: Path | None = RunDirOpt,
        num_iterations: int | None = NumIterationsOpt,
        max_epochs: int | None = MaxEpochsOpt,
        batch_size: int | None = BatchSizeOpt,
        gradient_accumulation_steps: int | None = GradAccumOpt,
        disable_benchmark_eval: bool = NoBenchOpt,
        agent_model: str | None = AgentOpt,
        num_processes: int = ProcessesOpt,
        max_cost: float | None = MaxCostOpt,
        prices: Path | None = PricesOpt,
    ) -> None:
        """Stage 4: agent-chosen LoRA SFT iterations, each evaluated and kept; the final model chosen on validation."""
        from a3.align.finetune.stage import run_finetune

        s = open_session(config, config_file, run_dir, max_cost, prices)
        options = finetune_options(
            num_iterations,
            max_epochs,
            batch_size,
            gradient_accumulation_steps,
            disable_benchmark_eval,
            agent_model,
            num_processes,
        )
        print_finetune(s.work(lambda bars: run_finetune(s.config, s.run, s.client, options, bars)))
