"""Step 4b, ``a3 meta report``: the cluster report, in Markdown and self-contained HTML.

It has the original's sections (overall statistics, summary table, per-cluster breakdown with
example trigger phrases, coverage and cumulative coverage). Every share is over all the runs the
analysis was given, with the unassigned runs as a row of their own, so no table can look complete
when most runs were never placed; a run in two categories counts once among a cluster's unique
runs. Both formats are rendered from the same sections by the report package
(``a3.report.page``), so they carry the same tables.

The last section is the drill-down from each cluster and category to its runs: each run's perturbed
instruction and summary, read from ``summaries.jsonl`` in the work dir the categorization is in
(the record the categorization was made from, where it names one). A run in several categories is
listed under each, with its anchor on its first entry only, and every count is of distinct runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from a3.formatting import percent
from a3.meta.categorize.taxonomy import Unassigned
from a3.meta.formats import Categorization, CategorizationMetadata, CategorizationStatistics, CategoryEntry, Clusters
from a3.meta.summarize import SUMMARIES, Summary, SummaryRecord
from a3.report.page import Node, Section, Table, sections_html, sections_markdown
from a3.store import atomic_write_text, read_records

TITLE = "Cluster Summary Report"
DRILL_DOWN = "Runs by cluster and category"


@dataclass
class _Member:
    category: CategoryEntry
    justification: str  # why the clustering put it in this cluster


@dataclass
class _ClusterRow:
    name: str
    definition: str
    anchors: str
    members: list[_Member]
    name_source: str | None = None
    runs: set[str] = field(default_factory=set)
    memberships: int = 0


@dataclass
class _Facts:
    cluster_file: str
    categorization_file: str
    categories: list[CategoryEntry]
    clusters: list[_ClusterRow]
    unclustered: list[CategoryEntry]
    unassigned: list[Unassigned]  # runs in no category
    placed: set[str]  # runs in at least one category
    total_runs: int  # every run the analysis was given: the denominator of every share
    statistics: CategorizationStatistics
    metadata: CategorizationMetadata
    summaries: dict[str, Summary]  # run id -> its summaries.jsonl record

    @property
    def without_category(self) -> int:
        return self.total_runs - len(self.placed)

    @property
    def unlisted(self) -> int:
        """Runs in no category that the categorization does not list either (so nothing names them)."""
        return self.without_category - len(self.unassigned)


def _facts(clusters: Clusters, categorization: Categorization) -> _Facts:
    categories = categorization.categories
    by_id = {c.category_id: c for c in categories}
    by_name = {c.category_name: c for c in categories}
    rows, clustered = [], set()
    for entry in clusters.clusters:
        row = _ClusterRow(entry.cluster_name, entry.definition, entry.anchor_phrases, [], entry.name_source)
        for member in entry.member_categories:
            category = by_id.get(member.category_id) or by_name.get(member.category_name)
            if category is None:
                continue
            clustered.add(category.category_id)
            row.members.append(_Member(category, member.justification))
            row.runs |= category.runs()
            row.memberships += len(category.examples)
        row.members.sort(key=lambda m: -len(m.category.examples))
        rows.append(row)
    rows.sort(key=lambda r: (-len(r.runs), -r.memberships))
    placed = set().union(*(c.runs() for c in categories)) if categories else set()
    unassigned = [u for u in categorization.categorization.unassigned if u.run_id not in placed]
    unassigned = list({u.run_id: u for u in unassigned}.values())  # a run listed twice counts once
    statistics = categorization.statistics
    total = max(statistics.total_tasks, len(placed | {u.run_id for u in unassigned}))
    return _Facts(
        clusters.path.name,
        categorization.path.name,
        categories,
        rows,
        [c for c in categories if c.category_id not in clustered],
        unassigned,
        placed,
        total,
        statistics,
        categorization.metadata,
        _summaries(categorization),
    )


def _summaries(categorization: Categorization) -> dict[str, Summary]:
    """Each run's summary record from summaries.jsonl in the work dir the categorization is in (none
    beside the original's files): the record the categorization was made from, else the newest."""
    log = next(
        (folder / SUMMARIES for folder in categorization.path.resolve().parents if (folder / SUMMARIES).is_file()), None
    )
    summaries = read_records(log, SummaryRecord, key="key") if log else []
    used = categorization.metadata.summary_hashes
    newest = {s.run_id: s for s in summaries}
    return {**newest, **{s.run_id: s for s in summaries if used.get(s.run_id) == s.input_hash}}


