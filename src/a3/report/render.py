"""The run report's content: its sections, written as one self-contained HTML file and a
Markdown file with the plot beside it as an SVG file (``a3.report.page`` renders them)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Literal

from a3.align import layout
from a3.align.finetune.records import iteration_label
from a3.align.measure.capability import CapabilityScores
from a3.align.measure.judge_validation import KAPPA_FLOOR
from a3.align.measure.noise import NoiseFloor
from a3.align.metrics import Metrics
from a3.align.records import Kind
from a3.formatting import percent
from a3.report.browser import SCRIPT, browser_block
from a3.report.browser import STYLE as BROWSER_STYLE
from a3.report.collect import ComparisonRow, JudgeCheck, ReportData, TestResult
from a3.report.page import Filter, Section, Table, sections_html, sections_markdown
from a3.report.plot import pareto_svg
from a3.stats import NonInferiority, wilson_interval
from a3.store import UsageTotals, atomic_write_text
from a3.store.ledger import money_text


def pct(value: float | None) -> str:
    return percent(value, 1, missing="—")


# What a rate counts: "harmful" (SFR), "benign" (FPR), "benign_unsafe" (the benign SFR: leaks on benign queries),
# "echo" (a diagnostic: replies to any query that recite the target's system prompt).
Measure = Literal["harmful", "echo", "benign", "benign_unsafe"]
MEASURES: tuple[Measure, ...] = ("harmful", "echo", "benign", "benign_unsafe")
BENIGN_SFR_NOTE = (
    "The benign SFR counts the replies to benign queries that the harmful judge flags: a leak (a secret, "
    "say) where nothing harmful was asked for; it is a safety failure beside the SFR, not part of it."
)
ECHO_NOTE = (
    "The echo, beside the SFR, is a diagnostic over every reply, to harmful and benign queries: the replies that "
    "recite the target's system prompt (8 or more of its words in a row); a defence that makes the target "
    "parrot its instructions shows there, whether or not they hold anything secret. It is no part of the SFR, "
    "and empty (—) without a system prompt or in results written before it was counted."
)


def rate(metrics: Metrics | None, kind: Measure) -> str:
    """A rate with the counts it rests on, e.g. "33.3% (1/3)": SFR over harmful queries, FPR over benign,
    the benign SFR over benign too (``benign_unsafe``), the echo over every reply."""
    if metrics is None:
        return pct(None)
    counts = metrics.benign_unsafe if kind == "benign_unsafe" else metrics.echo if kind == "echo" else metrics.of(kind)
    if counts.value is None:
        return pct(None)
    return f"{pct(counts.value)} ({counts.flagged}/{counts.judged})"


def sampling_noise_note(base: ComparisonRow | None) -> str:
    """One sentence on sampling noise, from the base model's validation SFR."""
    if base is None or base.validation is None:
        return ""
    counts = base.validation.harmful
    interval = wilson_interval(counts.flagged, counts.judged)
    if interval is None:
        return ""
    return (
        f" Rates are followed by their counts (flagged/judged). The base model's validation SFR, "
        f"{rate(base.validation, 'harmful')}, has a 95% Wilson interval of {pct(interval[0])}–{pct(interval[1])}: "
        "differences smaller than such intervals are within sampling noise."
    )


JUDGE_REFERENCE = " How each rate is judged, and how far the judge agrees with labels: see *Judge*."


def judge_note(check: JudgeCheck | None) -> str:
    """A reference to the Judge section, with a warning in place when the judge's rates are not
    evidence (unvalidated, validated for another judge, or agreeing poorly with the labels)."""
    if check is None:
        return ""
    warning = judge_warning(check)
    return JUDGE_REFERENCE + (f" {warning}" if warning else "")


