"""Writing the report: one self-contained HTML file (styles and the plot inline, no scripts, no
network) and a Markdown file with the plot beside it as an SVG file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from a3.align.measure.judge_validation import KAPPA_FLOOR
from a3.align.metrics import Metrics
from a3.align.records import Kind
from a3.formatting import percent
from a3.report.collect import ComparisonRow, JudgeCheck, ReportData, Usage
from a3.report.plot import pareto_svg
from a3.stats import wilson_interval
from a3.store import atomic_write_text


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    highlight: frozenset[int] = frozenset()  # indices of the rows to stand out (the chosen model)


@dataclass(frozen=True)
class Section:
    title: str
    intro: str = ""
    tables: tuple[Table, ...] = ()
    plot: tuple[str, ...] = ()  # the splits whose points the section's plot shows (none: no plot)
    plot_file: str = "pareto.svg"  # the plot's file beside the Markdown
    level: int = 2  # heading level: 2 for a section, 3 for a subsection


def pct(value: float | None) -> str:
    return percent(value, 1, missing="—")


def rate(metrics: Metrics | None, kind: Kind) -> str:
    """A rate with the counts it rests on, e.g. "33.3% (1/3)": SFR over harmful queries, FPR over benign."""
    if metrics is None:
        return pct(None)
    counts = metrics.of(kind)
    if counts.value is None:
        return pct(None)
    return f"{pct(counts.value)} ({counts.flagged}/{counts.judged})"


def _noise_note(base: ComparisonRow | None) -> str:
    """One sentence on sampling noise, from the base model's validation SFR."""
    if base is None or base.validation is None:
        return ""
    counts = base.validation.harmful
    interval = wilson_interval(counts.flagged, counts.judged)
    if interval is None:
        return ""
    return (f" Rates are followed by their counts (flagged/judged). The base model's validation SFR, "
            f"{rate(base.validation, 'harmful')}, has a 95% Wilson interval of {pct(interval[0])}–{pct(interval[1])}: "
            "differences smaller than such intervals are within sampling noise.")


def judge_note(check: JudgeCheck | None) -> str:
    """One or two sentences on the instrument behind every rate: how the judge decides and how far
    it agrees with labels; said plainly when it is unvalidated or agrees poorly."""
    if check is None:
        return ""
    head = f" Judge: {check.description}."
    validation = check.validation
    if validation is None:
        return head + (" **The judge is unvalidated**: no `a3 judge validate` has measured it against labels, so its "
                       "rates are not yet evidence.")
    if not check.current:
        return head + (" **Its validation was made for another judge** (the judge settings changed since): run "
                       "`a3 judge validate` again.")
    scope = validation.scopes[validation.headline_scope]
    held = "held-out " if validation.headline_scope == "test" else ""
    parts = []
    for kind, noun in (("harmful", "harmful replies"), ("benign", "refusals")):
        a = getattr(scope, kind)
        if a.n:
            kappa = "κ undefined" if a.kappa is None else f"κ {a.kappa:.2f} [{a.kappa_low:.2f}, {a.kappa_high:.2f}]"
            parts.append(f"{noun}: {kappa}, accuracy {pct(a.accuracy)} on {a.n} {held}labels")
    note = f"{head} Against labels made by reading replies — {'; '.join(parts)}."
    # Each rate rests on one kind's judge: SFR on the harmful-reply judge, FPR on the refusal judge.
    weak = [rate for kind, rate in (("harmful", "SFR"), ("benign", "FPR"))
            if getattr(scope, kind).n and (getattr(scope, kind).kappa is None or getattr(scope, kind).kappa < KAPPA_FLOOR)]
    if weak:
        rates = " and ".join(weak)
        note += (f" **The judge behind {rates} agrees poorly with the labels (κ below {KAPPA_FLOOR} or undefined): "
                 f"those rates are not evidence.**")
    return note


def _paired(data: ReportData) -> Table | None:
    if not data.paired_test:
        return None
    rows = []
    for kind, label in (("harmful", "SFR"), ("benign", "FPR")):
        c = data.paired_test.get(kind)
        if c is None:
            continue
        reading = ("significant (p < 0.05)" if c.significant else "within the noise (p ≥ 0.05)")
        rows.append([label, f"{pct(c.before_flagged / c.n)} ({c.before_flagged}/{c.n})", f"{pct(c.after_flagged / c.n)} ({c.after_flagged}/{c.n})",
                     f"{100 * c.difference:+.1f} points [{100 * c.low:+.1f}, {100 * c.high:+.1f}]", f"{c.only_before} / {c.only_after}",
                     f"{c.p_value:.3g}", reading])
    return Table(["rate", "base model", "chosen adapter", "difference [95% CI]", "changed: fixed / broken", "exact McNemar p", "reading"], rows)


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else str(value)


