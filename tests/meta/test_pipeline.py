"""Steps 2-4 and `a3 meta run` with a scripted LLM on the synthetic run tree."""

import json
import math

import numpy as np
import pytest

from a3.meta.categorize.pregroup import group
from a3.meta.categorize.stage import CategorizeContext, CategorizeOptions, categorize_runs
from a3.meta.cluster import ClusterOptions, cluster_categories
from a3.meta.formats import RefinementSummary, load_task_list, read_categorization, read_clusters, task_list_document
from a3.meta.report import build_report, write_report
from a3.meta.select import SelectOptions, select_runs
from a3.meta.summarize import SummaryOptions, SummaryStore, summarize_runs
from a3.meta.synthetic.sample_data import write_sample_data
from a3.store import RunDir
from a3.testing import ScriptedClient
from a3.testing.scripted_meta import FAMILY, MetaWorld, theme_of


@pytest.fixture
def sample(tmp_path):
    return write_sample_data(tmp_path / "data", n_runs=80, seed=5)


def task_list(sample, tmp_path, **kw):
    result = select_runs(SelectOptions(agent=sample.agent, base_dir=sample.runs_dir, **kw))
    path = tmp_path / "task_list.json"
    path.write_text(json.dumps(task_list_document(result)))
    return load_task_list(path)


def context(sample, path="tl.json"):
    return CategorizeContext(agent=sample.agent, perturbation_model=sample.perturbation_model, task_list_path=path)


async def summarized(sample, tmp_path, world=None):
    tasks = task_list(sample, tmp_path)
    run = RunDir(tmp_path / "work")
    client = ScriptedClient(world or MetaWorld(), run_dir=run)
    result = await summarize_runs(tasks.runs, run, client, SummaryOptions())
    return tasks, run, client, result


async def test_summaries_are_written_once_and_reused(sample, tmp_path):
    tasks, run, client, result = await summarized(sample, tmp_path)
    assert result.counts.model_dump() == {
        "total": len(tasks.runs),
        "generated": len(tasks.runs),
        "reused": 0,
        "failed": 0,
        "truncated": 0,
    }
    store = SummaryStore(run)
    for ref in tasks.runs:
        record = store.get(str(ref.run))
        assert theme_of(record.summary) == sample.themes[str(ref.run)]
        assert record.original_instruction and record.mode == "full"
    calls = len(client.calls)
    again = await summarize_runs(tasks.runs, run, client, SummaryOptions())
    assert again.counts.reused == len(tasks.runs) and len(client.calls) == calls
    changed = await summarize_runs(tasks.runs[:3], run, client, SummaryOptions(model="openai/gpt-5-mini"))
    assert changed.counts.generated == 3  # a different model is a different summary


async def test_summary_calls_are_labelled_and_a_local_model_is_bounded_unless_told(sample, tmp_path):
    tasks, run, client, _ = await summarized(sample, tmp_path)
    assert {c[1].max_tokens for c in client.calls} == {32768}  # the original's allowance, for an API model
    assert {entry.stage for entry in run.ledger.entries()} == {"meta-summarize"}
    local = ScriptedClient(MetaWorld(), run_dir=RunDir(tmp_path / "local"))
    await summarize_runs(tasks.runs[:2], local.run_dir, local, SummaryOptions(model="local/qwen2.5-coder-0.5b"))
    assert {c[1].max_tokens for c in local.calls} == {1024}
    told = ScriptedClient(MetaWorld(), run_dir=RunDir(tmp_path / "told"))
    await summarize_runs(
        tasks.runs[:2], told.run_dir, told, SummaryOptions(model="local/qwen2.5-coder-0.5b", max_tokens=4000)
    )
    assert {c[1].max_tokens for c in told.calls} == {4000}


async def test_summary_prompt_has_history_and_the_successful_attempt(sample, tmp_path):
    tasks, run, client, _ = await summarized(sample, tmp_path)
    prompt = client.calls[0][0][0].content
    assert "(analyse this one)" in prompt and "Harmful actions observed:" in prompt
    score_only = [r for r in tasks.runs if _history(r)[-1].trajectory_evaluation.recommendation == "REFINE"]
    assert score_only, "the sample has runs that succeeded by score alone"
    record = SummaryStore(run).get(str(score_only[0].run))
    assert record.perturbed_instruction  # the original left this empty for score-only successes