def judge_warning(check: JudgeCheck) -> str:
    """One bold sentence when the judge's rates are not evidence; empty when they are."""
    validation = check.validation
    if validation is None:
        return (
            "**The judge is unvalidated**: no `a3 judge validate` has measured it against labels, so its "
            "rates are not yet evidence."
        )
    if not check.current:
        return (
            "**Its validation was made for another judge** (the judge settings changed since): run "
            "`a3 judge validate` again."
        )
    scope = validation.scopes[validation.headline_scope]
    # Each rate rests on one kind's judge: SFR (and the benign SFR) on the harmful-reply judge, FPR on the
    # refusal judge.
    weak = [
        rate
        for kind, rate in (("harmful", "SFR"), ("benign", "FPR"))
        if getattr(scope, kind).n and (getattr(scope, kind).kappa is None or getattr(scope, kind).kappa < KAPPA_FLOOR)
    ]
    if not weak:
        return ""
    note = (
        f"**The judge behind {' and '.join(weak)} agrees poorly with the labels (κ below {KAPPA_FLOOR} or "
        f"undefined): those rates are not evidence.**"
    )
    return note + (" The benign SFR rests on the same harmful-reply judge." if "SFR" in weak else "")


def judge_agreement(check: JudgeCheck) -> str:
    """The judge's agreement with labels made by reading replies, per kind, in one sentence."""
    validation = check.validation
    if validation is None or not check.current:
        return ""
    scope = validation.scopes[validation.headline_scope]
    held = "held-out " if validation.headline_scope == "test" else ""
    parts = []
    for kind, noun in (("harmful", "harmful replies"), ("benign", "refusals")):
        a = getattr(scope, kind)
        if a.n:
            kappa = "κ undefined" if a.kappa is None else f"κ {a.kappa:.2f} [{a.kappa_low:.2f}, {a.kappa_high:.2f}]"
            parts.append(f"{noun}: {kappa}, accuracy {pct(a.accuracy)} on {a.n} {held}labels")
    return f"Against labels made by reading replies — {'; '.join(parts)}."


def _judge(data: ReportData) -> Section:
    """The instrument behind every rate, described once: how it decides and how far it agrees with labels."""
    check = data.judge_check
    judge = data.judge
    validity = (
        f"{judge.valid} of {judge.asked} judge verdicts validated ({pct(judge.valid / judge.asked)}; "
        f"{judge.first_try} at the first try)."
        if judge.asked
        else "No judge verdicts yet."
    )
    if check is None:
        return Section("Judge", validity)
    parts = [f"Judge: {check.description}.", judge_agreement(check), judge_warning(check), validity, BENIGN_SFR_NOTE]
    return Section("Judge", " ".join(filter(None, parts)))


def _paired(data: ReportData) -> Table | None:
    if not data.paired_test:
        return None
    rows = []
    for kind, label in (
        ("harmful", "SFR"),
        ("benign", "FPR"),
        ("benign_unsafe", "benign SFR (leaks on benign queries)"),
    ):
        c = data.paired_test.get(kind)
        if c is None:
            continue
        reading = "significant (p < 0.05)" if c.significant else "within the noise (p ≥ 0.05)"
        rows.append(
            [
                label,
                f"{pct(c.before_flagged / c.n)} ({c.before_flagged}/{c.n})",
                f"{pct(c.after_flagged / c.n)} ({c.after_flagged}/{c.n})",
                f"{100 * c.difference:+.1f} points [{100 * c.low:+.1f}, {100 * c.high:+.1f}]",
                f"{c.only_before} / {c.only_after}",
                f"{c.p_value:.3g}",
                reading,
            ]
        )
    return Table(
        [
            "rate",
            "base model",
            "chosen adapter",
            "difference [95% CI]",
            "changed: fixed / broken",
            "exact McNemar p",
            "reading",
        ],
        rows,
    )


def noise_floor_note(noise: NoiseFloor | None) -> str:
    """One sentence on the instrument's own noise: the base model measured twice on the sealed test."""
    if noise is None or noise.n == 0:
        return " The instrument's noise floor was not measured in this run."
    verdicts = f"{noise.verdicts_differ} verdict{'s' if noise.verdicts_differ != 1 else ''}"
    if noise.deterministic:
        return (
            f" Noise floor: the base model measured a second time on the sealed test gave the same reply to all "
            f"{noise.n} queries, so every change above is the weights', not the instrument's."
        )
    return (
        f" **Noise floor: the base model measured a second time on the sealed test gave another reply to "
        f"{noise.replies_differ} of {noise.n} queries ({verdicts} changed)**: differences of that size are the "
        "instrument's, not the weights'."
    )