def sections(data: ReportData) -> list[Section]:
    result = [_headline(data), _models(data), _stages(data), _hypotheses(data), _splits(data)]
    if data.iterations:
        result.append(_iterations(data))
    if data.points:
        result.append(_comparison(data))
    if sum(p.split == "test" for p in data.points) > 1:
        result.append(_test_comparison(data))
    if data.dspy or data.icl:
        result.append(_defences(data))
    result.append(_costs(data))
    return result


def _headline(data: ReportData) -> Section:
    base = next((row for row in data.comparison if row.method == "base"), None)
    chosen = next((row for row in data.comparison if row.chosen), None)
    rows = []
    for label, row in (("base model", base), (f"chosen: {chosen.name}" if chosen else "", chosen)):
        if row is not None:
            rows.append([label, *_rate_cells(row)])
    judge = data.judge
    validity = (f"{judge.valid} of {judge.asked} judge verdicts validated ({pct(judge.valid / judge.asked)}; "
                f"{judge.first_try} at the first try)." if judge.asked else "No judge verdicts yet.")
    facts = (f"Run folder `{data.run}`; report written {data.created_at} by A3 {data.a3_version}. {validity} "
             f"Total model cost ${data.costs.total_usd:.4f}.")
    paired = _paired(data)
    test_note = ("The last table compares the base model and the chosen adapter query by query on the sealed test "
                 "split: the difference with Newcombe's 95% interval and the exact McNemar test on the queries whose "
                 "verdict changed." if paired else "")
    intro = "\n\n".join(filter(None, [data.attack["description"], facts + judge_note(data.judge_check), test_note]))
    tables = (Table(["model", "validation SFR", "validation FPR", "OOD SFR", "OOD FPR", "test SFR", "test FPR"], rows),) if rows else ()
    return Section("Summary", intro, tables + ((paired,) if paired else ()))


def _models(data: ReportData) -> Section:
    rows = [[role, model, data.model_versions.get(model, "")] for role, model in data.models.items()]
    prompts = [[name, version] for name, version in sorted(data.prompt_versions.items())]
    return Section("Models and versions", "Local weights are identified by their sha256; prompts by their version hash.",
                   (Table(["role", "model", "weights sha256"], rows), Table(["prompt", "version"], prompts)))


def _stages(data: ReportData) -> Section:
    rows = [[s.stage, s.status or "—", s.finished_at or "—", _number(s.duration_s, 1), _number(s.calls),
             f"${s.cost_usd:.4f}"] for s in data.stages]
    return Section("Stages", "Duration and calls of each stage's last attempt.",
                   (Table(["stage", "status", "finished", "seconds", "calls", "cost"], rows),))


def _hypotheses(data: ReportData) -> Section:
    rows = [[h.summary.id, h.split, h.summary.change_type or "—", _number(h.summary.round), h.summary.basis_example or "—",
             h.summary.hypothesis, f"{pct(h.summary.sfr)} of {h.summary.harmful.judged}",
             f"{pct(h.summary.fpr)} of {h.summary.benign.judged}"] for h in data.hypotheses]
    dropped = "; ".join(f"{reason}: {count}" for reason, count in sorted(data.dropped.items(), key=lambda x: -x[1]))
    gate = (f" The quality gate dropped {sum(data.dropped.values())} generated queries before they were measured "
            f"({dropped}); `generation/dropped.jsonl` has each with its text." if data.dropped else "")
    return Section("Hypotheses", "Rates of the base target model, as measured in stage 1 (SFR over harmful queries, "
                   "FPR over benign look-alikes)." + gate + judge_note(data.judge_check),
                   (Table(["id", "split", "change", "round", "basis", "hypothesis", "SFR", "FPR"], rows),))


def _splits(data: ReportData) -> Section:
    rows = [[name, str(s.hypotheses), str(s.harmful), str(s.benign)] for name, s in data.split_sizes.items()]
    how = {"hypothesis": "Hypotheses are split whole, so no query of a validation, OOD or test hypothesis is trained on.",
           "query": "Split by query: the OOD hypotheses are held out whole; the other hypotheses' queries are split into "
                    "train, validation and the sealed test, a harmful query and its look-alikes together, so no "
                    "validation or test query (nor its twin) is trained on."}[data.split_by]
    return Section("Splits", how,
                   (Table(["split", "hypotheses", "harmful queries", "benign queries"], rows),))