async def test_summary_failures_are_listed_and_cut_off_summaries_kept_and_marked(sample, tmp_path):
    tasks = task_list(sample, tmp_path)
    broken = tasks.runs[0]
    (broken.run.seed_dir(broken.base_dir) / f"perturbed_query_{broken.run.perturbed_id}.json").unlink()
    truncated = tasks.runs[1]

    def respond(messages, config):
        from a3.llm.backends import BackendReply

        if truncated.run.perturbed_id in messages[0].content or _instruction(truncated) in messages[0].content:
            return BackendReply(text="The perturbation", input_tokens=10, output_tokens=5, finish_reason="max_tokens")
        return MetaWorld()(messages, config)

    run = RunDir(tmp_path / "work")
    result = await summarize_runs(tasks.runs, run, ScriptedClient(respond, run_dir=run), SummaryOptions())
    failed = {f.run_id: f.error for f in result.failures}
    assert "cannot read the run's files" in failed[str(broken.run)]
    assert str(truncated.run) not in failed  # cut off, but kept: what it says is still evidence
    record = SummaryStore(run).get(str(truncated.run))
    assert record.truncated is True and record.summary == "The perturbation"
    assert result.counts.failed == 1 and result.counts.truncated == 1
    assert result.counts.generated == len(tasks.runs) - 1


def _history(ref):
    path = ref.run.agent_dir(ref.base_dir) / "refinement_summary.json"
    return RefinementSummary.model_validate_json(path.read_text()).attempts


def _instruction(ref):
    return _history(ref)[-1].perturbed_instruction


async def test_reduced_mode_and_beside_runs(sample, tmp_path):
    result = select_runs(SelectOptions(agent=sample.agent, benchmark_dir=sample.benchmark_dir))
    (tmp_path / "bench.json").write_text(json.dumps(task_list_document(result)))
    tasks = load_task_list(tmp_path / "bench.json")
    run = RunDir(tmp_path / "work")
    client = ScriptedClient(MetaWorld(), run_dir=run)
    counts = (await summarize_runs(tasks.runs, run, client, SummaryOptions())).counts
    assert counts.generated == len(tasks.runs) > 0
    assert "from its final instruction only" in client.calls[0][0][0].content
    assert SummaryStore(run).get(str(tasks.runs[0].run)).mode == "reduced"

    tree = task_list(sample, tmp_path)
    await summarize_runs(tree.runs[:2], run, client, SummaryOptions(beside_runs=True))
    written = json.loads(
        (tree.runs[0].run.agent_dir(tree.runs[0].base_dir) / "elicitation_run_summary.json").read_text()
    )
    assert set(written) >= {"original_instruction", "perturbed_instruction", "summary", "cost", "summary_metadata"}


async def test_categorization_places_every_run_in_few_rounds(sample, tmp_path):
    tasks, run, client, _ = await summarized(sample, tmp_path)
    options = CategorizeOptions(
        method="llm", initial_batch_size=10, iterative_batch_size=5, parallel_batches=4, merge_every=2
    )
    path = (await categorize_runs(tasks.runs, run, client, context(sample), options)).path
    doc = json.loads(path.read_text())
    stats = doc["statistics"]
    categories = doc["categorization"]["categories"]
    placed = [e["run_id"] for c in categories for e in c["examples"]]
    assert sorted(set(placed)) == sorted(str(r.run) for r in tasks.runs)
    assert len(placed) == len(set(placed))  # each run once: the scripted world puts a run in one category
    for category in categories:
        themes = {sample.themes[e["run_id"]] for e in category["examples"]}
        assert len(themes) == 1  # coherent categories
        assert category["examples"][0]["id"].count(":") == 1  # the original's task_id:perturbed_id, kept
    names = [c["category_name"].lower() for c in categories]
    assert len(names) == len(set(names))
    n = len(tasks.runs)
    waves = math.ceil(math.ceil((n - 10) / 5) / 4)
    assert stats["sequential_llm_rounds"] <= 1 + waves + waves // 2 + 1
    assert stats["unique_runs_categorized"] == n and stats["unassigned_runs"] == 0
    assert doc["metadata"]["summary_hashes"] and doc["metadata"]["prompt_versions"]


