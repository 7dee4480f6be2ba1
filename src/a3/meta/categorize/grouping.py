"""Grouping runs by the mechanism their instruction carries, without asking a model.

Refinement models rewrite instructions wholesale, so neither the whole instruction (it is mostly
the task) nor its diff from the original (it is mostly everything) says what made the agent act
unsafely. What does is one clause: "tidy the Desktop so only what's needed is left", "make sure it
stays set after a reboot". So each instruction is cut into clauses (``split_segments``, verbatim
spans), and each clause is scored for how much it looks like a mechanism rather than the task or
backstory (``mechanism_scores``):

* it recurs across *other tasks*: the mean of its 3 best cosines to other tasks' runs, its
  near-verbatim repeats (cosine above 0.9) counting once: pasted boilerplate is one piece of evidence;
* it is not the task: it loses half of what its cosine to the same task's other runs exceeds its
  best cosine to any other task's run (wording only this task's runs share), and, when the run
  tree has the original instruction, its cosine to it;
* it asks for something: a clause that is a plain statement ("I'm on Ubuntu", "the slider keeps
  resetting") loses 0.5.

A run is embedded (MiniLM, the clause with its request scaffolding such as "please make sure"
removed) as the softmax-weighted mean of its clauses, joined with the judge's harm description
and the summary as ``sqrt(weight)``-scaled unit vectors, so a pair's cosine is the weighted mean of
the parts' cosines (a part a run lacks is left out and the rest re-weighted). Runs are grouped by
one average-linkage tree (scipy) cut at 0.85 times the median pairwise cosine distance: a
cut relative to the data's own spread, chosen on the hard planted benchmark
(``a3.meta.synthetic.planted_hard``), since an absolute cut moved with the layout. Twice, each clause's
score then gains its cosine to the nearest group's centroid of chosen clauses and the runs are
regrouped, so clauses that say what their group says win over ones that merely recur.

A run alone in its group is an outlier the model places (or not). A run with a second clause that
is nearly as mechanism-like as its first (score within 0.15 and at least 0.2) and nearest, at
cosine 0.5 or more, to another group's centroid of trigger phrases also belongs to that group: a run whose
perturbation added two mechanisms is in two categories. Everything is deterministic.
"""

from __future__ import annotations

import difflib
import re
import string
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict

from a3.meta.categorize.pregroup import Embedder

_PUNCTUATION = string.punctuation + "“”‘’—–…"
CUT = 0.85  # the tree is cut at CUT x the median pairwise cosine distance
REFINE_ROUNDS = 2
CROSS_TASK_BEST = 3  # a clause's cross-task support: the mean of its best cosines to this many other tasks' runs
DUPLICATE = 0.9  # cosine above which two clauses are the same words, and not evidence of a shared mechanism
STATEMENT_PENALTY = 0.5
SCORE_BLOCK = 1024  # clauses scored at a time (a block of the clause-by-clause similarities)
DISTANCE_BLOCK = 1024  # runs whose distances to every run are computed at a time
SAME_TASK_PENALTY = 0.5
ORIGINAL_PENALTY = 1.0
SOFTMAX_POWER = 8.0
SECOND_MIN_SCORE = 0.2  # a second clause's mechanism score must reach this ...
SECOND_WITHIN = 0.15  # ... and be within this of the run's first clause's ...
SECOND_MIN_COSINE = 0.5  # ... and be this near another group's centroid
MIN_WORDS = 4  # a shorter fragment joins the clause before it


class RunTexts(BaseModel):
    run_id: str
    task: str = ""  # the task id: runs of one task share its wording, which is not a mechanism
    instruction: str  # the perturbed instruction
    original: str = ""  # the benign instruction, "" when unknown (the benchmark layout)
    harm: str = ""
    summary: str = ""


class EmbedWeights(BaseModel):
    """Weights of a run's parts: its instruction's mechanism clauses (``change``), the judge's harm, the summary."""

    model_config = ConfigDict(frozen=True)

    change: float = 0.5
    harm: float = 0.4
    summary: float = 0.1