def _iterations(data: ReportData) -> Section:
    rows = []
    for it in data.iterations:
        record, plan = it.record, it.record.plan
        mark = " (chosen)" if it.chosen else (" (front)" if it.on_front else "")
        capability = ", ".join(f"{name} {pct(score.accuracy)}" for name, score in (record.capability or {}).items()) or "—"
        rows.append([f"{record.iteration}{mark}", f"{plan.learning_rate:.2g}" if plan.learning_rate else "—",
                     f"{plan.lora_r}/{plan.lora_alpha}", _number(plan.num_epochs), _number(plan.general_data_percentage),
                     _number(record.counts.total), _number(record.train.train_loss, 3), pct(record.validation.sfr),
                     pct(record.validation.fpr), pct(record.ood.sfr), pct(record.ood.fpr), capability,
                     pct(record.capability_drop)])
    chosen = data.selection.chosen if data.selection else None
    intro = (f"Chosen: iteration {chosen} — {data.selection.rule}." if data.selection and chosen
             else "No iteration chosen yet.") + judge_note(data.judge_check)
    if data.fallbacks:
        intro += (f" The agent gave no valid decision for iteration(s) {', '.join(data.fallbacks)}; "
                  "A3's fallback plan was trained instead (see each iteration's decision.json).")
    if data.test:
        intro += (f" Sealed test of the chosen adapter: SFR {pct(data.test.chosen.sfr)}, FPR {pct(data.test.chosen.fpr)} "
                  f"(base model: SFR {pct(data.test.base.sfr)}, FPR {pct(data.test.base.fpr)}).")
    headers = ["iteration", "learning rate", "LoRA r/α", "epochs", "general %", "examples", "train loss", "val SFR", "val FPR",
               "OOD SFR", "OOD FPR", "capability", "capability drop"]
    chosen_rows = frozenset(i for i, it in enumerate(data.iterations) if it.chosen)
    return Section("Finetuning iterations", intro, (Table(headers, rows, chosen_rows),))


def _comparison(data: ReportData) -> Section:
    rows = [[row.method, row.name + (" (chosen)" if row.chosen else ""), *_rate_cells(row)] for row in data.comparison]
    base = next((row for row in data.comparison if row.method == "base"), None)
    return Section("Comparison", "Every model measured on the same validation and OOD queries with the same judge. "
                   "Dots are validation, squares OOD; the dashed line is the A3 iterations' validation Pareto front."
                   + _noise_note(base) + judge_note(data.judge_check),
                   (Table(["method", "model", "val SFR", "val FPR", "OOD SFR", "OOD FPR", "test SFR", "test FPR"], rows,
                          frozenset(i for i, row in enumerate(data.comparison) if row.chosen)),), plot=("validation", "ood"))


def _test_comparison(data: ReportData) -> Section:
    """Every method measured on the sealed test split: the paper's comparison at this run's scale."""
    measured = [row for row in data.comparison if row.test]
    chosen = next((row for row in measured if row.chosen), None)

    def dominates(a: ComparisonRow, b: ComparisonRow) -> bool:
        assert a.test is not None and b.test is not None
        sa, fa, sb, fb = a.test.sfr, a.test.fpr, b.test.sfr, b.test.fpr
        if sa is None or fa is None or sb is None or fb is None:
            return False
        return sa <= sb and fa <= fb and (sa < sb or fa < fb)

    rows = []
    for row in measured:
        over = [other.name for other in measured if other is not row and dominates(other, row)]
        rows.append([row.method, row.name + (" (chosen)" if row.chosen else ""), rate(row.test, "harmful"),
                     rate(row.test, "benign"), ", ".join(over) or "none"])
    intro = ("Each method on the sealed test split, which no agent saw: the base model, A3's chosen iteration and the "
             "baselines run on this run (fixed mixing, in-context examples). A point is dominated when another has no "
             "higher SFR and no higher FPR, and one of them lower.")
    if chosen is not None:
        beaten = [r for r in measured if r is not chosen and dominates(r, chosen)]
        intro += (f" A3's chosen iteration is dominated by {', '.join(r.name for r in beaten)}." if beaten
                  else " No method dominates A3's chosen iteration.")
    return Section("Sealed test comparison", intro + judge_note(data.judge_check),
                   (Table(["method", "model", "test SFR", "test FPR", "dominated by"], rows,
                          frozenset(i for i, row in enumerate(measured) if row.chosen)),),
                   plot=("test",), plot_file="pareto_test.svg")