async def test_near_duplicate_categories_are_merged(sample, tmp_path):
    tasks, run, _, _ = await summarized(sample, tmp_path)
    world = MetaWorld(variant_names=True)
    client = ScriptedClient(world, run_dir=run)
    path = (
        await categorize_runs(
            tasks.runs,
            run,
            client,
            context(sample),
            CategorizeOptions(
                method="llm", initial_batch_size=3, iterative_batch_size=2, parallel_batches=3, merge_every=1
            ),
        )
    ).path
    doc = json.loads(path.read_text())
    themes = [c["category_name"].split()[0].lower() for c in doc["categorization"]["categories"]]
    assert len(themes) == len(set(themes)), "one category per theme after merging"
    assert any(m.get("applied") for m in doc["metadata"]["merges"])
    assert any(c["merged_from"] for c in doc["categorization"]["categories"])


BAD_REPLIES = {
    "invalid json": "{ not json",
    "empty": "",
    "missing fields": json.dumps({"assignments": [{"run": "R1"}]}),
    "unknown run": json.dumps(
        {
            "assignments": [],
            "new_categories": [
                {"name": "Ghost runs", "definition": "A made-up category.", "examples": [{"run": "R99"}]}
            ],
        }
    ),
    "unknown category": json.dumps(
        {"assignments": [{"run": "R1", "category": "C999"}, {"run": "R2", "category": "C999"}]}
    ),
    "run twice": json.dumps(
        {
            "assignments": [],
            "new_categories": [
                {"name": "Twice placed", "definition": "Runs listed twice.", "examples": [{"run": "R1"}, {"run": "R2"}]}
            ],
            "unassigned": [{"run": "R1", "reason": "also here"}],
        }
    ),
    "duplicate name": json.dumps(
        {
            "assignments": [],
            "new_categories": [
                {"name": "Dup name", "definition": "First of two.", "examples": [{"run": "R1"}]},
                {"name": "dup  name", "definition": "Second of two.", "examples": [{"run": "R2"}]},
            ],
        }
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_REPLIES))
async def test_malformed_update_replies_are_repaired_and_nothing_is_lost(sample, tmp_path, kind):
    tasks, run, _, _ = await summarized(sample, tmp_path)
    world = MetaWorld()
    sent_bad = []

    def respond(messages, config):
        if messages[0].content.startswith("Task: extend a taxonomy") and len(messages) == 1 and not sent_bad:
            sent_bad.append(kind)
            return BAD_REPLIES[kind]
        return world(messages, config)

    client = ScriptedClient(respond, run_dir=run)
    path = (
        await categorize_runs(
            tasks.runs,
            run,
            client,
            context(sample),
            CategorizeOptions(method="llm", initial_batch_size=4, iterative_batch_size=2, parallel_batches=2),
        )
    ).path
    doc = json.loads(path.read_text())
    placed = {e["run_id"] for c in doc["categorization"]["categories"] for e in c["examples"]}
    assert placed == {str(r.run) for r in tasks.runs}
    assert sent_bad == [kind]
    if kind == "empty":  # an empty reply is a transient failure: the same request is simply sent again
        prompts = [m[0].content for m, _ in client.calls if len(m) == 1]
        assert any(prompts.count(p) > 1 for p in prompts if p.startswith("Task: extend a taxonomy"))
    else:
        repairs = [m for m, _ in client.calls if len(m) > 1 and "could not be used" in m[-1].content]
        assert repairs, "the bad reply was sent back with the reason"


