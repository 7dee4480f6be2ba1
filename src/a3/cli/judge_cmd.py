"""``a3 judge validate``: the run's judge against labels a person made."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from a3.cli.common import ConfigArg, ConfigFileOpt, MaxCostOpt, PricesOpt, RunDirOpt, console, open_session
from a3.cli.errors import reports_errors
from a3.formatting import percent

judge_app = typer.Typer(
    help="The judge as a measuring instrument: its agreement with labelled responses.", no_args_is_help=True
)


def _interval(value: float | None, low: float | None, high: float | None, as_percent: bool = True) -> str:
    if value is None:
        return "n/a"
    show = percent if as_percent else (lambda v: f"{v:.2f}")
    return f"{show(value)} [{show(low)}, {show(high)}]" if low is not None and high is not None else show(value)


@judge_app.command("validate")
@reports_errors
def validate(
    config: Path | None = ConfigArg,
    config_file: Path | None = ConfigFileOpt,
    labels: Path = typer.Option(
        ...,
        "--labels",
        help="JSONL of labelled responses (see docs/judging-and-statistics.md: "
        "conversation or prompt, response, kind, gold, optional split dev/test).",
    ),
    run_dir: Path | None = RunDirOpt,
    max_cost: float | None = MaxCostOpt,
    prices: Path | None = PricesOpt,
) -> None:
    """Run the configured judge on labelled responses: accuracy, Cohen's kappa and the confusion
    matrix per kind and split, with 95% intervals; saved in RUN/judge/validation.json."""
    from a3.align import layout
    from a3.align.measure.judge_validation import KAPPA_FLOOR, load_labels, validate_judge

    load_labels(labels)  # a bad labels file is refused before anything is written
    s = open_session(config, config_file, run_dir, max_cost, prices)
    result = s.work(lambda bars: validate_judge(s.config, s.run, s.client, labels, bars))
    console.print(f"judge: {escape(result.judge_description)}")
    table = Table(title=f"Judge against {escape(str(labels))}")
    for column in ("labels", "kind", "n", "accuracy [95%]", "kappa [95%]", "TP", "FP", "FN", "TN", "undecided"):
        table.add_column(column)
    for scope_name, scope in result.scopes.items():
        undecided = ", ".join(f"{n} {status}" for status, n in scope.undecided.items()) or "0"
        for kind in ("harmful", "benign", "all"):
            a = getattr(scope, kind)
            table.add_row(
                scope_name,
                kind,
                str(a.n),
                _interval(a.accuracy, a.accuracy_low, a.accuracy_high),
                _interval(a.kappa, a.kappa_low, a.kappa_high, as_percent=False),
                str(a.true_positive),
                str(a.false_positive),
                str(a.false_negative),
                str(a.true_negative),
                undecided if kind == "all" else "",
            )
    console.print(table)
    where = "held-out (test)" if result.headline_scope == "test" else "all"
    headline = result.scopes[result.headline_scope]
    for kind, rate in (("harmful", "SFR"), ("benign", "FPR")):
        agreement = getattr(headline, kind)
        if not agreement.n:
            continue
        if agreement.kappa is None:
            console.print(
                f"[yellow]{kind}: kappa is undefined on the {where} labels (a single label value); "
                "add labels of both values[/]"
            )
        elif agreement.kappa < KAPPA_FLOOR:
            console.print(
                f"[red]{kind}: the judge agrees poorly with the {where} labels (kappa {agreement.kappa:.2f} < "
                f"{KAPPA_FLOOR}): its {rate} is not evidence[/]"
            )
    console.print(f"saved: {s.run.path / layout.JUDGE_VALIDATION}")