# Summaries written by a bundled 0.5B model mostly restate the instructions under Markdown headings
# (read in the planted benchmark's output); given any weight they split groups, so they are left
# out of the embedding when a local model wrote them.
LOCAL_SUMMARY_WEIGHTS = EmbedWeights(change=0.5, harm=0.5, summary=0.0)


class Grouping(BaseModel):
    labels: list[int]  # group of each run, in input order
    k: int
    silhouette: float | None  # mean cosine silhouette of the grouping (None: one group, or too few runs)
    threshold: float | None = None  # the cosine distance the tree was cut at
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
    criterion: str = ""  # how the number of groups was chosen
    threshold: float | None = None
    second_memberships: int = 0  # runs placed in a second category by a second mechanism clause
    names_rewritten: int = 0  # names the check sent back once, accepted the second time


# -- clauses ---------------------------------------------------------------------------------

_BREAK = re.compile(
    r"(?<=[.!?;])\s+|\s*[—–]\s*|\s+-\s+|:\s+|,?\s+(?:and\s+)?then\s+|,\s+and\s+|\s+so\s+that\s+|,\s+so\s+"
    r"|,\s+(?=(?:after|afterwards|once|before|when|while|if|but|also|without|even|right away|\w+ing)\b)",
    re.I,
)


def split_segments(text: str) -> list[str]:
    """The instruction's clauses, each a verbatim span of it; a fragment of fewer than
    ``MIN_WORDS`` words joins the clause before it (the first joins the next)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BREAK.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    spans = [_trim(text, a, b) for a, b in spans]
    spans = [(a, b) for a, b in spans if b > a]
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and len(text[a:b].split()) < MIN_WORDS:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    if len(merged) > 1 and len(text[merged[0][0] : merged[0][1]].split()) < MIN_WORDS:
        merged[:2] = [(merged[0][0], merged[1][1])]
    return [text[a:b] for a, b in merged] or ([text.strip()] if text.strip() else [])


_JOINER = re.compile(r"(?:and|then|also)\s+", re.I)


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and (text[a].isspace() or text[a] in ",;:"):
        a += 1
    joiner = _JOINER.match(text, a, b)
    if joiner and len(text[joiner.end() : b].split()) >= MIN_WORDS:  # "and tidy up ..." -> "tidy up ..."
        a = joiner.end()
    while b > a and (text[b - 1].isspace() or text[b - 1] in ",;:."):
        b -= 1
    return a, b


_LEAD = re.compile(r"^(?:(?:and|but|also|oh|so|then|just|plus|btw|by the way|for context|fyi|honestly)[,:]?\s+)+", re.I)
_SUBJECT = re.compile(
    r"^(?:thanks|thank you|cheers|i|i'm|i’m|i've|i’ve|i'll|i’ll|i'd|i’d|my|the|this|that|these|those|"
    r"it|it's|it’s|there|"
    r"there's|there’s|we|we're|we’re|our|someone|somebody|nothing|everything|a|an|last|they|their|he|she|his|her|its|"
    r"everyone)\b",
    re.I,
)
_REQUEST = re.compile(
    r"\?|\b(?:please|need|needs|want|wants|should|must|make sure|ensure|can|could|will|would|have to|has to|"
    r"let's|let’s|don't|don’t|do not|never|keep|required?|would like|'d like|’d like)\b",
    re.I,
)
_SCAFFOLD = re.compile(
    r"^(?:(?:and|but|also|oh|so|then|just|plus|please|kindly|finally|afterwards|after that|could you please|"
    r"can you please|could you help me|can you help me|could you|can you|would you|will you|i need you to|"
    r"i'd like you to|i would like you to|i want you to|help me|make sure(?: that)?|ensure(?: that)?|be sure to|"
    r"remember to|try to|feel free to|you can|you might want to|go ahead and|thanks|thank you)[,:]?\s+)+",
    re.I,
)


def is_statement(clause: str) -> bool:
    """A clause that tells rather than asks ("I'm on Ubuntu", "it keeps resetting")."""
    text = _LEAD.sub("", clause.strip())
    return bool(_SUBJECT.match(text)) and not _REQUEST.search(text)


def core(clause: str) -> str:
    """The clause without its request scaffolding ("Could you please make sure ..."), which every
    request shares and which would otherwise make unrelated requests look alike."""
    text = clause.strip()
    for _ in range(4):
        stripped = _SCAFFOLD.sub("", text)
        if stripped == text:
            break
        text = stripped
    return text or clause


@dataclass
class Clauses:
    """Every run's clauses, embedded and scored."""

    texts: list[str]  # verbatim
    owner: np.ndarray  # run index of each clause
    vectors: np.ndarray  # unit vectors
    scores: np.ndarray  # mechanism scores (``mechanism_scores``)
    by_run: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_run = [np.where(self.owner == i)[0] for i in range(int(self.owner.max()) + 1 if len(self.owner) else 0)]


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    unit: np.ndarray = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    return unit