async def test_stop_during_categorization_resumes_from_the_checkpoint(sample, tmp_path):
    from a3.llm import BudgetExceededError

    tasks, run, _, _ = await summarized(sample, tmp_path)
    options = CategorizeOptions(
        method="llm", initial_batch_size=6, iterative_batch_size=3, parallel_batches=2, merge_every=0, max_tokens=1000
    )
    world = MetaWorld()
    already = ScriptedClient(world, run_dir=run).spent_usd  # the cap covers the whole run, summaries included
    capped = ScriptedClient(world, run_dir=run, max_cost=already + 0.03)  # gpt-5 prices: stops after a few waves
    with pytest.raises(BudgetExceededError, match="cost cap"):
        await categorize_runs(tasks.runs, run, capped, context(sample), options)
    assert run.manifest("categorize").status == "failed"
    checkpoint = json.loads((run.path / "categorization" / "checkpoint.json").read_text())
    done_before = set(checkpoint["processed"])
    assert 6 < len(done_before) < len(tasks.runs)
    paid_before = run.ledger.totals(stage="categorize").calls

    resumed_prompts = []

    def healthy(messages, config):
        resumed_prompts.append(messages[0].content)
        return world(messages, config)

    path = (await categorize_runs(tasks.runs, run, ScriptedClient(healthy, run_dir=run), context(sample), options)).path
    doc = json.loads(path.read_text())
    placed = [e["run_id"] for c in doc["categorization"]["categories"] for e in c["examples"]]
    assert sorted(placed) == sorted(str(r.run) for r in tasks.runs), "nothing lost, nothing twice"
    assert not [p for p in resumed_prompts if p.startswith("Task: build a taxonomy")], (
        "the initial taxonomy was not rebuilt"
    )
    assert run.manifest("categorize").attempts == 2
    assert doc["statistics"]["llm_calls"] > paid_before  # the ledger covers both sessions


async def test_failed_batches_are_retried_then_reported_as_unassigned(sample, tmp_path):
    tasks, run, _, _ = await summarized(sample, tmp_path)
    world = MetaWorld()
    doomed = str(tasks.runs[-1].run)
    doomed_instruction = SummaryStore(run).get(doomed).perturbed_instruction

    class Refused(Exception):
        status_code = 400

    def respond(messages, config):
        if messages[0].content.startswith("Task: extend a taxonomy") and doomed_instruction in messages[0].content:
            raise Refused("content filter")
        return world(messages, config)

    path = (
        await categorize_runs(
            tasks.runs,
            run,
            ScriptedClient(respond, run_dir=run),
            context(sample),
            CategorizeOptions(method="llm", iterative_batch_size=1),
        )
    ).path
    doc = json.loads(path.read_text())
    unassigned = {u["run_id"]: u["reason"] for u in doc["categorization"]["unassigned"]}
    assert "categorization failed" in unassigned[doomed] and "content filter" in unassigned[doomed]
    placed = {e["run_id"] for c in doc["categorization"]["categories"] for e in c["examples"]}
    assert placed | {doomed} == {str(r.run) for r in tasks.runs}
    assert doc["statistics"]["unassigned_runs"] == 1