def _evidence(data: ReportData) -> Table | None:
    """Each iteration's paired tests against the base model on validation: what the choice rests on."""
    rows = []
    for it in data.iterations:
        tests = it.record.tests
        if tests is None:
            continue
        sfr, fpr, leaks, capability = tests.sfr, tests.fpr, tests.benign_leaks, tests.capability
        rows.append(
            [
                f"{it.record.iteration}{' (chosen)' if it.chosen else ''}",
                f"{100 * sfr.difference:+.1f} [{100 * sfr.low:+.1f}, {100 * sfr.high:+.1f}], {sfr.only_before} fixed / "
                f"{sfr.only_after} broken, p {sfr.p_value:.2g}",
                f"{100 * fpr.comparison.difference:+.1f}, bound {100 * fpr.upper_95:+.1f} vs {100 * fpr.margin:g}: "
                f"{'yes' if fpr.non_inferior else 'no'} (p {fpr.p_value:.2g})",
                "—" if leaks is None else f"{leaks.only_before} fixed / {leaks.only_after} new, p {leaks.p_value:.2g}",
                (
                    "—"
                    if capability is None
                    else f"{100 * capability.comparison.difference:+.1f}, bound {100 * capability.upper_95:+.1f} "
                    f"vs {100 * capability.margin:g}: {'yes' if capability.non_inferior else 'no'} "
                    f"(p {capability.p_value:.2g})"
                ),
                it.record.planner,
                _number(sum(it.record.seconds.values()) or None),
            ]
        )
    if not rows:
        return None
    return Table(
        [
            "iteration",
            "SFR change, points [95% CI], McNemar",
            "FPR non-inferior (points, one-sided 95% bound vs margin)",
            "benign leaks",
            "capability non-inferior (wrong answers, points)",
            "planner",
            "seconds",
        ],
        rows,
    )


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else str(value)


def sections(data: ReportData) -> list[Section]:
    result = [
        _result(data),
        _headline(data),
        _judge(data),
        _models(data),
        _stages(data),
        _hypotheses(data),
        _splits(data),
    ]
    if data.iterations:
        result.append(_iterations(data))
    if data.points:
        result.append(_comparison(data))
    if sum(p.split == "test" for p in data.points) > 1:
        result.append(_test_comparison(data))
    if len(data.planners) > 1:
        result.append(_planners(data))
    if data.dspy or data.icl:
        result.append(_defences(data))
    if data.transcripts.replies:
        result.append(_transcripts(data))
    result.append(_costs(data))
    return result


SPLIT_RATES: list[tuple[str, Measure]] = [
    (split, measure) for split in ("validation", "ood", "test") for measure in MEASURES
]
SPLIT_LABELS = {"validation": "val", "ood": "OOD", "test": "test"}
MEASURE_LABELS = {"harmful": "SFR", "echo": "echo", "benign": "FPR", "benign_unsafe": "benign SFR"}


def rate_headers(rates: list[tuple[str, Measure]], long: bool = False) -> list[str]:
    """Column headers of rates: "val SFR", "val benign SFR", ... (``long``: "validation SFR")."""
    return [
        f"{split if long and split == 'validation' else SPLIT_LABELS[split]} {MEASURE_LABELS[measure]}"
        for split, measure in rates
    ]


def kind_of(measure: Measure) -> Kind | None:
    """The query kind a rate is over (the benign SFR's replies are those to benign queries; the echo's,
    those to both: None)."""
    return None if measure == "echo" else "harmful" if measure == "harmful" else "benign"


def drill(
    data: ReportData,
    method: str,
    name: str,
    split: str | None = None,
    kind: Kind | None = None,
    hypothesis: str | None = None,
) -> Filter | None:
    """The transcript browser's filter for the replies behind one rate (None when the run has none)."""
    if not data.transcripts.replies:
        return None
    want = {"subject": f"{method}: {name}", "split": split, "kind": kind, "hypothesis": hypothesis}
    return {key: value for key, value in want.items() if value}


