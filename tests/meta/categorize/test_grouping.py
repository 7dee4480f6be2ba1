"""The grouping's arithmetic against its plain definitions: the blocked cosine distances, the
vectorised mechanism scores and the tree cut (the fast forms must not change a result)."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import silhouette_score

from a3.meta.categorize import grouping
from a3.meta.categorize.grouping import (
    RunTexts,
    clauses_of,
    cosine_distances,
    is_statement,
    mean_silhouette,
    mechanism_scores,
    run_clauses,
    split_segments,
    tree_groups,
)
from a3.testing.embedders import hashing_embedder


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vectors = rng.normal(size=(n, dim))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_cosine_distances_are_scipys_across_blocks():
    vectors = unit_rows(np.random.default_rng(0), grouping.DISTANCE_BLOCK + 6, 8)
    # the products are in single precision, as the embedder's vectors are
    assert np.allclose(cosine_distances(vectors), pdist(vectors, "cosine"), atol=1e-6)


def reference_scores(texts, owner, vectors, tasks, originals):
    """Each clause's score computed one clause at a time, as the module's docstring defines it."""
    runs = range(len(tasks))
    scores = []
    for j, i in enumerate(owner):
        best = np.array([max(vectors[j] @ vectors[k] for k in np.flatnonzero(owner == r)) for r in runs])
        other = np.array([tasks[r] != tasks[i] for r in runs])
        same = np.array([tasks[r] == tasks[i] and r != i for r in runs])
        values = sorted(best[other], reverse=True)
        if sum(v > grouping.DUPLICATE for v in values) > 1:
            values = [grouping.DUPLICATE] + [v for v in values if v <= grouping.DUPLICATE]
        support = float(np.mean(values[: grouping.CROSS_TASK_BEST])) if values else 0.0
        same_best = best[same].max() if same.any() else 0.0
        elsewhere = best[other].max() if other.any() else 0.0
        score = support - grouping.SAME_TASK_PENALTY * max(0.0, same_best - elsewhere)
        score -= grouping.ORIGINAL_PENALTY * ((originals[i] @ vectors[j]).max() if i in originals else 0.0)
        scores.append(score - (grouping.STATEMENT_PENALTY if is_statement(texts[j]) else 0.0))
    return np.array(scores)


@pytest.mark.parametrize("block", [5, 1024])
def test_mechanism_scores_match_their_definition(monkeypatch, block):
    """Blocks that cut through runs, a task with one run, pasted repeats (identical vectors, also
    across tasks), originals and statements."""
    monkeypatch.setattr(grouping, "SCORE_BLOCK", block)
    rng = np.random.default_rng(1)
    owner = np.repeat(np.arange(9), [3, 2, 4, 1, 3, 2, 3, 2, 1])
    vectors = unit_rows(rng, len(owner), 6)
    pasted = vectors[0].copy()
    for j in (0, 5, 9, 17, 20):  # the same clause in runs of different tasks
        vectors[j] = pasted
    tasks = ["copy", "copy", "move", "zip", "zip", "move", "rename", "copy", "zip"]
    texts = [f"please make sure step {j} is done" if j % 4 else "I'm on Ubuntu." for j in range(len(owner))]
    originals = {2: unit_rows(rng, 2, 6), 7: unit_rows(rng, 1, 6)}
    expected = reference_scores(texts, owner, vectors, tasks, originals)
    assert np.allclose(mechanism_scores(texts, owner, vectors, tasks, originals), expected, atol=1e-12)


def test_tree_groups_are_scikit_learns_partition():
    """The scipy tree cut where scikit-learn's average-linkage tree is cut: by distance, and into max_k groups."""
    rng = np.random.default_rng(2)
    centres = unit_rows(rng, 5, 12)
    vectors = np.vstack([centre + 0.3 * rng.normal(size=(12, 12)) for centre in centres])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels, threshold = tree_groups(vectors, 0.85)
    assert threshold == pytest.approx(0.85 * np.median(pdist(vectors, "cosine")))
    theirs = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=threshold
    ).fit_predict(vectors)
    assert same_partition(labels, theirs) and labels.max() + 1 > 3
    labels, _ = tree_groups(vectors, 0.85, max_k=3)
    theirs = AgglomerativeClustering(n_clusters=3, metric="cosine", linkage="average").fit_predict(vectors)
    assert same_partition(labels, theirs)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_clauses_embed_every_original_in_one_call():
    """Runs with their original instructions: the embedder is called twice whatever the number of runs
    (a call per run was most of grouping's time), and each clause's score is the one that each run's
    original, embedded alone, gives."""
    embed = hashing_embedder()
    calls: list[int] = []

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return embed(texts)

    tasks = [
        "Copy the photos into the backup folder. Then keep every one of the original file names.",
        "Rename the invoices by date.",
    ]
    runs = [
        RunTexts(
            run_id=f"run-{i}",
            task=f"task-{i % 2}",
            original=tasks[i % 2] if i != 3 else "",
            instruction=f"{tasks[i % 2]} Then keep every one of the file names tidy and short, number {i}.",
        )
        for i in range(6)
    ]
    assert len(split_segments(tasks[0])) == 2  # a run's original of two clauses, each kept
    found = clauses_of(runs, counting)
    assert len(calls) == 2
    originals = {i: embed(split_segments(r.original)) for i, r in enumerate(runs) if r.original}
    texts = [c for r in runs for c in run_clauses(r)]
    expected = mechanism_scores(texts, found.owner, found.vectors, [r.task for r in runs], originals)
    assert np.allclose(found.scores, expected, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_silhouette_is_scikit_learns(seed):
    """The silhouette from group sums equals scikit-learn's cosine silhouette, a group of one included."""
    rng = np.random.default_rng(seed)
    vectors = unit_rows(rng, 60, 5)
    labels = rng.integers(0, 4, size=60)
    labels[7] = 4  # a group of one
    expected = round(float(silhouette_score(vectors, labels, metric="cosine")), 4)
    assert mean_silhouette(vectors, labels) == expected


def test_mean_silhouette_needs_two_groups_and_fewer_groups_than_runs():
    vectors = unit_rows(np.random.default_rng(3), 4, 3)
    assert mean_silhouette(vectors, np.zeros(4, dtype=int)) is None
    assert mean_silhouette(vectors, np.arange(4)) is None


@pytest.mark.parametrize("n", [5, 6])  # 10 pairs and 15: the median of an even and an odd count
def test_tree_cut_is_relative_to_the_median_distance(n):
    vectors = unit_rows(np.random.default_rng(n), n, 4)
    _, threshold = tree_groups(vectors, 0.85)
    assert threshold == pytest.approx(0.85 * float(np.median(pdist(vectors, "cosine"))), abs=1e-6)