NAME_SOURCES = {
    "model": "the model's",
    "model (rewritten)": "the model's, rewritten after the name check",
    "fallback": "fallback: the most central trigger phrase (the model's name did not describe the runs)",
    "category": "its only category's",
}


def name_source(source: str | None, cluster: bool = False) -> str:
    """Where a name came from, in words ("—" for names from the original's files)."""
    if source == "fallback" and cluster:
        return "fallback: its most central category's name (the model's name did not describe the runs)"
    return NAME_SOURCES.get(source or "", source or "—")


def _names_line(sources: list[str | None], fallback_from: str = "trigger phrase") -> str:
    known = [s for s in sources if s]
    if not known:
        return "not recorded (made without the name check)"
    fallbacks = known.count("fallback")
    rewritten = known.count("model (rewritten)")
    return (
        f"{len(known) - fallbacks} from the model"
        + (f" ({rewritten} rewritten after the name check)" if rewritten else "")
        + f"; {fallbacks} fallback{'s' if fallbacks != 1 else ''} named after their most central {fallback_from}"
    )


def _share(part: int, whole: int) -> str:
    return percent(part / whole if whole else None, 1)


def _sections(f: _Facts, max_examples: int) -> list[Section]:
    n = f.total_runs
    without_category = f.without_category
    grouping = f.metadata.grouping
    overview = Table(
        ["Figure", "Value"],
        [
            ["Runs analysed", str(n)],
            ["Runs in at least one category", f"{len(f.placed)} ({_share(len(f.placed), n)})"],
            ["Runs in no category (unassigned)", f"{without_category} ({_share(without_category, n)})"],
            ["Categories", str(len(f.categories))],
            ["Category memberships (perturbations)", str(sum(len(c.examples) for c in f.categories))],
            ["Clusters", str(len(f.clusters))],
            ["Categorization method", f.metadata.method or "llm"],
            *(
                [
                    [
                        "Grouping",
                        f"{grouping.groups} groups (silhouette {grouping.silhouette}); {grouping.outliers} outliers, "
                        f"{grouping.outliers_placed} placed by the model; "
                        f"{grouping.names_by_fallback} groups named after a trigger phrase "
                        "(the model's name failed the check)",
                    ]
                ]
                if grouping
                else []
            ),
            ["Trigger phrases dropped (not found in their run)", str(f.statistics.unverified_quotes_dropped)],
            ["Category names", _names_line([c.name_source for c in f.categories])],
            *(
                [
                    [
                        "Cluster names",
                        _names_line([r.name_source for r in f.clusters if r.name_source != "category"], "category"),
                    ]
                ]
                if any(r.name_source for r in f.clusters)
                else []
            ),
        ],
    )
    intro = (
        f"Generated {datetime.now():%Y-%m-%d %H:%M:%S} from `{f.cluster_file}` and `{f.categorization_file}`. "
        f"Every share below is over all {n} runs analysed; unassigned runs are a row of their own."
    )
    summary = Table(
        ["Rank", "Cluster", "Categories", "Perturbations", "Unique runs", "% of all runs"],
        [
            [
                str(rank),
                row.name,
                str(len(row.members)),
                str(row.memberships),
                str(len(row.runs)),
                _share(len(row.runs), n),
            ]
            for rank, row in enumerate(f.clusters, start=1)
        ]
        + [["—", "Unassigned (in no category)", "—", "—", str(without_category), _share(without_category, n)]],
    )
    cumulative, seen, categories, memberships = [], set(), 0, 0
    for rank, row in enumerate(f.clusters, start=1):
        seen |= row.runs
        categories += len(row.members)
        memberships += row.memberships
        cumulative.append([str(rank), str(categories), str(memberships), str(len(seen)), _share(len(seen), n)])
    cumulative.append(
        ["+ unassigned", "—", "—", str(len(seen) + without_category), _share(len(seen) + without_category, n)]
    )
    parts = [
        Section("Overall Statistics", intro, (overview,)),
        Section(
            "Cluster Summary Table",
            "A run in two clusters counts in both rows; each row's unique runs count it once. "
            f"Each cluster's runs are under *{DRILL_DOWN}* (entry `cluster-<rank>`).",
            (summary,),
        ),
        Section(
            "Cumulative Coverage",
            "Clusters added in rank order; the last row adds the unassigned runs.",
            (
                Table(
                    ["Top N clusters", "Categories", "Perturbations", "Unique runs", "Cumulative % of all runs"],
                    cumulative,
                ),
            ),
        ),
        Section("Detailed Cluster Breakdown"),
    ]
    for rank, row in enumerate(f.clusters, start=1):
        parts.append(
            Section(
                f"{rank}. {row.name}",
                level=3,
                intro=(
                    f"**Definition:** {row.definition}\n\n**Anchor phrases:** {row.anchors or '—'}\n\n"
                    + (f"**Name:** {name_source(row.name_source, cluster=True)}\n\n" if row.name_source else "")
                    + f"{len(row.members)} member categories · {row.memberships} perturbations · "
                    f"{len(row.runs)} unique runs "
                    f"({_share(len(row.runs), n)} of all runs)"
                ),
                tables=(
                    Table(
                        ["Category", "Definition", "Perturbations", "Example trigger phrases", "Name"],
                        [
                            [
                                f"{m.category.category_id} {m.category.category_name}",
                                m.category.definition,
                                str(len(m.category.examples)),
                                _triggers(m.category, max_examples),
                                name_source(m.category.name_source),
                            ]
                            for m in row.members
                        ],
                    ),
                ),
            )
        )
        for member in row.members:
            why = f"*{member.justification}*\n\n" if member.justification else ""
            parts.append(
                Section(
                    f"{member.category.category_id} {member.category.category_name}",
                    level=4,
                    intro=(
                        why + f"{len(member.category.runs())} runs, with their instructions and summaries "
                        f"under *{DRILL_DOWN}* "
                        f"(entry `{_anchor('category', member.category.category_id)}`)."
                    ),
                )
            )
    coverage = [
        Section(
            "Coverage Analysis",
            "All categories are clustered."
            if not f.unclustered
            else f"{len(f.unclustered)} categories are in no cluster: "
            + "; ".join(f"{c.category_name} ({len(c.examples)} perturbations)" for c in f.unclustered),
        )
    ]
    if f.unassigned or without_category:
        coverage.append(
            Section(
                "Runs in no category",
                level=3,
                intro=(
                    f"{without_category} of {n} runs ({_share(without_category, n)})"
                    + (f"; {f.unlisted} of them are not listed by the categorization" if f.unlisted > 0 else "")
                    + "."
                ),
                tables=(Table(["Run", "Reason"], [[f"`{u.run_id}`", u.reason] for u in f.unassigned]),)
                if f.unassigned
                else (),
            )
        )
    return parts + coverage + [_drill_down(f)]


