"""Any report's page, from one list of sections: Markdown, and one self-contained HTML file
(styles, plots and any script inline; nothing from the network).

A section holds an intro, tables, a plot, and optionally a drill-down tree (nested ``<details>``
in HTML, a nested list in Markdown) and a block of HTML of its own (the transcript browser). A
table cell may carry a filter: in HTML it becomes a link that opens the transcript browser on
the transcripts behind that number.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

Filter = dict[str, str]  # transcript field -> value, e.g. {"method": "A3", "name": "iteration 2", "kind": "harmful"}


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    highlight: frozenset[int] = frozenset()  # indices of the rows to stand out (the chosen model)
    links: dict[tuple[int, int], Filter] = field(default_factory=dict)  # (row, column) -> the transcripts behind it


@dataclass(frozen=True)
class Node:
    """One entry of a drill-down: a label, its text, and the entries under it."""

    label: str
    text: str = ""
    children: tuple[Node, ...] = ()
    id: str | None = None  # an anchor, for links to this entry
    css: str = ""  # a class on the entry (``run`` for the leaves tests count)


@dataclass(frozen=True)
class Section:
    title: str
    intro: str = ""
    tables: tuple[Table, ...] = ()
    plot: tuple[str, ...] = ()  # the splits whose points the section's plot shows (none: no plot)
    plot_file: str = "pareto.svg"  # the plot's file beside the Markdown
    level: int = 2  # heading level: 2 for a section, 3 for a subsection
    tree: tuple[Node, ...] = ()
    html_block: str = ""  # HTML of the section's own (not in the Markdown)
    markdown_note: str = ""  # what the Markdown says in place of ``html_block``


def sections_markdown(title: str, parts: list[Section]) -> str:
    """A title, then each section's heading, intro, plot link, tables and drill-down."""
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
        if section.tree:
            lines += [line for node in section.tree for line in _md_tree(node, 0)] + [""]
        if section.markdown_note:
            lines += [section.markdown_note, ""]
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_tree(node: Node, depth: int) -> list[str]:
    text = f": {_md_cell(node.text)}" if node.text else ""
    return [
        f"{'  ' * depth}- **{_md_cell(node.label)}**{text}",
        *(line for child in node.children for line in _md_tree(child, depth + 1)),
    ]


# A backslash at the end of a line joins the next line to it: it keeps the source within the line
# length and is no part of the style.
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px; \
color: #111827;
       padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; \
border-bottom: 1px solid #e5e7eb; }
.table-wrap { overflow-x: auto; max-width: 100%; } \
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; } \
th, td { border: 1px solid #e5e7eb; padding: .3rem .55rem;
  text-align: left; vertical-align: top; } th { background: #f3f4f6; } tr.chosen td { background: #eff6ff; \
font-weight: 600; }
code { background: #f3f4f6; padding: 0 .25rem; border-radius: 3px; } p { max-width: 75ch; } figure { margin: 1rem 0; }
a.drill { color: #1d4ed8; text-decoration: none; border-bottom: 1px dotted #1d4ed8; }
details { margin: .2rem 0 .2rem 1rem; } summary { cursor: pointer; } details > p { margin: .2rem 0 .4rem 1rem; \
font-size: .9rem; }
"""


def sections_html(
    title: str, parts: list[Section], figure: Callable[[Section], str] | None = None, script: str = "", style: str = ""
) -> str:
    """The same sections as the Markdown, in one self-contained page; ``figure`` draws the plot of
    a section that has one; ``script`` and ``style`` (inline, optional) serve any interactive block."""
    body = [f"<h1>{escape(title)}</h1>"]
    for section in parts:
        body.append(
            f'<section id="{anchor(section.title)}"><h{section.level}>{escape(section.title)}</h{section.level}>'
        )
        for paragraph in filter(None, section.intro.split("\n\n")):
            body.append(f"<p>{_inline_code(escape(paragraph))}</p>")
        if section.plot and figure is not None:
            body.append(f"<figure>{figure(section)}</figure>")
        body += [_html_table(table) for table in section.tables]
        body += [_html_tree(node) for node in section.tree]
        body.append(section.html_block)
        body.append("</section>")
    tail = f"<script>{script}</script>" if script else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}{style}</style></head>"
        f"<body>{''.join(body)}{tail}</body></html>\n"
    )


def _html_table(table: Table) -> str:
    # In a box of its own that scrolls sideways: a wide table (the comparison's rates) never widens the page.
    rows = [
        '<div class="table-wrap"><table><thead><tr>'
        + "".join(f"<th>{escape(h)}</th>" for h in table.headers)
        + "</tr></thead><tbody>"
    ]
    for index, row in enumerate(table.rows):
        chosen = ' class="chosen"' if index in table.highlight else ""
        cells = []
        for column, cell in enumerate(row):
            text = _inline_code(escape(cell))
            link = table.links.get((index, column))
            if link is not None:
                text = f'<a class="drill" href="#transcripts" data-filter="{escape(json.dumps(link))}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        rows.append(f"<tr{chosen}>{''.join(cells)}</tr>")
    return "".join(rows) + "</tbody></table></div>"


def _html_tree(node: Node) -> str:
    ident = f' id="{escape(node.id)}"' if node.id else ""
    css = f' class="{escape(node.css)}"' if node.css else ""
    text = f"<p>{escape(node.text)}</p>" if node.text else ""
    children = "".join(_html_tree(child) for child in node.children)
    return f"<details{ident}{css}><summary>{escape(node.label)}</summary>{text}{children}</details>"


def anchor(title: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in title.lower()).strip("-")


def _inline_code(text: str) -> str:
    """Markdown's `code` and **strong** in an already escaped paragraph."""
    parts = text.split("`")
    text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