async def test_resume_from_an_original_categorization_deduplicates(sample, tmp_path):
    tasks, run, client, _ = await summarized(sample, tmp_path)
    first_half = tasks.runs[: len(tasks.runs) // 2]
    first = (
        await categorize_runs(
            first_half,
            run,
            client,
            context(sample),
            CategorizeOptions(method="llm", initial_batch_size=6, iterative_batch_size=3),
        )
    ).path
    doc = json.loads(first.read_text())
    original = {
        "categorization": {
            "categories": [
                {
                    "category_name": c["category_name"],
                    "definition": c["definition"],
                    "examples": [
                        {"id": e["id"], "trigger_phrase": e["trigger_phrase"], "justification": "x"}
                        for e in c["examples"]
                    ],
                }
                for c in doc["categorization"]["categories"]
            ]
        }
    }
    old = tmp_path / "old_categorization.json"
    old.write_text(json.dumps(original))
    work = RunDir(tmp_path / "work2")
    for record in SummaryStore(run).log:
        SummaryStore(work).log.append(record)
    resumed_client = ScriptedClient(MetaWorld(), run_dir=work)
    path = (
        await categorize_runs(
            tasks.runs,
            work,
            resumed_client,
            context(sample),
            CategorizeOptions(method="llm", iterative_batch_size=3),
            resume_from=read_categorization(old),
        )
    ).path
    resumed = json.loads(path.read_text())
    placed = [e["run_id"] for c in resumed["categorization"]["categories"] for e in c["examples"] if e["run_id"]]
    assert sorted(placed) == sorted(str(r.run) for r in tasks.runs), "old runs kept once, new runs added"
    assert resumed["metadata"]["resumed_from_categories"] == len(original["categorization"]["categories"])
    # Old examples whose task_id:perturbed_id names exactly one run are resolved and not sent again;
    # ambiguous ones (two refiners of one seed) stay unresolved and their runs are placed afresh.
    shorts = [r.run.short_id for r in tasks.runs]
    resolved = {str(r.run) for r in first_half if shorts.count(r.run.short_id) == 1}
    assert resolved, "the sample has runs an original-format id resolves"
    sent = sum(
        m[0].content.split("New runs to place")[-1].count("\n[R")
        for m, _ in resumed_client.calls
        if m[0].content.startswith("Task: extend a taxonomy") and len(m) == 1
    )
    assert sent == len(tasks.runs) - len(resolved)
    assert resumed["statistics"]["unresolved_example_ids"] == sum(
        1 for c in original["categorization"]["categories"] for e in c["examples"] if shorts.count(e["id"]) != 1
    )


async def test_clustering_covers_each_category_once_even_hierarchically(sample, tmp_path):
    tasks, run, client, _ = await summarized(sample, tmp_path)
    categorization = await categorize_runs(tasks.runs, run, client, context(sample), CategorizeOptions(method="llm"))
    for per_call in (40, 3):
        path = (
            await cluster_categories(
                categorization,
                RunDir(tmp_path / f"c{per_call}"),
                ScriptedClient(MetaWorld()),
                ClusterOptions(max_categories_per_call=per_call, method="llm"),
                output_dir=tmp_path / f"clusters{per_call}",
            )
        ).path
        doc = json.loads(path.read_text())
        members = [m["category_id"] for c in doc["clusters"] for m in c["member_categories"]]
        cat_ids = [
            c["category_id"] for c in json.loads(categorization.path.read_text())["categorization"]["categories"]
        ]
        assert sorted(members) == sorted(cat_ids)
        assert {c["cluster_name"] for c in doc["clusters"]} <= set(FAMILY.values())
        families = {
            FAMILY[c["category_name"].split()[0].lower()]
            for c in json.loads(categorization.path.read_text())["categorization"]["categories"]
        }
        assert len(doc["clusters"]) == len(families), "converged to one cluster per family"
        assert (doc["statistics"]["levels"] == 1) == (per_call == 40)


async def test_a_clustering_that_keeps_missing_or_repeating_categories_is_completed_not_lost(sample, tmp_path):
    tasks, run, client, _ = await summarized(sample, tmp_path)
    categorization = await categorize_runs(tasks.runs, run, client, context(sample), CategorizeOptions(method="llm"))
    world = MetaWorld()

    def sloppy(messages, config):  # drops the first cluster and repeats an id in the second, however often asked
        reply = json.loads(world(messages, config))
        if messages[0].content.startswith("Task: group benign-input") and len(reply["clusters"]) > 1:
            reply["clusters"] = reply["clusters"][1:]
            reply["clusters"][0]["members"].append(dict(reply["clusters"][0]["members"][0]))
        return json.dumps(reply)

    path = (
        await cluster_categories(
            categorization,
            RunDir(tmp_path / "c"),
            ScriptedClient(sloppy),
            ClusterOptions(method="llm"),
            output_dir=tmp_path / "clusters",
        )
    ).path
    doc = json.loads(path.read_text())
    members = [m["category_id"] for c in doc["clusters"] for m in c["member_categories"]]
    cat_ids = [c["category_id"] for c in json.loads(categorization.path.read_text())["categorization"]["categories"]]
    assert sorted(members) == sorted(cat_ids)  # each category exactly once
    assert any(c["definition"] == "a cluster of its own: the model placed it nowhere" for c in doc["clusters"])


async def test_a_clustering_model_that_never_answers_leaves_each_category_its_own_cluster_and_a_report(
    sample, tmp_path
):
    tasks, run, client, _ = await summarized(sample, tmp_path)
    categorization = await categorize_runs(tasks.runs, run, client, context(sample), CategorizeOptions(method="llm"))
    world = MetaWorld()

    def broken_clusterer(messages, config):
        if messages[0].content.startswith("Task: group benign-input"):
            return json.dumps({"groups": []})  # never the schema
        return world(messages, config)

    clusters = await cluster_categories(
        categorization, run, ScriptedClient(broken_clusterer, run_dir=run), ClusterOptions(method="llm")
    )
    doc = json.loads(clusters.path.read_text())
    n_categories = len(json.loads(categorization.path.read_text())["categorization"]["categories"])
    assert doc["statistics"]["output_clusters"] == doc["statistics"]["unclustered_by_failure"] == n_categories
    assert all(
        c["definition"].startswith("a cluster of its own: the model gave no usable clustering") for c in doc["clusters"]
    )
    markdown, _ = build_report(clusters, categorization)
    assert "| Runs in at least one category |" in markdown


async def test_report_counts_unique_runs_and_lists_them(sample, tmp_path):
    tasks, run, client, _ = await summarized(sample, tmp_path)
    categorization = await categorize_runs(tasks.runs, run, client, context(sample), CategorizeOptions(method="llm"))
    clusters = await cluster_categories(categorization, run, client, ClusterOptions())
    # a run in two categories must count once among unique runs
    doc = json.loads(categorization.path.read_text())
    extra = doc["categorization"]["categories"][0]["examples"][0]
    doc["categorization"]["categories"][1]["examples"].append(dict(extra))
    categorization.path.write_text(json.dumps(doc))
    markdown, page = build_report(clusters, read_categorization(categorization.path), max_examples=2)
    for section in (
        "Overall Statistics",
        "Cluster Summary Table",
        "Cumulative Coverage",
        "Detailed Cluster Breakdown",
        "Coverage Analysis",
    ):
        assert f"## {section}" in markdown and f"<h2>{section}</h2>" in page  # the same sections in both formats
    n = len(tasks.runs)
    assert f"| Runs in at least one category | {n} (100.0%) |" in markdown
    assert f"| Category memberships (perturbations) | {n + 1} |" in markdown
    assert f"| + unassigned | — | — | {n} | 100.0% |" in markdown, "cumulative coverage ends at every run, once"
    assert extra["run_id"] in markdown and extra["run_id"] in page
    md_path, html_path = write_report(clusters, categorization, tmp_path / "r" / "report.md")
    assert md_path.exists() and html_path.suffix == ".html" and html_path.exists()


def test_report_shares_are_over_all_runs_with_unassigned_as_a_row(tmp_path):
    runs = [f"d/t{i}/p/q{i}/r/a" for i in range(10)]
    categorization = tmp_path / "categorization.json"
    categorization.write_text(
        json.dumps(
            {
                "categorization": {
                    "categories": [
                        {
                            "category_id": "C1",
                            "category_name": "Exact mirror",
                            "definition": "d",
                            "examples": [{"run_id": runs[0], "trigger_phrase": "an exact mirror"}, {"run_id": runs[1]}],
                        }
                    ],
                    "unassigned": [{"run_id": r, "reason": "placed nowhere"} for r in runs[2:]],
                },
                "statistics": {"total_tasks": 10},
            }
        )
    )
    clusters = tmp_path / "clusters.json"
    clusters.write_text(
        json.dumps(
            {
                "clusters": [{"cluster_name": "Mirrors", "member_categories": [{"category_id": "C1"}]}],
                "metadata": {"input_path": str(categorization)},
            }
        )
    )
    markdown, page = build_report(read_clusters(clusters), read_categorization(categorization))
    assert "| 1 | Mirrors | 1 | 2 | 2 | 20.0% |" in markdown  # 2 of all 10 runs, not 100% of the 2 placed
    assert "| — | Unassigned (in no category) | — | — | 8 | 80.0% |" in markdown
    assert "| 1 | 1 | 2 | 2 | 20.0% |" in markdown and "| + unassigned | — | — | 10 | 100.0% |" in markdown
    for cells in (["Mirrors", "1", "2", "2", "20.0%"], ["Unassigned (in no category)", "—", "—", "8", "80.0%"]):
        assert "".join(f"<td>{c}</td>" for c in cells) in page  # the HTML carries the same rows
    assert (
        page.count("placed nowhere") == markdown.count("placed nowhere") == 2 * 8
    )  # the coverage table and the drill-down


def test_pregrouping_is_deterministic_and_coherent():
    ids = [f"run{i:03d}" for i in range(60)]
    texts = [f"theme{i % 3}" for i in range(60)]
    basis = np.eye(3)

    def embed(batch):
        return np.array([basis[int(t[-1])] + 0.01 * (hash(t) % 1) for t in batch])

    first = group(ids, texts, embed, group_size=20)
    assert first == group(ids, texts, embed, group_size=20)
    assert len(first) == 3 and all(len({int(r[3:]) % 3 for r in g}) == 1 for g in first)


async def test_pregrouped_categorization_runs_waves_across_groups(sample, tmp_path):
    tasks, run, client, _ = await summarized(sample, tmp_path)
    themes = sorted({t for t in sample.themes.values()})
    basis = np.eye(len(themes))

    def embed(texts):
        return np.array([basis[themes.index(theme_of(t))] for t in texts])

    from a3.meta.categorize.pregroup import group

    store = {str(r.run): SummaryStore(run).get(str(r.run)) for r in tasks.runs}
    # Groups of 4 (four times a batch of 1), as categorize forms them: more groups than themes.
    groups = group(list(store), [summary.summary for summary in store.values()], embed, 4)
    assert all(len({sample.themes[r] for r in g}) == 1 for g in groups)
    path = (
        await categorize_runs(
            tasks.runs,
            run,
            client,
            context(sample),
            CategorizeOptions(method="llm", pregroup=True, iterative_batch_size=2),
            embedder=embed,
        )
    ).path
    assert json.loads(path.read_text())["statistics"]["unique_runs_categorized"] == len(tasks.runs)


async def test_a_first_batch_that_never_validates_hands_over_to_the_next_batch(sample, tmp_path):
    tasks, run, _, _ = await summarized(sample, tmp_path)
    world = MetaWorld()
    first_batches = []  # distinct first-batch prompts, in order

    def respond(messages, config):
        prompt = messages[0].content
        if prompt.startswith("Task: build a taxonomy"):
            if prompt not in first_batches:
                first_batches.append(prompt)
            if prompt == first_batches[0] and not config.cache_salt:  # the first batch never validates
                return "no JSON here"
        return world(messages, config)

    options = CategorizeOptions(method="llm", initial_batch_size=4, iterative_batch_size=5)
    path = (await categorize_runs(tasks.runs, run, ScriptedClient(respond, run_dir=run), context(sample), options)).path
    doc = json.loads(path.read_text())
    placed = {e["run_id"] for c in doc["categorization"]["categories"] for e in c["examples"]}
    unassigned = {u["run_id"] for u in doc["categorization"]["unassigned"]}
    assert doc["categorization"]["categories"]  # the taxonomy came from the second batch
    assert placed | unassigned == {str(r.run) for r in tasks.runs}  # the failed batch's runs were retried, none lost
    assert len(first_batches) >= 2


async def test_a_run_the_model_keeps_leaving_out_is_unassigned_with_the_reason_and_the_batch_is_kept(sample, tmp_path):
    from a3.meta.categorize.taxonomy import UNPLACED_REASON

    tasks, run, _, _ = await summarized(sample, tmp_path)
    world = MetaWorld()

    def forgetful(messages, config):  # every reply forgets the first run it would have placed
        reply = world(messages, config)
        task = messages[0].content.splitlines()[0]
        data = json.loads(reply) if task.startswith(("Task: build a taxonomy", "Task: extend a taxonomy")) else None
        if data is None:
            return reply
        placed = data.get("assignments") or next(
            c["examples"] for c in data.get("categories", data.get("new_categories")) if c["examples"]
        )
        placed.pop(0)
        return json.dumps(data)

    options = CategorizeOptions(method="llm", initial_batch_size=6, iterative_batch_size=6)
    path = (
        await categorize_runs(tasks.runs, run, ScriptedClient(forgetful, run_dir=run), context(sample), options)
    ).path
    doc = json.loads(path.read_text())
    placed = {e["run_id"] for c in doc["categorization"]["categories"] for e in c["examples"]}
    unassigned = {u["run_id"]: u["reason"] for u in doc["categorization"]["unassigned"]}
    assert placed | set(unassigned) == {str(r.run) for r in tasks.runs} and not placed & set(unassigned)
    assert unassigned and all(reason == UNPLACED_REASON for reason in unassigned.values())
    assert len(placed) > len(unassigned)  # the rest of each batch was kept, not failed
