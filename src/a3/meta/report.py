"""Step 4b, ``a3 meta report``: the cluster report, in Markdown and self-contained HTML.

It has the original's sections (overall statistics, summary table, per-cluster breakdown with
example trigger phrases, coverage and cumulative coverage). Every share is over all the runs the
analysis was given, with the unassigned runs as a row of their own, so no table can look complete
when most runs were never placed; a run in two categories counts once among a cluster's unique
runs. Both formats are rendered from the same sections, so they carry the same tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from a3.errors import UserInputError
from a3.meta.cluster import load_categorization
from a3.report.render import Section, Table, sections_html, sections_markdown
from a3.store import atomic_write_text

TITLE = "Cluster Summary Report"


@dataclass
class _ClusterRow:
    name: str
    definition: str
    anchors: str
    members: list[dict[str, Any]]  # categorization categories, with "justification" added
    runs: set[str] = field(default_factory=set)
    memberships: int = 0


@dataclass
class _Facts:
    cluster_file: str
    categorization_file: str
    categories: list[dict[str, Any]]
    clusters: list[_ClusterRow]
    unclustered: list[dict[str, Any]]
    unassigned: list[dict[str, Any]]  # run_id, reason: runs in no category
    placed: set[str]  # runs in at least one category
    total_runs: int  # every run the analysis was given: the denominator of every share
    statistics: dict[str, Any]
    metadata: dict[str, Any]


def _load(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read the {what}: {exc}") from None


def _facts(cluster_path: Path, categorization_path: Path | None) -> _Facts:
    clusters = _load(cluster_path, "clusters file")
    categorization_path = Path(categorization_path or clusters.get("metadata", {}).get("input_path", ""))
    data = load_categorization(categorization_path)
    categories = data["categorization"]["categories"]
    by_id = {c["category_id"]: c for c in categories}
    by_name = {c["category_name"]: c for c in categories}
    rows, clustered = [], set()
    for entry in clusters.get("clusters", []):
        row = _ClusterRow(entry["cluster_name"], entry.get("definition", ""), entry.get("anchor_phrases", ""), [])
        for member in entry.get("member_categories", []):
            category = by_id.get(member.get("category_id", "")) or by_name.get(member.get("category_name", ""))
            if category is None:
                continue
            clustered.add(category["category_id"])
            row.members.append({**category, "justification": member.get("justification", "")})
            row.runs |= _runs(category)
            row.memberships += len(category.get("examples", []))
        row.members.sort(key=lambda c: -len(c.get("examples", [])))
        rows.append(row)
    rows.sort(key=lambda r: (-len(r.runs), -r.memberships))
    placed = set().union(*(_runs(c) for c in categories)) if categories else set()
    unassigned = [u for u in data["categorization"].get("unassigned", []) if u.get("run_id") not in placed]
    unassigned = list({u["run_id"]: u for u in unassigned}.values())  # a run listed twice counts once
    statistics = data.get("statistics", {})
    total = max(int(statistics.get("total_tasks") or 0), len(placed | {u["run_id"] for u in unassigned}))
    return _Facts(Path(cluster_path).name, categorization_path.name, categories, rows, [c for c in categories if c["category_id"] not in clustered],
                  unassigned, placed, total, statistics, data.get("metadata", {}))


def _runs(category: dict[str, Any]) -> set[str]:
    return {e.get("run_id") or e.get("id") for e in category.get("examples", []) if e.get("run_id") or e.get("id")}


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def _sections(f: _Facts, max_examples: int) -> list[Section]:
    n = f.total_runs
    without_category = n - len(f.placed)
    grouping = f.metadata.get("grouping") or {}
    overview = Table(["Figure", "Value"], [
        ["Runs analysed", str(n)],
        ["Runs in at least one category", f"{len(f.placed)} ({_share(len(f.placed), n)})"],
        ["Runs in no category (unassigned)", f"{without_category} ({_share(without_category, n)})"],
        ["Categories", str(len(f.categories))],
        ["Category memberships (perturbations)", str(sum(len(c.get("examples", [])) for c in f.categories))],
        ["Clusters", str(len(f.clusters))],
        ["Categorization method", str(f.metadata.get("method") or "llm")],
        *([["Grouping", f"{grouping.get('groups')} groups (silhouette {grouping.get('silhouette')}); {grouping.get('outliers')} outliers, "
                        f"{grouping.get('outliers_placed')} placed by the model; {grouping.get('names_by_fallback')} groups the model could not name"]]
          if grouping else []),
        ["Trigger phrases dropped (not found in their run)", str(f.statistics.get("unverified_quotes_dropped", 0))],
    ])
    intro = (f"Generated {datetime.now():%Y-%m-%d %H:%M:%S} from `{f.cluster_file}` and `{f.categorization_file}`. "
             f"Every share below is over all {n} runs analysed; unassigned runs are a row of their own.")
    summary = Table(["Rank", "Cluster", "Categories", "Perturbations", "Unique runs", "% of all runs"],
                    [[str(rank), row.name, str(len(row.members)), str(row.memberships), str(len(row.runs)), _share(len(row.runs), n)]
                     for rank, row in enumerate(f.clusters, start=1)]
                    + [["—", "Unassigned (in no category)", "—", "—", str(without_category), _share(without_category, n)]])
    cumulative, seen, categories, memberships = [], set(), 0, 0
    for rank, row in enumerate(f.clusters, start=1):
        seen |= row.runs
        categories += len(row.members)
        memberships += row.memberships
        cumulative.append([str(rank), str(categories), str(memberships), str(len(seen)), _share(len(seen), n)])
    cumulative.append(["+ unassigned", "—", "—", str(len(seen) + without_category), _share(len(seen) + without_category, n)])
    parts = [
        Section("Overall Statistics", intro, (overview,)),
        Section("Cluster Summary Table", "A run in two clusters counts in both rows; each row's unique runs count it once.", (summary,)),
        Section("Cumulative Coverage", "Clusters added in rank order; the last row adds the unassigned runs.",
                (Table(["Top N clusters", "Categories", "Perturbations", "Unique runs", "Cumulative % of all runs"], cumulative),)),
        Section("Detailed Cluster Breakdown"),
    ]
    for rank, row in enumerate(f.clusters, start=1):
        parts.append(Section(f"{rank}. {row.name}", level=3, intro=(
            f"**Definition:** {row.definition}\n\n**Anchor phrases:** {row.anchors or '—'}\n\n"
            f"{len(row.members)} member categories · {row.memberships} perturbations · {len(row.runs)} unique runs "
            f"({_share(len(row.runs), n)} of all runs)"), tables=(Table(
                ["Category", "Definition", "Perturbations", "Example trigger phrases"],
                [[f"{c['category_id']} {c['category_name']}", c.get("definition", ""), str(len(c.get("examples", []))),
                  _triggers(c, max_examples)] for c in row.members]),)))
        for category in row.members:
            why = f"*{category['justification']}*\n\n" if category.get("justification") else ""
            parts.append(Section(f"{category['category_id']} {category['category_name']}", level=4,
                                 intro=why + "Runs: " + ", ".join(f"`{r}`" for r in sorted(_runs(category)))))
    coverage = [Section("Coverage Analysis", "All categories are clustered." if not f.unclustered else
                        f"{len(f.unclustered)} categories are in no cluster: "
                        + "; ".join(f"{c['category_name']} ({len(c.get('examples', []))} perturbations)" for c in f.unclustered))]
    if f.unassigned or without_category:
        listed = {u["run_id"] for u in f.unassigned}
        missing = without_category - len(listed)
        coverage.append(Section("Runs in no category", level=3, intro=(
            f"{without_category} of {n} runs ({_share(without_category, n)})"
            + (f"; {missing} of them are not listed by the categorization" if missing > 0 else "") + "."),
            tables=(Table(["Run", "Reason"], [[f"`{u['run_id']}`", u.get("reason", "")] for u in f.unassigned]),) if f.unassigned else ()))
    return parts + coverage


def _triggers(category: dict[str, Any], limit: int) -> str:
    examples = [e.get("trigger_phrase", "") for e in category.get("examples", []) if e.get("trigger_phrase")]
    shown = "; ".join(f"\u201c{t}\u201d" for t in examples[:limit])
    return shown + (f" … and {len(examples) - limit} more" if len(examples) > limit else "") if shown else "—"


def build_report(cluster_path: Path, categorization_path: Path | None = None, max_examples: int = 3) -> tuple[str, str]:
    """(Markdown, HTML) for a clusters file and the categorization it was made from."""
    parts = _sections(_facts(cluster_path, categorization_path), max_examples)
    return sections_markdown(TITLE, parts), sections_html(TITLE, parts)


def write_report(cluster_path: Path, categorization_path: Path | None = None, output_path: Path | None = None,
                 max_examples: int = 3) -> tuple[Path, Path]:
    markdown, page = build_report(cluster_path, categorization_path, max_examples)
    md_path = Path(output_path) if output_path else Path(cluster_path).parent / f"cluster_report_{datetime.now():%Y%m%d_%H%M%S}.md"
    atomic_write_text(md_path, markdown)
    html_path = md_path.with_suffix(".html")
    atomic_write_text(html_path, page)
    return md_path, html_path