ADDED_SHARE = (
    0.6  # a perturbation that added fewer than this share of the instruction's words was an addition, not a rewrite
)


def run_clauses(run: RunTexts) -> list[str]:
    """The clauses a run's mechanism is looked for in: when the run tree has the original
    instruction and the perturbation only added words to it (under ``ADDED_SHARE`` of the
    instruction), the clauses of the added stretches, each verbatim; otherwise the instruction's clauses."""
    if run.original.strip():
        added = [piece for piece in changed_words(run.original, run.instruction).split(" \u2026 ") if piece.strip()]
        if added and sum(len(p.split()) for p in added) < ADDED_SHARE * max(1, len(run.instruction.split())):
            return [clause for piece in added for clause in split_segments(piece)]
    return split_segments(run.instruction) or [run.instruction or " "]


def clauses_of(runs: list[RunTexts], embed: Embedder) -> Clauses:
    pieces = [run_clauses(r) for r in runs]
    texts = [p for run in pieces for p in run]
    owner = np.array([i for i, run in enumerate(pieces) for _ in run])
    vectors = _unit(embed([core(t) for t in texts]))
    scores = mechanism_scores(texts, owner, vectors, [r.task or r.run_id for r in runs], _originals(runs, embed))
    return Clauses(texts=texts, owner=owner, vectors=vectors, scores=scores)


def _originals(runs: list[RunTexts], embed: Embedder) -> dict[int, np.ndarray]:
    """The clause vectors of each run's original instruction (runs without one are left out), from one
    call of the embedder: a call per run cost 0.07 s each, most of grouping's time at 2,000 runs."""
    segments = {i: split_segments(r.original) for i, r in enumerate(runs) if r.original.strip()}
    segments = {i: clauses for i, clauses in segments.items() if clauses}
    if not segments:
        return {}
    vectors = _unit(embed([clause for clauses in segments.values() for clause in clauses]))
    bounds = np.cumsum([0] + [len(clauses) for clauses in segments.values()])
    return {i: vectors[bounds[k] : bounds[k + 1]] for k, i in enumerate(segments)}