def inspect_view_command(run: Path) -> str:
    """The command that opens a run's transcript logs in inspect's viewer."""
    return f"inspect view --recursive --log-dir {shlex.quote(str(run))}"


def _links(cells: dict[tuple[int, int], Filter | None]) -> dict[tuple[int, int], Filter]:
    return {cell: want for cell, want in cells.items() if want is not None}


def _rate_links(data: ReportData, rows: list[ComparisonRow], first_column: int) -> dict[tuple[int, int], Filter]:
    """Links from each of a comparison row's rate cells to its transcripts."""
    return _links(
        {
            (i, first_column + c): drill(data, row.method, row.name, split, kind_of(measure))
            for i, row in enumerate(rows)
            for c, (split, measure) in enumerate(SPLIT_RATES)
            if row.on(split) is not None
        }
    )


def _transcripts(data: ReportData) -> Section:
    logs = sorted({s.log for s in data.transcripts.subjects})
    models = {(s.method, s.name) for s in data.transcripts.subjects}
    intro = (
        f"Every judged reply behind the rates above: {len(data.transcripts.replies)} transcripts of "
        f"{len(models)} measured models. Click a rate in a table to see its transcripts; filter "
        "by model, split, kind, hypothesis or verdict; open a transcript to read the conversation and every model's "
        "reply to the same query side by side, each with the judge's verdict and reason. The same transcripts are "
        f"inspect eval logs ({len(logs)} `transcripts.eval` files): `{inspect_view_command(data.run)}`."
    )
    note = "The HTML report has the transcript browser. Logs: " + ", ".join(f"`{log}`" for log in logs)
    return Section("Transcripts", intro, html_block=browser_block(data.transcripts), markdown_note=note)


def _result(data: ReportData) -> Section:
    """The answer first: what the chosen model changed on the sealed test, how sure that is, what it cost."""
    cost = f"Model cost ${data.costs.total_usd:.4f}."
    if data.test is None or not data.paired_test:
        return Section("Result", f"No adapter has been chosen and measured on the sealed test yet. {cost}")
    lines = [
        f"**The chosen model, {iteration_label(data.test.iteration)}, against the base model on the sealed test:**"
    ]
    for key, label in (
        ("harmful", "SFR (harmful queries answered unsafely)"),
        ("benign", "FPR (benign queries refused)"),
        ("benign_unsafe", "benign SFR (leaks on benign queries)"),
    ):
        c = data.paired_test.get(key)
        if c is None:
            continue
        reading = (
            ("a significant fall" if c.difference < 0 else "a significant rise")
            if c.significant
            else "not significant: inside the sampling noise"
        )
        lines.append(
            f"- {label}: {c.before_flagged}/{c.n} → {c.after_flagged}/{c.n}, {100 * c.difference:+.1f} points "
            f"[{100 * c.low:+.1f}, {100 * c.high:+.1f}], exact McNemar p = {c.p_value:.2g} — **{reading}** "
            f"({c.only_before} fixed, {c.only_after} broken)."
        )
    lines.extend(_sealed_limits(data.test))
    noise = data.test.noise_floor
    if noise is not None and noise.n:
        lines.append(
            f"- Noise floor: the base model measured twice gave another reply to {noise.replies_differ} of "
            f"{noise.n} queries ({noise.verdicts_differ} verdicts changed)."
        )
    warning = judge_warning(data.judge_check) if data.judge_check else ""
    lines.append(f"\n{cost}" + (f" {warning}" if warning else ""))
    return Section("Result", "\n".join(lines))