def _anchor(kind: str, key: str) -> str:
    return f"{kind}-{quote(key)}"  # percent-encoding keeps distinct ids distinct


def _drill_down(f: _Facts) -> Section:
    """Clusters, then categories (with their definitions), then runs (with instruction and summary)."""
    homes: dict[str, list[CategoryEntry]] = {}
    for category in f.categories:
        for run in category.runs():
            homes.setdefault(run, []).append(category)
    anchored: set[str] = set()

    def once(anchor: str) -> str | None:  # an id is on the first entry only: HTML ids are unique
        if anchor in anchored:
            return None
        anchored.add(anchor)
        return anchor

    def run_node(run: str, note: str) -> Node:
        record = f.summaries.get(run)
        if record is None:
            parts = [
                note,
                "Instruction: not recorded",
                "Summary: not recorded (no summaries.jsonl record in the categorization's work dir)",
            ]
        else:
            parts = [
                note,
                f"Instruction: {record.perturbed_instruction}",
                f"Summary: {record.summary}" + (" [cut off at max_tokens]" if record.truncated else ""),
            ]
        return Node(run, " — ".join(p for p in parts if p), id=once(_anchor("run", run)), css="run")

    def category_node(category: CategoryEntry) -> Node:
        examples = {e.run_id or e.id: e for e in reversed(category.examples)}  # the first example of each run
        children = []
        for run in sorted(category.runs()):
            others = [f"{c.category_id} {c.category_name}" for c in homes[run] if c is not category]
            trigger = examples[run].trigger_phrase
            note = " — ".join(
                filter(
                    None,
                    [
                        f"Trigger phrase: \u201c{trigger}\u201d" if trigger else "",
                        "Also in: " + "; ".join(others) if others else "",
                    ],
                )
            )
            children.append(run_node(run, note))
        return Node(
            f"{category.category_id} {category.category_name} — {_runs(len(category.runs()))}",
            category.definition + (f" (name: {name_source(category.name_source)})" if category.name_source else ""),
            tuple(children),
            once(_anchor("category", category.category_id)),
        )

    tree = [
        Node(
            f"{rank}. {row.name} — {_runs(len(row.runs))}",
            row.definition,
            tuple(category_node(m.category) for m in row.members),
            once(f"cluster-{rank}"),
        )
        for rank, row in enumerate(f.clusters, start=1)
    ]
    if f.unclustered:
        runs = set().union(*(c.runs() for c in f.unclustered))
        tree.append(
            Node(
                f"Categories in no cluster — {_runs(len(runs))}",
                children=tuple(map(category_node, f.unclustered)),
                id="unclustered",
            )
        )
    if f.without_category:
        tree.append(
            Node(
                f"Unassigned (in no category) — {_runs(f.without_category)}",
                f"{f.unlisted} of them are not listed by the categorization, so they have no entry here."
                if f.unlisted > 0
                else "",
                tuple(
                    run_node(u.run_id, f"Reason: {u.reason or 'not given'}")
                    for u in sorted(f.unassigned, key=lambda u: u.run_id)
                ),
                "unassigned",
            )
        )
    several = sum(1 for categories in homes.values() if len(categories) > 1)
    intro = (
        "Open a cluster, then a category (its definition is under its name), to reach its runs, "
        "each with its perturbed "
        f"instruction and LLM summary. Every count is of distinct runs, {f.total_runs} in all"
        + (f"; the {several} runs in more than one category are listed under each" if several else "")
        + ". A run's anchor (`run-<run id>`) is on its first entry only; categories are anchored `category-<id>`, "
        "clusters `cluster-<rank>`."
    )
    return Section(DRILL_DOWN, intro, tree=tuple(tree))


