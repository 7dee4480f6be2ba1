"""The ``a3`` command."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

import a3
from a3.cli import baseline_cmd, defend_cmd, evaluate_cmd, init_cmd, judge_cmd, meta_cmd, progress, run_cmd, stages_cmd
from a3.cli.errors import reports_errors
from a3.cli.progress import make_console
from a3.errors import UserInputError

app = typer.Typer(
    name="a3",
    help="A3: automated alignment agent and meta-analysis of elicitation runs.",
    no_args_is_help=True,
    add_completion=False,
)
console = make_console()
init_cmd.register(app)
stages_cmd.register(app)
run_cmd.register(app)
evaluate_cmd.register(app)
app.add_typer(baseline_cmd.baseline_app, name="baseline")
app.add_typer(meta_cmd.meta_app, name="meta")
app.add_typer(defend_cmd.defend_app, name="defend")
app.add_typer(judge_cmd.judge_app, name="judge")


def _version(value: bool) -> None:
    if value:
        console.print(f"a3 {a3.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="Do not draw progress bars."),
) -> None:
    progress.set_enabled(not no_progress)
    progress.show_a3_messages()


@app.command()
@reports_errors
def check(config: Path = typer.Argument(..., help="An A3 config file (.json, .yaml or .yml).")) -> None:
    """Validate a config file and summarise it. Exit code 2 if it is invalid."""
    from a3.config import config_hash, load_config

    cfg = load_config(config)
    table = Table(show_header=False, box=None)
    table.add_row("attack", f"{cfg.attack.name} ({cfg.attack.key})")
    table.add_row("seed format", cfg.seed_example.format)
    table.add_row(
        "query format", f"{cfg.conversation_format.output_format}, {cfg.conversation_format.num_turns} turn(s)"
    )
    table.add_row("target", cfg.target_model.model_name or cfg.target_model.huggingface_model_path or "")
    table.add_row("judge", cfg.judge_model.model_name)
    table.add_row("generator", cfg.hypothesis_generation.llm_model)
    table.add_row("config hash", config_hash(cfg)[:16])
    console.print(f"[green]ok[/] {config}")
    console.print(table)


@app.command()
def models() -> None:
    """Which model backends are usable here, and why not."""
    from a3.cli.models_cmd import backend_statuses

    table = Table(title="Model backends")
    for column in ("backend", "model string", "usable", "why"):
        table.add_column(column)
    for status in backend_statuses():
        table.add_row(
            escape(status.name),
            escape(status.example),
            "[green]yes[/]" if status.usable else "[red]no[/]",
            escape(status.why),
        )
    console.print(table)


@app.command()
@reports_errors
def report(
    run: Path = typer.Argument(..., help="An alignment run directory."),
    out: Path | None = typer.Option(None, "--out", help="Folder for the report files [default: RUN/report]."),
) -> None:
    """Write the run's report: self-contained HTML (with a transcript browser), Markdown and the
    Pareto plot as SVG; print where the transcripts' inspect logs are and how to open them."""
    from a3.report import collect, inspect_view_command, write_report

    if not run.is_dir():
        raise UserInputError(f"{run}: no such run directory")
    data = collect(run)
    paths = write_report(data, out)
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")
    logs = sorted({subject.log for subject in data.transcripts.subjects})
    if logs:
        console.print(
            f"transcripts: {len(data.transcripts.replies)} judged replies in {len(logs)} inspect logs under {run}:"
        )
        for log in logs:
            console.print(f"  {log}", soft_wrap=True)
        console.print(f"open them in inspect's viewer: {inspect_view_command(run)}", soft_wrap=True)


@app.command()
@reports_errors
def status(run: Path = typer.Argument(..., help="A run directory.")) -> None:
    """Where a run stands: each stage's status, timing, calls and cost."""
    from a3.store import RunDir

    if not run.is_dir():
        raise UserInputError(f"{run}: no such run directory")
    run_dir = RunDir(run)
    manifests = run_dir.manifests()
    if not manifests:
        raise UserInputError(f"{run}: not a run directory (no stages/*.json manifests)")
    table = Table(title=f"Run {run}")
    for column in ("stage", "status", "attempts", "duration", "calls", "cache hits", "cost"):
        table.add_column(column)
    colours = {"done": "green", "running": "yellow", "failed": "red"}
    for manifest in manifests:
        usage = manifest.usage
        table.add_row(
            manifest.stage,
            f"[{colours[manifest.status]}]{manifest.status}[/]",
            str(manifest.attempts),
            f"{manifest.duration_s:.1f} s" if manifest.duration_s is not None else "—",
            str(usage.calls),
            str(usage.cache_hits),
            usage.money(),
        )
    stages = {manifest.stage for manifest in manifests}
    # a ledger entry's stage is the label it was recorded under (a string), or None outside every stage
    labelled = {entry.stage for entry in run_dir.ledger.entries() if entry.stage is not None}
    for label in sorted(labelled - stages):
        other = run_dir.ledger.totals(stage=label)  # work without a manifest: defences, evaluations
        table.add_row(label, "[dim]other work[/]", "—", "—", str(other.calls), str(other.cache_hits), other.money())
    console.print(table)
    totals = run_dir.ledger.totals()
    console.print(
        f"total: {totals.calls} model calls, {totals.cache_hits} cache hits, "
        f"{totals.input_tokens} input + {totals.output_tokens} output tokens, {totals.money()}"
    )
    for manifest in manifests:
        if manifest.error:
            console.print(f"[red]{manifest.stage} failed:[/] {manifest.error}")
    holder = run_dir.holder()
    if holder is not None:
        console.print(
            f"[yellow]in use:[/] process {holder.pid} is writing into this run "
            f"(`{holder.command}`, since {holder.since})"
        )
    elif any(m.status == "running" for m in manifests):
        console.print(
            "no process holds this run: a stage marked running was interrupted; run its command again to resume"
        )