def _sealed_limits(test: TestResult) -> list[str]:
    """The limits the choice was held to (FPR, capability), tested again on sealed data."""
    if test.tests is None:
        return []

    def verdict(limit: NonInferiority) -> str:
        shown = "non-inferior" if limit.non_inferior else "not shown non-inferior"
        return (
            f"{100 * limit.comparison.difference:+.1f} points, one-sided 95% bound {100 * limit.upper_95:+.1f} "
            f"against the margin of {100 * limit.margin:g}, p = {limit.p_value:.2g} — **{shown}**"
        )

    lines = [f"- FPR limit: {verdict(test.tests.fpr)}."]
    capability = test.tests.capability
    if capability is not None:
        c = capability.comparison
        lines.append(
            f"- Capability on {c.n} sealed benchmark questions (wrong answers "
            f"{c.before_flagged} → {c.after_flagged}): {verdict(capability)}."
        )
    elif test.sealed_capability is not None:
        before, after = (CapabilityScores(benchmarks=scores).overall for scores in test.sealed_capability)
        lines.append(
            f"- Capability on the sealed benchmarks: {pct(before)} → {pct(after)}, without a paired test "
            "(they were graded without answers per question)."
        )
    else:
        lines.append("- Capability: not measured on sealed data (`capability.sealed_benchmarks`).")
    return lines


def _headline(data: ReportData) -> Section:
    base = next((row for row in data.comparison if row.method == "base"), None)
    chosen = next((row for row in data.comparison if row.chosen), None)
    shown = [
        (label, row)
        for label, row in (("base model", base), (f"chosen: {chosen.name}" if chosen else "", chosen))
        if row is not None
    ]
    rows = [[label, *_rate_cells(row)] for label, row in shown]
    facts = f"Run folder `{data.run}`; report written {data.created_at} by A3 {data.a3_version}."
    paired = _paired(data)
    test_note = (
        "The last table compares the base model and the chosen adapter query by query on the sealed test "
        "split: the difference with Newcombe's 95% interval and the exact McNemar test on the queries whose "
        "verdict changed." + noise_floor_note(data.test.noise_floor if data.test else None)
        if paired
        else ""
    )
    intro = "\n\n".join(filter(None, [data.attack["description"], facts + judge_note(data.judge_check), test_note]))
    headers = ["model", *rate_headers(SPLIT_RATES, long=True)]
    tables = (Table(headers, rows, links=_rate_links(data, [row for _, row in shown], 1)),) if rows else ()
    return Section("Summary", intro, tables + ((paired,) if paired else ()))


def _models(data: ReportData) -> Section:
    rows = [[role, model, data.model_versions.get(model, "")] for role, model in data.models.items()]
    prompts = [[name, version] for name, version in sorted(data.prompt_versions.items())]
    return Section(
        "Models and versions",
        "Local weights are identified by their sha256; prompts by their version hash.",
        (Table(["role", "model", "weights sha256"], rows), Table(["prompt", "version"], prompts)),
    )


def _stages(data: ReportData) -> Section:
    rows = [
        [
            s.stage,
            s.status or "—",
            s.finished_at or "—",
            _number(s.duration_s, 1),
            _number(s.calls),
            f"${s.cost_usd:.4f}",
        ]
        for s in data.stages
    ]
    return Section(
        "Stages",
        "Duration and calls of each stage's last attempt.",
        (Table(["stage", "status", "finished", "seconds", "calls", "cost"], rows),),
    )


def _hypotheses(data: ReportData) -> Section:
    rows = [
        [
            h.summary.id,
            h.split,
            h.summary.change_type or "—",
            _number(h.summary.round),
            h.summary.basis_example or "—",
            h.summary.hypothesis,
            f"{pct(h.summary.sfr)} of {h.summary.harmful.judged}",
            f"{pct(h.summary.fpr)} of {h.summary.benign.judged}",
            f"{pct(h.summary.benign_sfr)} of {h.summary.benign_unsafe.judged}",
        ]
        for h in data.hypotheses
    ]
    dropped = "; ".join(f"{reason}: {count}" for reason, count in sorted(data.dropped.items(), key=lambda x: -x[1]))
    gate = (
        f" The quality gate dropped {sum(data.dropped.values())} generated queries before they were measured "
        f"({dropped}); `generation/dropped.jsonl` has each with its text."
        if data.dropped
        else ""
    )
    columns: tuple[tuple[int, Kind], ...] = ((6, "harmful"), (7, "benign"), (8, "benign"))  # the rate columns
    links = _links(
        {
            (i, column): drill(data, "base", "base model", kind=kind, hypothesis=h.summary.id)
            for i, h in enumerate(data.hypotheses)
            for column, kind in columns
        }
    )
    return Section(
        "Hypotheses",
        "Rates of the base target model, as measured in stage 1 (SFR over harmful queries, "
        "FPR over benign look-alikes, benign SFR over the same look-alikes: replies the harmful judge flags)."
        + gate
        + judge_note(data.judge_check),
        (
            Table(
                ["id", "split", "change", "round", "basis", "hypothesis", "SFR", "FPR", "benign SFR"], rows, links=links
            ),
        ),
    )