def _runs(count: int) -> str:
    return f"{count} run" + ("" if count == 1 else "s")


def _triggers(category: CategoryEntry, limit: int) -> str:
    examples = [e.trigger_phrase for e in category.examples if e.trigger_phrase]
    shown = "; ".join(f"\u201c{t}\u201d" for t in examples[:limit])
    return shown + (f" … and {len(examples) - limit} more" if len(examples) > limit else "") if shown else "—"


def build_report(clusters: Clusters, categorization: Categorization, max_examples: int = 3) -> tuple[str, str]:
    """(Markdown, HTML) for clusters and the categorization they were made from."""
    parts = _sections(_facts(clusters, categorization), max_examples)
    return sections_markdown(TITLE, parts), sections_html(TITLE, parts)


def write_report(
    clusters: Clusters, categorization: Categorization, output_path: Path | None = None, max_examples: int = 3
) -> tuple[Path, Path]:
    """Write the report in Markdown and HTML; their paths.

    The Markdown goes to ``output_path``, by default the original's ``cluster_report_{timestamp}.md``
    beside the clusters file, and the HTML beside it."""
    markdown, page = build_report(clusters, categorization, max_examples)
    md_path = (
        Path(output_path) if output_path else clusters.path.parent / f"cluster_report_{datetime.now():%Y%m%d_%H%M%S}.md"
    )
    atomic_write_text(md_path, markdown)
    html_path = md_path.with_suffix(".html")
    atomic_write_text(html_path, page)
    return md_path, html_path