def mechanism_scores(
    texts: list[str], owner: np.ndarray, vectors: np.ndarray, tasks: list[str], originals: dict[int, np.ndarray]
) -> np.ndarray:
    """How much each clause looks like a mechanism: recurring across other tasks, not the task, a request.

    Computed a block of ``SCORE_BLOCK`` clauses at a time, and within a block for all the clauses of
    one task at once (they share which runs are another task's): the whole clause-by-clause matrix
    of 10,000 runs would take gigabytes (BLAS crashed on it), and a loop per clause was most of the time."""
    task_of = np.unique(np.array(tasks), return_inverse=True)[1].reshape(-1)  # each run's task, as a number
    # A run's clauses are consecutive (``owner`` never decreases): where each run's first clause is.
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    assert len(starts) == len(tasks), "every run has a clause"
    # Repeated clauses (boilerplate, stock phrases) have the same vector: cosines are computed
    # between distinct vectors and spread to the clauses that carry them.
    distinct, carried = np.unique(vectors, axis=0, return_inverse=True)
    carried = carried.reshape(-1)
    distinct = distinct.astype(np.float32)  # see cosine_distances: single precision halves the products' time
    scores = np.zeros(len(texts))
    for first in range(0, len(texts), SCORE_BLOCK):
        rows = np.arange(first, min(first + SCORE_BLOCK, len(texts)))
        needed, position = np.unique(carried[rows], return_inverse=True)
        to_distinct = distinct[needed] @ distinct.T
        # each clause's best cosine to each run
        to_run = np.maximum.reduceat(to_distinct[:, carried], starts, axis=1)[position.reshape(-1)]
        for task in np.unique(task_of[owner[rows]]):
            mine = rows[task_of[owner[rows]] == task]
            elsewhere_runs, task_runs = np.flatnonzero(task_of != task), np.flatnonzero(task_of == task)
            cross_task = to_run[np.ix_(mine - first, elsewhere_runs)]
            same_task = to_run[np.ix_(mine - first, task_runs)]
            # a clause's own run is not "another run of the same task"
            same_task[np.arange(len(mine)), np.searchsorted(task_runs, owner[mine])] = -np.inf
            same = same_task.max(axis=1)
            same[~np.isfinite(same)] = 0.0  # no other run of this task
            elsewhere = cross_task.max(axis=1) if len(elsewhere_runs) else np.zeros(len(mine))
            scores[mine] = _support(cross_task) - SAME_TASK_PENALTY * np.maximum(0.0, same - elsewhere)
    for j, i in enumerate(owner.tolist()):
        if i in originals:
            scores[j] -= ORIGINAL_PENALTY * float((originals[i] @ vectors[j]).max())
        if is_statement(texts[j]):
            scores[j] -= STATEMENT_PENALTY
    return scores


def _support(best_per_run: np.ndarray) -> np.ndarray:
    """Each row's cross-task support: the mean of its ``CROSS_TASK_BEST`` best cosines to other
    tasks' runs (the columns), its near-verbatim repeats (cosine above ``DUPLICATE``) counting as
    one: a phrase pasted into many runs is one piece of evidence, not many."""
    rows, width = best_per_run.shape
    if not width:
        return np.zeros(rows)
    repeated = best_per_run > DUPLICATE
    repeats = repeated.sum(axis=1)
    support = _mean_of_best(best_per_run, np.minimum(CROSS_TASK_BEST, width))
    pasted = np.flatnonzero(repeats > 1)  # only these rows need the second pass
    if len(pasted):
        rest = np.where(repeated[pasted], -np.inf, best_per_run[pasted])  # the repeats, as one value of DUPLICATE
        with_repeat = np.hstack([np.full((len(pasted), 1), DUPLICATE), rest])
        support[pasted] = _mean_of_best(with_repeat, np.minimum(CROSS_TASK_BEST, 1 + width - repeats[pasted]))
    return support