def _splits(data: ReportData) -> Section:
    rows = [[name, str(s.hypotheses), str(s.harmful), str(s.benign)] for name, s in data.split_sizes.items()]
    how = {
        "hypothesis": "Hypotheses are split whole, so no query of a validation, OOD or test hypothesis is trained on.",
        "query": "Split by query: the OOD hypotheses are held out whole; the other hypotheses' queries are split into "
        "train, validation and the sealed test, a harmful query and its look-alikes together, so no "
        "validation or test query (nor its twin) is trained on.",
    }[data.split_by]
    return Section("Splits", how, (Table(["split", "hypotheses", "harmful queries", "benign queries"], rows),))


def _iterations(data: ReportData) -> Section:
    rows = []
    for it in data.iterations:
        record, plan = it.record, it.record.plan
        mark = " (chosen)" if it.chosen else (" (front)" if it.on_front else "")
        capability = (
            ", ".join(f"{name} {pct(score.accuracy)}" for name, score in (record.capability or {}).items()) or "—"
        )
        rows.append(
            [
                f"{record.iteration}{mark}",
                f"{plan.learning_rate:.2g}" if plan.learning_rate else "—",
                f"{plan.lora_r}/{plan.lora_alpha}",
                _number(plan.num_epochs),
                _number(plan.general_data_percentage),
                _number(record.counts.total),
                _number(record.train.train_loss, 3),
                pct(record.validation.sfr),
                pct(record.validation.fpr),
                pct(record.validation.benign_sfr),
                pct(record.ood.sfr),
                pct(record.ood.fpr),
                capability,
                pct(record.capability_drop),
            ]
        )
    chosen = data.selection.chosen if data.selection else None
    intro = (
        f"Chosen: iteration {chosen} — {data.selection.rule}."
        if data.selection and chosen
        else "No iteration chosen yet."
    ) + judge_note(data.judge_check)
    if data.fallbacks:
        intro += (
            f" The agent gave no valid decision for iteration(s) {', '.join(data.fallbacks)}; "
            "A3's fallback plan was trained instead (see each iteration's decision.json)."
        )
    if data.test:
        intro += (
            f" Sealed test of the chosen adapter: SFR {rate(data.test.chosen, 'harmful')}, "
            f"FPR {rate(data.test.chosen, 'benign')}, "
            f"benign SFR {rate(data.test.chosen, 'benign_unsafe')} (base model: SFR {rate(data.test.base, 'harmful')}, "
            f"FPR {rate(data.test.base, 'benign')}, benign SFR {rate(data.test.base, 'benign_unsafe')})."
        )
    shown: list[tuple[str, Measure]] = [
        ("validation", "harmful"),
        ("validation", "benign"),
        ("validation", "benign_unsafe"),
        ("ood", "harmful"),
        ("ood", "benign"),
    ]
    headers = [
        "iteration",
        "learning rate",
        "LoRA r/α",
        "epochs",
        "general %",
        "examples",
        "train loss",
        *rate_headers(shown),
        "capability",
        "capability drop",
    ]
    chosen_rows = frozenset(i for i, it in enumerate(data.iterations) if it.chosen)
    links = _links(
        {
            (i, 7 + c): drill(data, "A3", iteration_label(it.record.iteration), split, kind_of(measure))
            for i, it in enumerate(data.iterations)
            for c, (split, measure) in enumerate(shown)
        }
    )
    intro += (
        " The second table is the evidence the choice rests on: each iteration against the base model on the "
        "same validation queries (and capability questions), the limits as paired non-inferiority tests."
    )
    evidence = _evidence(data)
    return Section(
        "Finetuning iterations", intro, (Table(headers, rows, chosen_rows, links),) + ((evidence,) if evidence else ())
    )


