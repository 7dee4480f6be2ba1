"""Grouping runs by what changed, without asking a model: embeddings, then clusters whose number
the silhouette chooses.

A run is embedded from three texts: the words the perturbation put into the benign instruction
(its mechanism, most directly), the judge's description of the harm, and the run's summary.
Each is embedded with MiniLM on its own and the unit vectors are joined with weights, so the
cosine of two runs is the weighted mean of the three texts' cosines. Grouping is one Ward tree
of those unit vectors, cut at the k (2 to 40) where the mean cosine silhouette first peaks. Runs with a silhouette below 0.05 (about as near, on average, to another group as to
their own) and runs left alone in a group are the outliers the model is asked to place.
Everything is deterministic.
"""

from __future__ import annotations

import difflib
import math
import string

import numpy as np
from pydantic import BaseModel, ConfigDict

from a3.meta.pregroup import Embedder

_PUNCTUATION = string.punctuation + "“”‘’—–…"
MAX_GROUPS = 40
OUTLIER_SILHOUETTE = 0.05  # a run this close to another group as to its own is the model's to place


class RunTexts(BaseModel):
    run_id: str
    change: str  # the words the perturbation put into the original instruction
    harm: str
    summary: str


class EmbedWeights(BaseModel):
    model_config = ConfigDict(frozen=True)

    change: float = 0.6
    harm: float = 0.3
    summary: float = 0.1


# Summaries written by a bundled 0.5B model mostly restate the instructions under Markdown headings
# (read in the planted benchmark's output); given any weight they split groups (ARI 0.81 against
# 0.94 without them), so they are left out of the embedding when a local model wrote them.
LOCAL_SUMMARY_WEIGHTS = EmbedWeights(change=0.6, harm=0.4, summary=0.0)


class Grouping(BaseModel):
    labels: list[int]  # group of each run, in input order
    k: int
    silhouette: float | None  # mean silhouette of the chosen k (None: too few runs to compare k)
    outliers: list[int]  # indices of runs to be placed by the model
    similarity_to_groups: list[list[float]]  # cosine of each run to each group's centroid


class GroupingStats(BaseModel):
    """What the embedding categorization did, kept in the categorization's metadata."""

    method: str = "embed"
    weights: EmbedWeights
    groups: int
    silhouette: float | None
    outliers: int
    outliers_placed: int
    outliers_unplaced: int
    names_from_model: int
    names_by_fallback: int
    sequential_llm_rounds: int


def changed_words(original: str, perturbed: str) -> str:
    """The perturbed instruction's words that are not in the original, as they appear (joined by
    " … " where they are apart). The whole perturbed instruction when the original is unknown."""
    if not original.strip():
        return perturbed.strip()
    before, after = original.split(), perturbed.split()
    matcher = difflib.SequenceMatcher(None, [_bare(w) for w in before], [_bare(w) for w in after], autojunk=False)
    pieces = [" ".join(after[j1:j2]) for tag, _i1, _i2, j1, j2 in matcher.get_opcodes() if tag in ("insert", "replace")]
    pieces = [p.strip(_PUNCTUATION + " ") for p in pieces]
    return " … ".join(p for p in pieces if p) or perturbed.strip()


def _bare(word: str) -> str:
    return word.strip(_PUNCTUATION).lower()


def embed_runs(runs: list[RunTexts], embed: Embedder, weights: EmbedWeights = EmbedWeights()) -> np.ndarray:
    """One unit vector per run: the weighted join of its texts' embeddings (an empty text adds nothing)."""
    parts = []
    for field, weight in (("change", weights.change), ("harm", weights.harm), ("summary", weights.summary)):
        if weight <= 0:
            continue
        texts = [getattr(r, field) for r in runs]
        vectors = np.asarray(embed([t or " " for t in texts]), dtype=np.float64)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        vectors[[i for i, t in enumerate(texts) if not t.strip()]] = 0.0
        parts.append(math.sqrt(weight) * vectors)
    joined = np.hstack(parts)
    return joined / (np.linalg.norm(joined, axis=1, keepdims=True) + 1e-12)


def group_runs(vectors: np.ndarray, max_k: int | None = None, min_group_size: int = 2) -> Grouping:
    """Groups of similar runs: one Ward tree, cut at the k the silhouette chooses (``_choose_k``)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import silhouette_samples

    n = len(vectors)
    if n < 4:  # too few runs for a silhouette to compare groupings: one group, nobody an outlier
        return Grouping(labels=[0] * n, k=1 if n else 0, silhouette=None, outliers=[],
                        similarity_to_groups=[[1.0] for _ in range(n)])
    chosen = _choose_k(vectors, max_k or MAX_GROUPS)
    labels = fcluster(linkage(vectors, method="ward"), chosen, criterion="maxclust")
    samples = silhouette_samples(vectors, labels, metric="cosine") if len(set(labels.tolist())) > 1 else np.zeros(n)
    labels = _renumber(labels)
    centroids = np.array([vectors[labels == g].mean(axis=0) for g in range(labels.max() + 1)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12
    sizes = np.bincount(labels)
    outliers = [i for i in range(n) if samples[i] < OUTLIER_SILHOUETTE or sizes[labels[i]] < min_group_size]
    return Grouping(labels=labels.tolist(), k=int(labels.max() + 1), silhouette=round(float(samples.mean()), 4), outliers=outliers,
                    similarity_to_groups=np.round(vectors @ centroids.T, 4).tolist())


def _choose_k(vectors: np.ndarray, max_k: int) -> int:
    """The k where the mean cosine silhouette of the Ward tree's cuts first peaks."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import silhouette_score

    tree = linkage(vectors, method="ward")
    scores = {}
    for k in range(2, min(len(vectors) - 1, max_k) + 1):
        labels = fcluster(tree, k, criterion="maxclust")
        if len(set(labels.tolist())) > 1:
            scores[k] = float(silhouette_score(vectors, labels, metric="cosine"))
    return first_peak(scores) if scores else 1


def first_peak(silhouettes: dict[int, float]) -> int:
    """The smallest k whose silhouette is at least that of the next two k, else the best k.

    The global maximum is the textbook choice, but once groups are small the silhouette rises
    again as they shrink towards runs of identical wording; the first peak is where the groups
    are real (measured on the planted benchmark: docs/design-notes.md)."""
    ks = sorted(silhouettes)
    for index, k in enumerate(ks):
        ahead = [silhouettes[j] for j in ks[index + 1:index + 3]]
        if len(ahead) == 2 and all(silhouettes[k] >= value for value in ahead):
            return k
    return max(ks, key=lambda k: (silhouettes[k], -k))


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Groups numbered by size (largest first), ties by first member: stable ids for the same data."""
    order = sorted(set(labels.tolist()), key=lambda g: (-int(np.sum(labels == g)), int(np.argmax(labels == g))))
    mapping = {g: i for i, g in enumerate(order)}
    return np.array([mapping[g] for g in labels.tolist()])
