"""The cluster report's drill-down: from each cluster and category to its runs, each run reachable
with its instruction and summary, and counted once, in the HTML and the Markdown alike."""

import hashlib
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote

import pytest

from a3.meta.categorize.stage import CategorizeOptions
from a3.meta.formats import load_task_list, read_categorization
from a3.meta.pipeline import MetaRunOptions, run_meta
from a3.meta.report import build_report, name_source
from a3.meta.select import SelectOptions
from a3.meta.summarize import SummaryStore
from a3.meta.synthetic.sample_data import write_sample_data
from a3.store import RunDir
from a3.testing import ScriptedClient
from a3.testing.embedders import hashing_embedder
from a3.testing.scripted_meta import MetaWorld

SECTION = "Runs by cluster and category"
COUNT = re.compile(r" — (\d+) runs?$")


@dataclass
class Entry:
    label: str
    text: str = ""
    children: list["Entry"] = field(default_factory=list)
    attrs: dict = field(default_factory=dict)

    def shape(self):
        """What the Markdown must show too: labels, texts and nesting (not the HTML attributes)."""
        return self.label, self.text, [c.shape() for c in self.children]

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def count(self) -> int:
        return int(COUNT.search(self.label).group(1))


class DrillDown(HTMLParser):
    """The nested <details> of one section of the page."""

    def __init__(self, section_id):
        super().__init__()
        self.section_id, self.inside, self.roots, self.stack, self.field = section_id, False, [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.inside = attrs.get("id") == self.section_id
        elif self.inside and tag == "details":
            entry = Entry("", attrs=attrs)
            (self.stack[-1].children if self.stack else self.roots).append(entry)
            self.stack.append(entry)
        elif self.stack and tag in ("summary", "p"):
            self.field = "label" if tag == "summary" else "text"

    def handle_endtag(self, tag):
        if tag == "details" and self.stack:
            self.stack.pop()
        elif tag in ("summary", "p"):
            self.field = None

    def handle_data(self, data):
        if self.stack and self.field:
            setattr(self.stack[-1], self.field, getattr(self.stack[-1], self.field) + data)


def html_tree(page):
    parser = DrillDown(SECTION.lower().replace(" ", "-"))
    parser.feed(page)
    return parser.roots


def markdown_tree(markdown):
    body = markdown.split(f"## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    roots, stack = [], []
    for line in body.splitlines():
        found = re.match(r"^( *)- \*\*(.*?)\*\*(?:: (.*))?$", line)
        if not found:
            continue
        depth = len(found.group(1)) // 2
        entry = Entry(found.group(2), (found.group(3) or "").replace("\\|", "|"))
        del stack[depth:]
        (stack[-1].children if stack else roots).append(entry)
        stack.append(entry)
    return roots


@pytest.fixture
async def analysis(tmp_path):
    """A whole scripted `a3 meta run`, then its categorization edited so that one run is in three
    categories (two of one cluster, one of another; twice in one of them) and one run is in none."""
    sample = write_sample_data(tmp_path / "data", n_runs=40, seed=5)
    run = RunDir(tmp_path / "work")
    world = MetaWorld()

    def respond(messages, config):  # each run's summary its own, so a summary shown under the wrong run is caught
        reply = world(messages, config)
        prompt = messages[0].content
        return (
            f"{reply} (ref {hashlib.sha256(prompt.encode()).hexdigest()[:12]})"
            if prompt.startswith("Task: summarise")
            else reply
        )

    options = MetaRunOptions(
        select=SelectOptions(agent=sample.agent, base_dir=sample.runs_dir), categorize=CategorizeOptions(method="embed")
    )
    result = await run_meta(options, run, ScriptedClient(respond, run_dir=run), embedder=hashing_embedder())
    doc = json.loads(result.categorization.path.read_text())
    categories = {c["category_id"]: c for c in doc["categorization"]["categories"]}
    clusters = [[m["category_id"] for m in c["member_categories"]] for c in result.clusters.model_dump()["clusters"]]
    big = next(ids for ids in clusters if len(ids) >= 2)
    other = next(ids for ids in clusters if ids is not big)
    shared = categories[big[0]]["examples"][0]
    categories[big[1]]["examples"] += [dict(shared), dict(shared)]  # listed twice there, as the original's files may
    categories[other[0]]["examples"].append(dict(shared))
    dropped = categories[other[0]]["examples"].pop(0)
    doc["categorization"]["unassigned"].append({"run_id": dropped["run_id"], "reason": "taken out by the test"})
    result.categorization.path.write_text(json.dumps(doc))
    runs = {str(ref.run) for ref in load_task_list(result.task_list).runs}
    return result, doc, runs, shared["run_id"], dropped["run_id"], SummaryStore(run)


async def test_every_run_is_reachable_from_its_clusters_and_categories_and_counted_once(analysis):
    result, doc, runs, shared, dropped, store = analysis
    markdown, page = build_report(result.clusters, read_categorization(result.categorization.path))
    tree = html_tree(page)
    entries = [e for root in tree for e in root.walk() if e.attrs.get("class") == "run"]

    assert {e.label for e in entries} == runs  # none dropped
    covered = int(re.search(r"\| Runs analysed \| (\d+) \|", markdown).group(1))
    assert len({e.label for e in entries}) == covered == len(runs)
    assert len(entries) == len(runs) + 2, "the shared run is listed under each of its three categories"
    anchors = [e.attrs["id"] for e in entries if "id" in e.attrs]
    assert sorted(anchors) == sorted(f"run-{quote(r)}" for r in runs), "one anchored entry per run"

    definitions = {f"{c['category_id']} {c['category_name']}": c for c in doc["categorization"]["categories"]}
    categories = [e for root in tree for e in root.walk() if e.label.split(" — ")[0] in definitions]
    assert len(categories) == len(definitions)
    for node in categories:
        category = definitions[node.label.split(" — ")[0]]
        members = {e["run_id"] for e in category["examples"]}
        assert node.count() == len({c.label for c in node.children}) == len(members) == len(node.children)
        said = f" (name: {name_source(category['name_source'])})" if category.get("name_source") else ""
        assert node.text == category["definition"] + said  # the definition, and where the name came from
    for cluster in tree:
        distinct = {e.label for e in cluster.walk() if e.attrs.get("class") == "run"}
        assert cluster.count() == len(distinct)
    shared_cluster = next(c for c in tree if sum(e.label == shared for e in c.walk()) == 2)
    assert shared_cluster.count() < sum(category.count() for category in shared_cluster.children), (
        "the shared run counts once in its cluster"
    )

    unassigned = next(c for c in tree if c.label.startswith("Unassigned"))
    listed = {
        u["run_id"]: u["reason"] for u in doc["categorization"]["unassigned"]
    }  # the embed grouping's outliers, and the test's
    assert unassigned.count() == len(unassigned.children) == len(listed) and {
        e.label for e in unassigned.children
    } == set(listed)
    assert (
        all(f"Reason: {listed[e.label]}" in e.text for e in unassigned.children)
        and listed[dropped] == "taken out by the test"
    )

    for entry in entries:
        record = store.get(entry.label)
        assert record.perturbed_instruction in entry.text and record.summary in entry.text
    assert sum("Also in: " in e.text for e in entries) == 3

    assert [root.shape() for root in markdown_tree(markdown)] == [root.shape() for root in tree]


async def test_runs_show_the_summary_the_categorization_was_made_from(analysis):
    result, _, _, shared, _, store = analysis
    newer = store.get(shared).model_copy(
        update={"input_hash": "f" * 64, "summary": "A later summary, not the categorized one."}
    )
    store.add(newer)
    markdown, page = build_report(result.clusters, read_categorization(result.categorization.path))
    assert newer.summary not in page and newer.summary not in markdown
    used = store.get(shared, result.categorization.metadata.summary_hashes[shared]).summary
    texts = [e.text for root in html_tree(page) for e in root.walk() if e.label == shared]
    assert len(texts) == 3 and all(used in text for text in texts)