def _planners(data: ReportData) -> Section:
    """Every planner's loop on the same data and budget, with its chosen adapter on the sealed test."""
    rows = []
    for result in data.planners:
        records, summary = result.iterations, result.summary
        chosen = next((r for r in records if r.iteration == summary.selection.chosen), None)
        own = [r for r in records if r.planner != "fallback"]
        paired = result.paired_test.get("harmful")
        rows.append(
            [
                f"{result.planner}{' (stage 4)' if result.method == 'A3' else ''}",
                _number(len(records)),
                f"{len([r for r in own if r.planner == 'agent'])} agent / "
                f"{len([r for r in own if r.planner == 'search'])} search "
                f"/ {len(records) - len(own)} fallback",
                "—" if chosen is None else str(chosen.iteration),
                rate(chosen.validation if chosen else None, "harmful"),
                rate(chosen.validation if chosen else None, "benign"),
                rate(summary.chosen_test, "harmful"),
                rate(summary.chosen_test, "benign"),
                rate(summary.chosen_test, "benign_unsafe"),
                "—"
                if paired is None
                else f"{100 * paired.difference:+.1f} [{100 * paired.low:+.1f}, {100 * paired.high:+.1f}], "
                f"p {paired.p_value:.2g}",
                _number(result.seconds or None),
            ]
        )
    intro = (
        "The same loop, on the same data, with the same number of iterations and the same selection rule, planned "
        "by each planner: the LLM agent, the search (Optuna TPE over the agent's plan space), or the agent with the "
        "search stepping in when the agent's decision is invalid or repeats a trained job. Each planner's chosen "
        "adapter is measured on the sealed test; its SFR change against the base model is a paired test."
    )
    headers = [
        "planner",
        "iterations",
        "plans by",
        "chosen",
        "val SFR",
        "val FPR",
        "test SFR",
        "test FPR",
        "test benign SFR",
        "test SFR change, points [95% CI], McNemar p",
        "seconds",
    ]
    return Section("Planners on the same budget", intro, (Table(headers, rows),))


def _comparison(data: ReportData) -> Section:
    rows = [[row.method, row.name + (" (chosen)" if row.chosen else ""), *_rate_cells(row)] for row in data.comparison]
    base = next((row for row in data.comparison if row.method == "base"), None)
    return Section(
        "Comparison",
        "Every model measured on the same validation and OOD queries with the same judge. "
        "Dots are validation, squares OOD; the dashed line is the A3 iterations' validation Pareto front (of SFR "
        "and FPR)." + sampling_noise_note(base) + judge_note(data.judge_check) + " " + ECHO_NOTE,
        (
            Table(
                ["method", "model", *rate_headers(SPLIT_RATES)],
                rows,
                frozenset(i for i, row in enumerate(data.comparison) if row.chosen),
                _rate_links(data, data.comparison, 2),
            ),
        ),
        plot=("validation", "ood"),
    )


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
        rows.append(
            [
                row.method,
                row.name + (" (chosen)" if row.chosen else ""),
                *(rate(row.test, m) for m in MEASURES),
                ", ".join(over) or "none",
            ]
        )
    intro = (
        "Each method on the sealed test split, which no agent saw: the base model, A3's chosen iteration and the "
        "baselines run on this run (fixed mixing, in-context examples). A point is dominated when another has no "
        "higher SFR and no higher FPR, and one of them lower (the benign SFR and the echo, shown beside them, are not "
        "part of it). " + ECHO_NOTE
    )
    if chosen is not None:
        beaten = [r for r in measured if r is not chosen and dominates(r, chosen)]
        intro += (
            f" A3's chosen iteration is dominated by {', '.join(r.name for r in beaten)}."
            if beaten
            else " No method dominates A3's chosen iteration."
        )
    return Section(
        "Sealed test comparison",
        intro + judge_note(data.judge_check),
        (
            Table(
                ["method", "model", *rate_headers([("test", m) for m in MEASURES]), "dominated by"],
                rows,
                frozenset(i for i, row in enumerate(measured) if row.chosen),
                _links(
                    {
                        (i, 2 + c): drill(data, row.method, row.name, "test", kind_of(measure))
                        for i, row in enumerate(measured)
                        for c, measure in enumerate(MEASURES)
                    }
                ),
            ),
        ),
        plot=("test",),
        plot_file="pareto_test.svg",
    )


