"""A categorization and its clusters scored against known labels."""

from a3.meta.formats import CategoryEntry, ClusterEntry, ClusterMember, ExampleEntry
from a3.meta.scoring import score_against


def category(cid: str, runs: list[str], name_source: str | None = None) -> CategoryEntry:
    examples = [ExampleEntry(run_id=r) for r in runs]
    return CategoryEntry(category_id=cid, category_name=cid, examples=examples, name_source=name_source)


def test_scores_against_labels_and_families():
    labels = {"a": ["x"], "b": ["x"], "c": ["y", "x"], "d": ["z"]}
    categories = [category("C1", ["a", "b", "c"]), category("C2", ["c"], name_source="fallback")]
    members = [ClusterMember(category_id="C1"), ClusterMember(category_id="C2")]
    clusters = [ClusterEntry(cluster_name="K", member_categories=members)]
    score = score_against(categories, clusters, labels, {"x": "f", "y": "f", "z": "g"})
    assert (
        score.placed == 3 and score.two_key_runs == score.two_key_runs_in_both == 1
    )  # c is in C2 (majority y) and C1 (majority x)
    assert score.names_by_fallback == 1 and score.cluster_adjusted_rand_index is not None
    perfect = [category(k, [r for r, v in labels.items() if v[0] == k]) for k in "xyz"]
    assert score_against(perfect, None, labels).adjusted_rand_index == 1.0