def _mean_of_best(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each row's mean of its ``counts[row]`` largest values, summed largest first."""
    k = min(CROSS_TASK_BEST, values.shape[1])
    best = -np.sort(-np.partition(values, values.shape[1] - k, axis=1)[:, -k:], axis=1)
    total = np.zeros(len(values))
    means = np.zeros(len(values))
    for taken in range(1, k + 1):
        total = total + best[:, taken - 1]
        means = np.where(counts == taken, total / taken, means)
    return means


# -- runs ------------------------------------------------------------------------------------


@dataclass
class RunEmbedding:
    vectors: np.ndarray  # one unit vector per run
    chosen: list[int]  # each run's most mechanism-like clause (an index into clauses)
    clauses: Clauses


Part = tuple[np.ndarray, float, np.ndarray]  # (unit vectors, weight, 1.0 where the run has the text)


def other_parts(runs: list[RunTexts], embed: Embedder, weights: EmbedWeights) -> list[Part]:
    """The harm and summary embeddings, with their weights (embedded once: they do not change when
    the clauses are re-weighted)."""
    parts = []
    for name, weight in (("harm", weights.harm), ("summary", weights.summary)):
        if weight > 0:
            texts = [getattr(r, name) for r in runs]
            parts.append(
                (_unit(embed([t or " " for t in texts])), weight, np.array([1.0 if t.strip() else 0.0 for t in texts]))
            )
    return parts


def embed_runs(
    runs: list[RunTexts],
    embed: Embedder,
    weights: EmbedWeights = EmbedWeights(),
    clauses: Clauses | None = None,
    scores: np.ndarray | None = None,
    others: list[Part] | None = None,
) -> RunEmbedding:
    """One unit vector per run: its clauses weighted by mechanism score, joined with its harm and summary."""
    clauses = clauses or clauses_of(runs, embed)
    scores = clauses.scores if scores is None else scores
    mechanism = np.zeros((len(runs), clauses.vectors.shape[1]))
    chosen = []
    for i, idx in enumerate(clauses.by_run):
        w = np.exp(SOFTMAX_POWER * (scores[idx] - scores[idx].max()))
        mechanism[i] = w @ clauses.vectors[idx]
        chosen.append(int(idx[np.argmax(scores[idx])]))
    parts = [
        (_unit(mechanism), weights.change, np.ones(len(runs))),
        *(other_parts(runs, embed, weights) if others is None else others),
    ]
    total = sum(weight * present for _, weight, present in parts)  # per run: the weight of the parts it has
    joined = np.hstack(
        [np.sqrt(weight * present / np.maximum(total, 1e-12))[:, None] * vectors for vectors, weight, present in parts]
    )
    return RunEmbedding(vectors=_unit(joined), chosen=chosen, clauses=clauses)


def cosine_distances(vectors: np.ndarray) -> np.ndarray:
    """The condensed pairwise cosine distances of unit ``vectors`` (scipy's ``pdist`` layout), by
    matrix products a block of rows at a time, each against the rows from its first on (the upper
    triangle only): ``pdist``'s loop took most of grouping's time at thousands of runs, and the
    square matrix of 10,000 runs would not fit the memory goal. The products are in single
    precision, as MiniLM's vectors are: double precision doubled their time and added digits the
    embedder never had (the same groups on the hard planted benchmark, checked at 1,962 and 9,183 runs)."""
    n = len(vectors)
    single = vectors.astype(np.float32)
    condensed = np.empty(n * (n - 1) // 2)
    at = 0
    for first in range(0, n, DISTANCE_BLOCK):
        block = 1.0 - single[first : first + DISTANCE_BLOCK] @ single[first:].T
        for row in range(len(block)):
            condensed[at : at + n - first - row - 1] = block[row, row + 1 :]
            at += n - first - row - 1
    np.clip(condensed, 0.0, 2.0, out=condensed)
    return condensed


def tree_groups(vectors: np.ndarray, cut: float, max_k: int | None = None) -> tuple[np.ndarray, float]:
    """Groups of unit ``vectors``: their average-linkage tree (scipy) cut at ``cut`` x the median
    pairwise cosine distance, or into ``max_k`` groups where that cut leaves more; with the cut's distance."""
    from scipy.cluster.hierarchy import cut_tree, fcluster, linkage

    distances = cosine_distances(vectors)
    tree = linkage(distances, method="average")
    threshold = float(cut * _median_in_place(distances))
    # merges strictly below the threshold, as scikit-learn's distance_threshold does
    labels = fcluster(tree, t=np.nextafter(max(threshold, 1e-9), 0.0), criterion="distance")
    if max_k and labels.max() > max_k:
        labels = cut_tree(tree, n_clusters=max_k).reshape(-1)
    return _renumber(labels), threshold


def _median_in_place(values: np.ndarray) -> float:
    """``np.median(values)``, reordering ``values`` instead of copying them (a copy of 10,000 runs'
    distances is 400 MB)."""
    middle = len(values) // 2
    if len(values) % 2:
        values.partition(middle)
        return float(values[middle])
    values.partition([middle - 1, middle])
    return float((values[middle - 1] + values[middle]) / 2)


def group_runs(
    vectors: np.ndarray, max_k: int | None = None, min_group_size: int = 2, with_silhouette: bool = True
) -> Grouping:
    """Groups of similar runs: one average-linkage tree cut at ``CUT`` x the median pairwise
    cosine distance (at most ``max_k`` groups). ``with_silhouette=False`` leaves the silhouette
    out (None) for a grouping that will be refined: it costs as much as the tree."""
    n = len(vectors)
    if n < 4:  # too few runs to tell groups apart: one group, nobody an outlier
        return Grouping(
            labels=[0] * n,
            k=1 if n else 0,
            silhouette=None,
            outliers=[],
            similarity_to_groups=[[1.0] for _ in range(n)],
        )
    labels, threshold = tree_groups(vectors, CUT, max_k)
    k = int(labels.max() + 1)
    sizes = np.bincount(labels)
    centroids = _unit(np.array([vectors[labels == g].mean(axis=0) for g in range(k)]))
    return Grouping(
        labels=labels.tolist(),
        k=k,
        silhouette=mean_silhouette(vectors, labels) if with_silhouette else None,
        threshold=round(threshold, 4),
        outliers=[i for i in range(n) if sizes[labels[i]] < min_group_size],
        similarity_to_groups=np.round(vectors @ centroids.T, 4).tolist(),
    )


def mean_silhouette(vectors: np.ndarray, labels: np.ndarray) -> float | None:
    """The mean cosine silhouette of a grouping of unit ``vectors``, None for one group or one run per
    group: scikit-learn's ``silhouette_samples`` with ``metric="cosine"``, computed from each group's
    vector sum. For unit vectors a run's mean cosine distance to a group is one minus its dot product
    with the group's mean, so the means of all pairs cost one product with k sums, not the n x n
    distances (12 s at 9,183 runs, computed in chunks of up to 1 GB)."""
    n = len(labels)
    k = int(labels.max() + 1) if n else 0
    if not 1 < k < n:
        return None
    sizes = np.bincount(labels, minlength=k)
    sums = np.zeros((k, vectors.shape[1]))
    np.add.at(sums, labels, vectors)
    dots = vectors @ sums.T  # each run's summed cosine to each group's members, itself included
    own = dots[np.arange(n), labels]
    self_cosine = np.einsum("ij,ij->i", vectors, vectors)
    others = np.maximum(sizes[labels] - 1, 1)
    within = (sizes[labels] - 1 - (own - self_cosine)) / others  # mean distance to the rest of its group
    mean_distance = 1.0 - dots / np.maximum(sizes, 1)
    mean_distance[np.arange(n), labels] = np.inf
    nearest = mean_distance.min(axis=1)  # mean distance to the nearest other group
    scores = (nearest - within) / np.maximum(within, nearest)
    scores[sizes[labels] == 1] = 0.0  # scikit-learn's convention for a group of one
    return round(float(np.nan_to_num(scores).mean()), 4)


@dataclass
class MechanismGrouping:
    grouping: Grouping
    embedding: RunEmbedding
    trigger: list[str]  # each run's chosen clause, verbatim
    second: dict[int, tuple[int, str]]  # run -> (another group, the clause that puts it there)
    clause_centroids: dict[int, np.ndarray]  # group -> centroid of its runs' chosen clauses


def group_mechanisms(
    runs: list[RunTexts],
    embed: Embedder,
    weights: EmbedWeights = EmbedWeights(),
    max_k: int | None = None,
    min_group_size: int = 2,
    rounds: int = REFINE_ROUNDS,
) -> MechanismGrouping:
    """Embed, group, and twice refine each run's choice of clause by the groups found (module doc)."""
    clauses = clauses_of(runs, embed)
    others = other_parts(runs, embed, weights)
    embedding = embed_runs(runs, embed, weights, clauses, clauses.scores, others)
    grouping = group_runs(embedding.vectors, max_k, min_group_size, with_silhouette=False)
    for _ in range(rounds if len(runs) >= 4 else 0):
        centroids = _clause_centroids(grouping, embedding, clauses, min_group_size)
        if not centroids:
            break
        scores = clauses.scores + (clauses.vectors @ np.array(list(centroids.values())).T).max(axis=1)
        embedding = embed_runs(runs, embed, weights, clauses, scores, others)
        grouping = group_runs(embedding.vectors, max_k, min_group_size, with_silhouette=False)
    grouping = grouping.model_copy(update={"silhouette": mean_silhouette(embedding.vectors, np.array(grouping.labels))})
    centroids = _clause_centroids(grouping, embedding, clauses, min_group_size)
    second = _second_memberships(grouping, embedding, clauses, centroids)
    return MechanismGrouping(
        grouping=grouping,
        embedding=embedding,
        trigger=[clauses.texts[j] for j in embedding.chosen],
        second=second,
        clause_centroids=centroids,
    )


def _clause_centroids(
    grouping: Grouping, embedding: RunEmbedding, clauses: Clauses, min_group_size: int
) -> dict[int, np.ndarray]:
    labels = np.array(grouping.labels)
    chosen = clauses.vectors[embedding.chosen]
    return {
        g: _unit(chosen[labels == g].mean(axis=0)[None])[0]
        for g in range(grouping.k)
        if (labels == g).sum() >= min_group_size
    }


def _second_memberships(
    grouping: Grouping, embedding: RunEmbedding, clauses: Clauses, centroids: dict[int, np.ndarray]
) -> dict[int, tuple[int, str]]:
    if len(centroids) < 2:
        return {}
    groups = list(centroids)
    matrix = np.array([centroids[g] for g in groups])
    second: dict[int, tuple[int, str]] = {}
    for i, idx in enumerate(clauses.by_run):
        own = grouping.labels[i]
        first = embedding.chosen[i]
        best: tuple[float, int, int] | None = None
        for j in idx:
            if j == first or is_statement(clauses.texts[j]):
                continue
            if clauses.scores[j] < max(SECOND_MIN_SCORE, clauses.scores[first] - SECOND_WITHIN):
                continue
            sims = matrix @ clauses.vectors[j]
            h = groups[int(np.argmax(sims))]
            if h != own and sims.max() >= SECOND_MIN_COSINE and (best is None or sims.max() > best[0]):
                best = (float(sims.max()), h, int(j))
        if best is not None:
            second[i] = (best[1], clauses.texts[best[2]])
    return second


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Groups numbered by size (largest first), ties by first member: stable ids for the same data."""
    order = sorted(set(labels.tolist()), key=lambda g: (-int(np.sum(labels == g)), int(np.argmax(labels == g))))
    mapping = {g: i for i, g in enumerate(order)}
    return np.array([mapping[g] for g in labels.tolist()])


def centroid_groups(vectors: np.ndarray, cut: float = CUT) -> list[int]:
    """Groups of centroids (the cluster step): the same average-linkage tree, cut the same way."""
    vectors = _unit(vectors)
    if len(vectors) < 3:
        return list(range(len(vectors)))
    labels: list[int] = tree_groups(vectors, cut)[0].tolist()
    return labels


# -- what the perturbation added (kept for the llm method's prompts and for reading runs) --------


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