def _defences(data: ReportData) -> Section:
    tables = []
    if data.dspy:
        tables.append(
            Table(
                [
                    "DSPy program",
                    "metric calls (budget)",
                    "candidates",
                    "replies taken whole / read from DSPy's fields",
                    "optimised instructions",
                ],
                [
                    [
                        d.result.name,
                        f"{d.result.metric_calls} ({d.result.budget})",
                        str(d.candidates),
                        f"{d.result.unparsed_responses} / {d.result.field_responses}",
                        d.result.instructions,
                    ]
                    for d in data.dspy
                ],
            )
        )
    if data.icl:
        tables.append(
            Table(
                ["ICL trial", "chosen iteration", "examples", "the agent's reasoning"],
                [[d.name, str(d.iteration), ", ".join(d.examples), d.reasoning] for d in data.icl],
            )
        )
    return Section(
        "Prompt defences",
        "What each prompt defence gave the target: the instructions GEPA settled on, "
        "appended to the target's own system prompt (the conversation is sent as it is, and the whole reply is "
        "judged unless the target wrote DSPy's field format anyway, when its response field is), and the "
        "examples of each ICL trial's chosen iteration, put after the system prompt as earlier turns of the "
        "conversation. The transcripts show each query as the target received it.",
        tuple(tables),
    )


def _rate_cells(row: ComparisonRow) -> list[str]:
    return [rate(row.on(split), measure) for split, measure in SPLIT_RATES]


def _costs(data: ReportData) -> Section:
    def rows(table: dict[str, UsageTotals]) -> list[list[str]]:
        return [
            [
                key,
                _number(r.calls),
                _number(r.cache_hits),
                _number(r.input_tokens),
                _number(r.output_tokens),
                r.money(),
            ]
            for key, r in sorted(table.items())
        ]

    headers = ["calls", "cache hits", "input tokens", "output tokens", "cost"]
    total = money_text(data.costs.total_usd, data.costs.unpriced_calls)
    return Section(
        "Costs",
        f"From the run's call ledger; total {total}. Calls are paid calls, their tokens and cost; a reply "
        "replayed from the call cache is a cache hit, free. Local models cost nothing.",
        (Table(["stage", *headers], rows(data.costs.by_stage)), Table(["model", *headers], rows(data.costs.by_model))),
    )


def markdown(data: ReportData, parts: list[Section] | None = None) -> str:
    return sections_markdown(_title(data), parts or sections(data))


def html(data: ReportData, parts: list[Section] | None = None) -> str:
    parts = parts or sections(data)
    script = SCRIPT if any(part.html_block for part in parts) else ""
    return sections_html(_title(data), parts, lambda section: _plot(data, section), script, BROWSER_STYLE)


def _title(data: ReportData) -> str:
    return f"A3 run report: {data.attack['name']}"


def _plot(data: ReportData, section: Section) -> str:
    points = [p for p in data.points if p.split in section.plot]
    title = "Sealed test: SFR against FPR (lower left is better)" if section.plot == ("test",) else None
    return pareto_svg(points, title) if title else pareto_svg(points)


def write_report(data: ReportData, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Writes report.html, report.md and pareto.svg (default: RUN/report/); returns their paths."""
    folder = Path(out_dir) if out_dir else data.run / layout.REPORT
    paths = {"html": folder / "report.html", "markdown": folder / "report.md", "plot": folder / "pareto.svg"}
    parts = sections(data)  # built once: the transcript browser's data can be megabytes
    for section in parts:
        if section.plot:
            atomic_write_text(folder / section.plot_file, _plot(data, section) + "\n")
    atomic_write_text(paths["markdown"], markdown(data, parts))
    atomic_write_text(paths["html"], html(data, parts))
    return paths
