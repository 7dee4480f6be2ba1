"""A categorization (and its clusters) scored against known labels: the planted mechanisms of the
hard benchmark, or a reader's themes of real runs.

Labels give each run one or more keys, the first its primary. Scores, as Clio measured its
planted categories: runs placed; the adjusted Rand index of each run's first category against
its primary key (a run in no category is a group of its own); keys recovered (some category
holds at least half of the key's runs with at least half of its own runs from it); runs with two
keys placed in categories of both; and, given each key's family, the adjusted Rand index of
each run's cluster against its family.
"""

from __future__ import annotations

from pydantic import BaseModel

from a3.meta.formats import CategoryEntry, ClusterEntry


class CategoryRow(BaseModel):
    id: str
    name: str
    name_source: str  # "model" or "fallback" (the categorization's own record; "model" when it has none)
    runs: int
    majority: str  # the primary key most of its runs have
    purity: float


class LabelScore(BaseModel):
    runs: int
    placed: int
    placed_share: float
    adjusted_rand_index: float
    keys: int
    recovered: list[str]
    recovered_share: float
    two_key_runs: int
    two_key_runs_in_both: int  # placed in a category whose majority is each of its two keys
    categories: list[CategoryRow]
    clusters: int | None = None
    cluster_adjusted_rand_index: float | None = None  # against the keys' families
    names_from_model: int = 0
    names_by_fallback: int = 0


def score_against(
    categories: list[CategoryEntry],
    clusters: list[ClusterEntry] | None,
    labels: dict[str, list[str]],
    families: dict[str, str] | None = None,
) -> LabelScore:
    """``categories`` (a categorization's) and their ``clusters`` scored; ``labels``: run id -> keys
    (primary first), only these runs are scored; ``families``: key -> family, for the clusters' score."""
    from sklearn.metrics import adjusted_rand_score

    runs = sorted(labels)
    homes: dict[str, list[str]] = {run: [] for run in runs}
    rows: dict[str, CategoryEntry] = {}
    for category in categories:
        cid = category.category_id
        rows[cid] = category
        for example in category.examples:
            run = example.run_id
            if run in homes and cid not in homes[run]:
                homes[run].append(cid)
    primary = {run: labels[run][0] for run in runs}
    predicted = [homes[run][0] if homes[run] else f"unassigned:{run}" for run in runs]
    truth = [primary[run] for run in runs]
    keys = sorted(set(truth))
    table, recovered, majority = [], set(), {}
    for cid, category in rows.items():
        members = [primary[r] for r in runs if cid in homes[r]]
        if not members:
            continue
        top = max(sorted(set(members)), key=members.count)
        majority[cid] = top
        purity = members.count(top) / len(members)
        table.append(
            CategoryRow(
                id=cid,
                name=category.category_name,
                name_source=category.name_source or "model",
                runs=len(members),
                majority=top,
                purity=round(purity, 3),
            )
        )
        if purity >= 0.5 and members.count(top) / truth.count(top) >= 0.5:
            recovered.add(top)
    two = [r for r in runs if len(labels[r]) > 1]
    both = sum(1 for r in two if set(labels[r][:2]) <= {majority.get(c) for c in homes[r]})
    placed = sum(1 for r in runs if homes[r])
    score = LabelScore(
        runs=len(runs),
        placed=placed,
        placed_share=round(placed / len(runs), 4) if runs else 0.0,
        adjusted_rand_index=round(float(adjusted_rand_score(truth, predicted)), 4),
        keys=len(keys),
        recovered=sorted(recovered),
        recovered_share=round(len(recovered) / len(keys), 4) if keys else 0.0,
        two_key_runs=len(two),
        two_key_runs_in_both=both,
        categories=sorted(table, key=lambda c: -c.runs),
        names_from_model=sum(1 for c in table if c.name_source == "model"),
        names_by_fallback=sum(1 for c in table if c.name_source != "model"),
    )
    if clusters is not None and families is not None:
        cluster_of = {}
        for index, cluster in enumerate(clusters):
            for member in cluster.member_categories:
                cluster_of[member.category_id or member.category_name] = index
        placed_cluster = [f"k{cluster_of.get(homes[r][0], 'none')}" if homes[r] else f"unassigned:{r}" for r in runs]
        score.clusters = len(clusters)
        score.cluster_adjusted_rand_index = round(
            float(adjusted_rand_score([families[primary[r]] for r in runs], placed_cluster)), 4
        )
    return score
