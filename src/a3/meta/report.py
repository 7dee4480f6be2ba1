"""Step 4b, ``a3 meta report``: the cluster report, in Markdown and self-contained HTML.

It has the original's sections (overall statistics, summary table, per-cluster breakdown with
example trigger phrases, coverage and cumulative coverage), and counts unique runs as well as
category memberships, so that a run in two categories is not counted twice and cumulative
coverage cannot pass 100%. Every category lists its run ids.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from a3.errors import UserInputError
from a3.meta.cluster import load_categorization
from a3.store import atomic_write_text


@dataclass
class _ClusterRow:
    name: str
    definition: str
    anchors: str
    members: list[dict[str, Any]]  # categorization categories, with "justification" added
    runs: set[str] = field(default_factory=set)
    memberships: int = 0


def _load(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read the {what}: {exc}") from None


def build_report(cluster_path: Path, categorization_path: Path | None = None, max_examples: int = 3) -> tuple[str, str]:
    """(Markdown, HTML) for a clusters file and the categorization it was made from."""
    clusters = _load(cluster_path, "clusters file")
    categorization_path = Path(categorization_path or clusters.get("metadata", {}).get("input_path", ""))
    data = load_categorization(categorization_path)
    categories = data["categorization"]["categories"]
    by_id = {c["category_id"]: c for c in categories}
    by_name = {c["category_name"]: c for c in categories}
    stats = data.get("statistics", {})
    unassigned = data["categorization"].get("unassigned", [])

    rows = []
    clustered: set[str] = set()
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
    all_runs = set().union(*(_runs(c) for c in categories)) if categories else set()
    total_memberships = sum(len(c.get("examples", [])) for c in categories)
    unclustered = [c for c in categories if c["category_id"] not in clustered]
    facts = {
        "cluster_file": Path(cluster_path).name,
        "categorization_file": categorization_path.name,
        "total_categories": len(categories),
        "memberships": total_memberships,
        "unique_runs": len(all_runs),
        "total_runs": stats.get("total_tasks", len(all_runs)),
        "unassigned": unassigned,
        "clusters": rows,
        "unclustered": unclustered,
        "max_examples": max_examples,
    }
    return _markdown(facts), _html(facts)


def _runs(category: dict[str, Any]) -> set[str]:
    return {e.get("run_id") or e.get("id") for e in category.get("examples", []) if e.get("run_id") or e.get("id")}


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def _cut(text: str, limit: int = 50) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _markdown(f: dict[str, Any]) -> str:
    unique, rows = f["unique_runs"], f["clusters"]
    out = [
        "# Cluster Summary Report", "",
        f"**Generated:** {datetime.now():%Y-%m-%d %H:%M:%S}  ",
        f"**Cluster File:** `{f['cluster_file']}`  ",
        f"**Categorization File:** `{f['categorization_file']}`", "", "---", "",
        "## Overall Statistics", "",
        f"- **Total Categories (Original):** {f['total_categories']}",
        f"- **Total Successful Perturbations (category memberships):** {f['memberships']}",
        f"- **Unique runs categorized:** {unique} of {f['total_runs']} runs in the task list ({_pct(unique, f['total_runs'])})",
        f"- **Unassigned runs:** {len(f['unassigned'])}",
        f"- **Number of Clusters:** {len(rows)}", "",
        "## Cluster Summary Table", "",
        "| Rank | Cluster | Categories | Perturbations | Unique runs | % of runs |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for rank, row in enumerate(rows, start=1):
        out.append(f"| {rank} | {_cut(row.name)} | {len(row.members)} | {row.memberships} | {len(row.runs)} | {_pct(len(row.runs), unique)} |")
    out += ["", "---", "", "## Detailed Cluster Breakdown", ""]
    for rank, row in enumerate(rows, start=1):
        out += [f"### {rank}. {row.name}", "", f"**Definition:** {row.definition}", "", f"**Anchor Phrases:** {row.anchors}", "",
                "**Statistics:**", f"- Member Categories: {len(row.members)}", f"- Total Perturbations: {row.memberships}",
                f"- Unique runs: {len(row.runs)}", f"- Proportion of Dataset: {_pct(len(row.runs), unique)} of unique runs", "",
                "#### Member Categories", ""]
        for category in row.members:
            examples = category.get("examples", [])
            out.append(f"**{category['category_id']} {category['category_name']}** ({len(examples)} perturbations)")
            if category.get("justification"):
                out += ["", f"*{category['justification']}*"]
            out += ["", "Example Trigger Phrases:"]
            out += [f"{i}. \"{e.get('trigger_phrase', '')}\"" for i, e in enumerate(examples[: f["max_examples"]], start=1)]
            if len(examples) > f["max_examples"]:
                out.append(f"... and {len(examples) - f['max_examples']} more")
            out += ["", "Runs: " + ", ".join(f"`{r}`" for r in sorted(_runs(category))), ""]
        out += ["---", ""]
    out += ["## Coverage Analysis", ""]
    if f["unclustered"]:
        out.append(f"Unclustered Categories ({len(f['unclustered'])}):")
        out += [f"- {c['category_name']} ({len(c.get('examples', []))} perturbations)" for c in sorted(f["unclustered"], key=lambda c: c["category_name"])]
    else:
        out.append("All categories are clustered.")
    out.append("")
    if f["unassigned"]:
        out.append(f"Runs in no category ({len(f['unassigned'])}):")
        out += [f"- `{u['run_id']}`: {u['reason']}" for u in f["unassigned"]]
        out.append("")
    out += ["### Cumulative Coverage", "", "| Top N Clusters | Categories | Perturbations | Unique runs | Cumulative % of runs |", "|---:|---:|---:|---:|---:|"]
    seen: set[str] = set()
    categories = memberships = 0
    for rank, row in enumerate(rows, start=1):
        seen |= row.runs
        categories += len(row.members)
        memberships += row.memberships
        out.append(f"| {rank} | {categories} | {memberships} | {len(seen)} | {_pct(len(seen), unique)} |")
    return "\n".join(out) + "\n"


def _html(f: dict[str, Any]) -> str:
    e = html.escape
    unique, rows = f["unique_runs"], f["clusters"]
    bar_h, width = 26, 520
    biggest = max((len(r.runs) for r in rows), default=1) or 1
    bars = []
    for i, row in enumerate(rows):
        w = int(width * len(row.runs) / biggest)
        y = i * bar_h
        bars.append(f'<text x="0" y="{y + 17}" class="lbl">{e(_cut(row.name, 40))}</text>'
                    f'<rect x="300" y="{y + 4}" width="{w}" height="{bar_h - 8}" rx="3"/>'
                    f'<text x="{305 + w}" y="{y + 17}" class="val">{len(row.runs)} runs ({_pct(len(row.runs), unique)})</text>')
    chart = (f'<svg role="img" aria-label="Unique runs per cluster" width="{300 + width + 140}" height="{max(1, len(rows)) * bar_h}">'
             + "".join(bars) + "</svg>")
    table = "".join(f"<tr><td>{i}</td><td>{e(r.name)}</td><td>{len(r.members)}</td><td>{r.memberships}</td><td>{len(r.runs)}</td>"
                    f"<td>{_pct(len(r.runs), unique)}</td></tr>" for i, r in enumerate(rows, start=1))
    sections = []
    for rank, row in enumerate(rows, start=1):
        members = []
        for c in row.members:
            examples = c.get("examples", [])
            triggers = "".join(f"<li>&ldquo;{e(x.get('trigger_phrase', ''))}&rdquo;</li>" for x in examples[: f["max_examples"]])
            more = f"<p class='more'>… and {len(examples) - f['max_examples']} more</p>" if len(examples) > f["max_examples"] else ""
            runs = "".join(f"<li><code>{e(r)}</code></li>" for r in sorted(_runs(c)))
            members.append(f"<div class='cat'><h4>{e(c['category_id'])} {e(c['category_name'])} <span>({len(examples)} perturbations)</span></h4>"
                           + (f"<p class='why'>{e(c['justification'])}</p>" if c.get("justification") else "")
                           + f"<p>{e(c.get('definition', ''))}</p><ol>{triggers}</ol>{more}"
                           f"<details><summary>{len(_runs(c))} runs</summary><ul>{runs}</ul></details></div>")
        sections.append(f"<section><h3>{rank}. {e(row.name)}</h3><p><b>Definition:</b> {e(row.definition)}</p>"
                        f"<p><b>Anchor phrases:</b> {e(row.anchors)}</p><p class='stats'>{len(row.members)} categories · "
                        f"{row.memberships} perturbations · {len(row.runs)} unique runs ({_pct(len(row.runs), unique)})</p>{''.join(members)}</section>")
    unassigned = "".join(f"<li><code>{e(u['run_id'])}</code>: {e(u['reason'])}</li>" for u in f["unassigned"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cluster Summary Report</title>
<style>
body{{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#1d2330}}
h1{{margin-bottom:.2em}} .meta{{color:#5a6270}} table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #dde1e7;padding:.35em .6em;text-align:left}} th{{background:#f2f4f7}}
svg rect{{fill:#3867d6}} svg .lbl{{font-size:13px}} svg .val{{font-size:12px;fill:#5a6270}}
section{{border-top:2px solid #dde1e7;margin-top:1.5em}} .cat{{margin-left:1em}} .cat h4 span{{font-weight:normal;color:#5a6270}}
.why{{font-style:italic}} .stats{{color:#3a4250}} code{{font-size:12px}}
</style></head><body>
<h1>Cluster Summary Report</h1>
<p class="meta">Generated {datetime.now():%Y-%m-%d %H:%M} · clusters <code>{e(f['cluster_file'])}</code> · categorization <code>{e(f['categorization_file'])}</code></p>
<h2>Overall statistics</h2>
<ul><li>{f['total_categories']} categories, {len(rows)} clusters</li>
<li>{f['memberships']} category memberships (perturbations)</li>
<li>{unique} unique runs categorized of {f['total_runs']} in the task list ({_pct(unique, f['total_runs'])})</li>
<li>{len(f['unassigned'])} runs in no category</li></ul>
<h2>Unique runs per cluster</h2>{chart}
<h2>Cluster summary</h2>
<table><tr><th>Rank</th><th>Cluster</th><th>Categories</th><th>Perturbations</th><th>Unique runs</th><th>% of runs</th></tr>{table}</table>
<h2>Clusters in detail</h2>{''.join(sections)}
<h2>Coverage</h2><p>{"All categories are clustered." if not f["unclustered"] else f"{len(f['unclustered'])} categories are in no cluster."}</p>
{f"<h3>Runs in no category</h3><ul>{unassigned}</ul>" if unassigned else ""}
</body></html>
"""


def write_report(cluster_path: Path, categorization_path: Path | None = None, output_path: Path | None = None,
                 max_examples: int = 3) -> tuple[Path, Path]:
    markdown, page = build_report(cluster_path, categorization_path, max_examples)
    md_path = Path(output_path) if output_path else Path(cluster_path).parent / f"cluster_report_{datetime.now():%Y%m%d_%H%M%S}.md"
    atomic_write_text(md_path, markdown)
    html_path = md_path.with_suffix(".html")
    atomic_write_text(html_path, page)
    return md_path, html_path