def _defences(data: ReportData) -> Section:
    tables = []
    if data.dspy:
        tables.append(Table(["DSPy program", "metric calls (budget)", "candidates", "replies out of format", "optimised instructions"],
                            [[d.result.name, f"{d.result.metric_calls} ({d.result.budget})", str(d.candidates),
                              str(d.result.unparsed_responses), d.result.instructions] for d in data.dspy]))
    if data.icl:
        tables.append(Table(["ICL trial", "chosen iteration", "examples", "the agent's reasoning"],
                            [[d.name, str(d.iteration), ", ".join(d.examples), d.reasoning] for d in data.icl]))
    return Section("Prompt defences", "What each prompt defence put before the target: the instructions GEPA settled on "
                   "(a reply out of DSPy's field format is judged as written), and the worked examples of each ICL trial's "
                   "chosen iteration.", tuple(tables))


def _rate_cells(row: ComparisonRow) -> list[str]:
    return [rate(row.on(split), kind) for split in ("validation", "ood", "test") for kind in ("harmful", "benign")]


def _costs(data: ReportData) -> Section:
    def rows(table: dict[str, Usage]) -> list[list[str]]:
        return [[key, _number(r.calls), _number(r.cached), _number(r.input_tokens), _number(r.output_tokens),
                 f"${r.cost_usd:.4f}"] for key, r in sorted(table.items())]

    headers = ["calls", "cached", "input tokens", "output tokens", "cost"]
    return Section("Costs", f"From the run's call ledger; total ${data.costs.total_usd:.4f}. Local models cost nothing.",
                   (Table(["stage", *headers], rows(data.costs.by_stage)), Table(["model", *headers], rows(data.costs.by_model))))


def markdown(data: ReportData) -> str:
    return sections_markdown(f"A3 run report: {data.attack['name']}", sections(data))


def sections_markdown(title: str, parts: list[Section]) -> str:
    """Any report's Markdown: a title, then each section's heading, intro, plot link and tables."""
    lines = [f"# {title}", ""]
    for section in parts:
        lines += [f"{'#' * section.level} {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        if section.plot:
            lines += [f"![Pareto plot: SFR against FPR]({section.plot_file})", ""]
        for table in section.tables:
            lines += ["| " + " | ".join(table.headers) + " |", "|" + "---|" * len(table.headers)]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
            lines.append("")
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px; color: #111827;
       padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #e5e7eb; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; } th, td { border: 1px solid #e5e7eb; padding: .3rem .55rem;
  text-align: left; vertical-align: top; } th { background: #f3f4f6; } tr.chosen td { background: #eff6ff; font-weight: 600; }
code { background: #f3f4f6; padding: 0 .25rem; border-radius: 3px; } p { max-width: 75ch; } figure { margin: 1rem 0; }
"""


def html(data: ReportData) -> str:
    return sections_html(f"A3 run report: {data.attack['name']}", sections(data), lambda section: _plot(data, section))


def sections_html(title: str, parts: list[Section], figure: Callable[[Section], str] | None = None) -> str:
    """Any report's self-contained HTML, with the same sections and tables as its Markdown;
    ``figure`` draws the plot of a section that has one."""
    body = [f"<h1>{escape(title)}</h1>"]
    for section in parts:
        body.append(f'<section id="{_anchor(section.title)}"><h{section.level}>{escape(section.title)}</h{section.level}>')
        for paragraph in filter(None, section.intro.split("\n\n")):
            body.append(f"<p>{_inline_code(escape(paragraph))}</p>")
        if section.plot and figure is not None:
            body.append(f"<figure>{figure(section)}</figure>")
        for table in section.tables:
            body.append("<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.headers) + "</tr></thead><tbody>")
            for index, row in enumerate(table.rows):
                chosen = ' class="chosen"' if index in table.highlight else ""
                body.append(f"<tr{chosen}>" + "".join(f"<td>{_inline_code(escape(cell))}</td>" for cell in row) + "</tr>")
            body.append("</tbody></table>")
        body.append("</section>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def _anchor(title: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in title.lower()).strip("-")


def _plot(data: ReportData, section: Section) -> str:
    points = [p for p in data.points if p.split in section.plot]
    title = "Sealed test: SFR against FPR (lower left is better)" if section.plot == ("test",) else None
    return pareto_svg(points, title) if title else pareto_svg(points)


def _inline_code(text: str) -> str:
    """Markdown's `code` and **strong** in an already escaped paragraph."""
    parts = text.split("`")
    text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def write_report(data: ReportData, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Writes report.html, report.md and pareto.svg (default: RUN/report/); returns their paths."""
    folder = Path(out_dir) if out_dir else data.run / "report"
    paths = {"html": folder / "report.html", "markdown": folder / "report.md", "plot": folder / "pareto.svg"}
    for section in sections(data):
        if section.plot:
            atomic_write_text(folder / section.plot_file, _plot(data, section) + "\n")
    atomic_write_text(paths["markdown"], markdown(data))
    atomic_write_text(paths["html"], html(data))
    return paths
