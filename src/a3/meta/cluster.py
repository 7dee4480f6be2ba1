"""Step 4a, ``a3 meta cluster``: categories into higher-level clusters.

``method="embed"`` (the default) groups the categories by the same embeddings that made them: each
category's centroid (the mean of its runs' embeddings, kept in the categorization; for a
categorization without centroids, such as the original's, the mean embedding of its trigger
phrases and name) goes into one average-linkage tree, cut at ``CLUSTER_CUT`` times the median
pairwise cosine distance. The model only names each cluster of two or more categories; the name
is checked against the cluster's trigger phrases as category names are
(``categorize_embed.check_names``), sent back once if it fails, and replaced by the name of the
cluster's most central category if it fails again (``name_source`` says which). A cluster of one
category keeps the category's name.

``method="llm"`` is the original's: the model refers to categories by id and never restates them,
and a reply must place every category in exactly one cluster. With more categories than fit one
call, chunks are clustered concurrently and the resulting clusters are clustered again, until one
call holds them all or a level merges nothing more.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from a3.errors import UserInputError
from a3.llm import CallConfig, LLMCallError, LLMClient, StructuredOutputError
from a3.llm.structured import latest_valid
from a3.meta.categorize.embed import FALLBACK, MODEL, REWRITTEN, bare_name, check_names
from a3.meta.categorize.evidence import banned_name, normalise
from a3.meta.categorize.grouping import centroid_groups, core
from a3.meta.categorize.pregroup import Embedder
from a3.meta.elicitation_runs import sanitise
from a3.meta.formats import (
    Categorization,
    CategoryEntry,
    ClusterEntry,
    ClusterMember,
    ClusterMetadata,
    Clusters,
    ClusterStatistics,
    Phrases,
    read_clusters,
    write_clusters,
)
from a3.meta.settings import LLMSettings
from a3.prompts import load_prompt
from a3.store import RunDir, atomic_write_json, file_sha256, read_json

STAGE = "cluster"
RESULT = "clusters_result.json"  # where the finished clusters file is, in the work dir


# The categories' tree is cut at this x the median pairwise cosine distance (learnt on the hard planted
# benchmark's families).
CLUSTER_CUT = 0.9
MEMBER_FLOOR = 0.2  # a cluster's name needs at least this cosine with each member category's trigger phrases


class ClusterOptions(LLMSettings):
    """How ``cluster_categories`` groups categories: by their centroids (the model naming) or the original's way."""

    api_max_tokens: ClassVar[int] = 64000  # the original's allowance for GPT-5 here

    # "embed": categories grouped by their centroids, the model only names the clusters;
    # "llm": the original's, the model groups the categories.
    method: Literal["embed", "llm"] = "embed"
    max_categories_per_call: int = 40
    examples_shown: int = 5


class Member(BaseModel):
    category: str
    justification: str = ""


class ClusterDraft(BaseModel):
    name: str = Field(min_length=3)
    definition: str = ""
    anchor_phrases: Phrases = ""
    members: list[Member] = Field(min_length=1)


class ClusterReply(BaseModel):
    clusters: list[ClusterDraft] = Field(min_length=1)


def cluster_schema(ids: list[str], complete_with: dict[str, str] | None = None) -> type[ClusterReply]:
    """Every id in exactly one cluster. ``complete_with`` (id -> name), used only on a reply that
    already failed that rule, accepts it with repeats dropped (the first cluster keeps an id) and
    each missing id as a cluster of its own, which the rule allows anyway."""

    class ListedMember(Member):
        category: str = Field(json_schema_extra={"enum": [*ids]})  # guides schema-following decoders

    class ListedDraft(ClusterDraft):
        members: list[ListedMember] = Field(min_length=1)  # type: ignore[assignment]  # narrower items

    ListedMember.__name__, ListedDraft.__name__ = "Member", "ClusterDraft"

    class CheckedClusterReply(ClusterReply):
        clusters: list[ListedDraft] = Field(min_length=1)  # type: ignore[assignment]  # narrower items

        @model_validator(mode="after")
        def _exactly_once(self) -> CheckedClusterReply:
            placed = [m.category.strip() for c in self.clusters for m in c.members]
            unknown = sorted(set(placed) - set(ids))
            if unknown:
                raise ValueError(f"unknown ids {unknown}; use only {ids}")
            if complete_with is not None:
                self._complete(complete_with)
                return self
            twice = sorted({i for i in placed if placed.count(i) > 1})
            if twice:
                raise ValueError(f"ids {twice} are in more than one cluster; each must be in exactly one")
            missing = [i for i in ids if i not in placed]
            if missing:
                raise ValueError(
                    f"ids {missing} are in no cluster; every id must be in exactly one (a cluster of its own is fine)"
                )
            return self

        def _complete(self, names: dict[str, str]) -> None:
            seen: set[str] = set()
            for cluster in self.clusters:
                kept = []
                for member in cluster.members:
                    if member.category.strip() not in seen:
                        seen.add(member.category.strip())
                        kept.append(member)
                cluster.members = kept
            self.clusters = [c for c in self.clusters if c.members]
            for missing in [i for i in ids if i not in seen]:
                self.clusters.append(
                    ListedDraft(
                        name=names[missing],
                        definition="a cluster of its own: the model placed it nowhere",
                        members=[ListedMember(category=missing, justification="placed by A3")],
                    )
                )

    CheckedClusterReply.__name__ = "ClusterReply"
    return CheckedClusterReply


@dataclass
class _Item:
    """A category, or (at higher levels) a cluster of categories, as shown to the model."""

    id: str
    name: str
    definition: str
    size: int
    triggers: list[str]
    categories: list[tuple[str, str]]  # (category id, justification) it stands for


async def cluster_categories(
    categorization: Categorization,
    run_dir: RunDir,
    client: LLMClient,
    options: ClusterOptions = ClusterOptions(),
    output_dir: Path | None = None,
    embedder: Embedder | None = None,
) -> Clusters:
    """Group the categorization's categories into clusters, in a clusters file.

    The file goes beside the categorization (or in ``output_dir``); it is read back when these clusters
    were finished before."""
    source = categorization.path.resolve()
    categories = categorization.categories
    if not categories:
        unassigned = len(categorization.categorization.unassigned)
        raise UserInputError(
            f"{source}: has no categories to cluster"
            + (
                f" ({unassigned} runs, all unassigned: see their reasons in the file)"
                if unassigned
                else " (it holds no runs)"
            )
        )
    prompt = load_prompt("meta_cluster" if options.method == "llm" else "meta_name_cluster")
    out_dir = Path(output_dir) if output_dir else source.parent / f"clusters_{sanitise(options.model)}"
    stage = run_dir.stage(
        STAGE,
        inputs={"categorization": file_sha256(source), "options": options.model_dump()},
        prompt_versions={prompt.name: prompt.version},
        models={"clusterer": options.model},
    )
    with stage:
        if stage.skipped:
            return read_clusters(Path(read_json(run_dir.path / RESULT)["path"]))
        config = options.call_config()
        if options.method == "embed":
            if embedder is None:
                from a3.meta.categorize.pregroup import minilm_embedder

                embedder = minilm_embedder()
            entries, levels = (
                await _by_centroids(categories, client, config, prompt, embedder, options.examples_shown),
                1,
            )
        else:
            entries, levels = await _by_model(categories, client, config, prompt, options)
        usage = run_dir.ledger.totals(stage=STAGE)
        clusters = Clusters(
            clusters=entries,
            statistics=ClusterStatistics(
                input_categories=len(categories),
                output_clusters=len(entries),
                levels=levels,
                unclustered_by_failure=sum(1 for e in entries if e.definition.startswith(UNCLUSTERED)),
                llm_calls=usage.calls,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                total_tokens=usage.input_tokens + usage.output_tokens,
                cost=round(usage.cost_usd, 8),
                unpriced_calls=usage.unpriced_calls,
            ),
            metadata=ClusterMetadata(
                input_path=str(source),
                method=options.method,
                model_name=options.model,
                max_tokens=config.max_tokens,
                temperature=options.temperature,
                max_categories_per_call=options.max_categories_per_call,
                prompt_version=prompt.version,
                generated_at=datetime.now().isoformat(timespec="seconds"),
            ),
            path=out_dir / f"llm_clusters_{datetime.now():%Y%m%d_%H%M%S}.json",
        )
        write_clusters(clusters)
        atomic_write_json(run_dir.path / RESULT, {"path": str(clusters.path)})
    return clusters


class ClusterName(BaseModel):
    name: str = Field(min_length=3, max_length=100)
    definition: str = Field(min_length=10)
    anchor_phrases: Phrases = ""


def cluster_name_schema(taken: set[str]) -> type[ClusterName]:
    class CheckedClusterName(ClusterName):
        @model_validator(mode="after")
        def _rules(self) -> CheckedClusterName:
            family = banned_name(self.name)
            if family:
                raise ValueError(f"'{self.name}' is the broad strategy family '{family}'; name the shared root cause")
            if normalise(self.name) in taken:
                raise ValueError(f"'{self.name}' is already a member's or another cluster's name; choose another")
            return self

    CheckedClusterName.__name__ = "ClusterName"
    return CheckedClusterName


def category_vectors(categories: list[CategoryEntry], embedder: Embedder) -> tuple[np.ndarray, np.ndarray]:
    """(centroids the clusters are made from, trigger-phrase centroids names are checked against):
    the categorization's own centroids when every category has one, else the mean embedding of
    each category's trigger phrases and name."""
    triggers = []
    for category in categories:
        phrases = [core(e.trigger_phrase) for e in category.examples if e.trigger_phrase] or [
            f"{bare_name(category.category_name)}. {category.definition}"
        ]
        vectors = np.asarray(embedder(phrases), dtype=np.float64)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        centre = vectors.mean(axis=0)
        triggers.append(centre / (np.linalg.norm(centre) + 1e-12))
    trigger_matrix = np.array(triggers)
    if all(c.centroid for c in categories) and len({len(c.centroid or []) for c in categories}) == 1:
        return np.array([c.centroid for c in categories], dtype=np.float64), trigger_matrix
    named = np.asarray(
        embedder([f"{bare_name(c.category_name)}. {c.definition}" for c in categories]), dtype=np.float64
    )
    named /= np.linalg.norm(named, axis=1, keepdims=True) + 1e-12
    mixed = trigger_matrix + 0.5 * named
    return mixed / (np.linalg.norm(mixed, axis=1, keepdims=True) + 1e-12), trigger_matrix


async def _by_centroids(
    categories: list[CategoryEntry],
    client: LLMClient,
    config: CallConfig,
    prompt: Any,
    embedder: Embedder,
    examples_shown: int,
) -> list[ClusterEntry]:
    """Categories grouped by their centroids; the model names each cluster of two or more, and
    its name is checked as category names are."""
    centroids, triggers = category_vectors(categories, embedder)
    labels = centroid_groups(centroids, CLUSTER_CUT)
    members = [[i for i, g in enumerate(labels) if g == label] for label in range(max(labels) + 1)]
    cluster_centres = np.array([centroids[m].mean(axis=0) for m in members])
    cluster_centres /= np.linalg.norm(cluster_centres, axis=1, keepdims=True) + 1e-12
    trigger_centres = np.array([triggers[m].mean(axis=0) for m in members])
    trigger_centres /= np.linalg.norm(trigger_centres, axis=1, keepdims=True) + 1e-12
    member_names = {normalise(c.category_name) for c in categories}

    def block(group: list[int]) -> str:
        lines = []
        for i in sorted(group, key=lambda i: -len(categories[i].examples)):
            c = categories[i]
            phrases = "; ".join(
                f"\u201c{e.trigger_phrase}\u201d" for e in c.examples[:examples_shown] if e.trigger_phrase
            )
            lines.append(
                f"- {c.category_name}\n  Definition: {c.definition}\n  Runs: {len(c.examples)}"
                + (f"\n  Trigger phrases: {phrases}" if phrases else "")
            )
        return "\n".join(lines)

    async def ask(group: list[int], taken: set[str], feedback: str) -> ClusterName | None:
        text = prompt.render(
            categories=block(group),
            feedback=feedback,
            taken=("\n\nThese names are taken; choose a different one: " + "; ".join(sorted(taken))) if taken else "",
        )
        try:
            completion = await client.generate(
                text, config=config, schema=cluster_name_schema(taken), prompt_version=prompt.version
            )
        except (LLMCallError, StructuredOutputError):
            return None
        name: ClusterName = completion.parsed
        return name

    several = [k for k, m in enumerate(members) if len(m) > 1]
    replies = dict(
        zip(several, await asyncio.gather(*(ask(members[k], member_names, "") for k in several)), strict=True)
    )

    def fits(reply: ClusterName, k: int) -> str:
        """Why the name does not describe the cluster ("" when it does): checked as category names
        are, and it must also be near each member category's trigger phrases."""
        check = check_names([(reply.name, reply.definition)], [k], trigger_centres, embedder)[0]
        if not check.passed:
            return (
                "is nearer to another cluster's trigger phrases"
                if check.nearest != k
                else "does not say what their trigger phrases ask"
            )
        vector = np.asarray(embedder([bare_name(reply.name)]), dtype=np.float64)[0]
        vector /= np.linalg.norm(vector) + 1e-12
        if float(np.min(triggers[members[k]] @ vector)) < MEMBER_FLOOR:
            return "does not describe every member category's trigger phrases"
        return ""

    names: dict[int, tuple[str, str, str, str]] = {}  # cluster -> (name, definition, anchors, source)
    for k in several:
        reply = replies[k]
        if reply is None:
            continue
        reason = fits(reply, k)
        source = MODEL
        if reason:
            feedback = f"\n\nAn earlier answer named this cluster \u201c{reply.name}\u201d, but that name {reason}."
            again = await ask(members[k], member_names, feedback)
            if again is None or fits(again, k):
                continue
            reply, source = again, REWRITTEN
        names[k] = (reply.name.strip(), reply.definition.strip(), reply.anchor_phrases, source)
    entries = []
    for k, group in enumerate(members):
        ordered = sorted(group, key=lambda i: -float(centroids[i] @ cluster_centres[k]))
        central = categories[ordered[0]]
        if len(group) == 1:
            name, definition, anchors, source = central.category_name, central.definition, "", "category"
        elif k in names:
            name, definition, anchors, source = names[k]
        else:
            name, definition, anchors, source = (
                central.category_name,
                f"Named after its most central category, because the model's name did not "
                f"describe the cluster's trigger phrases. {central.definition}",
                "",
                FALLBACK,
            )
        if not anchors:
            anchors = "; ".join(
                e.trigger_phrase for i in ordered[:3] for e in categories[i].examples[:1] if e.trigger_phrase
            )
        entries.append(
            ClusterEntry(
                cluster_name=name,
                definition=definition,
                anchor_phrases=anchors,
                name_source=source,
                member_categories=[
                    ClusterMember(
                        category_id=categories[i].category_id,
                        category_name=categories[i].category_name,
                        category_definition=categories[i].definition,
                        justification=f"grouped by embedding (cosine {float(centroids[i] @ cluster_centres[k]):.2f} "
                        "to the cluster's centre)",
                    )
                    for i in ordered
                ],
            )
        )
    return entries


async def _by_model(
    categories: list[CategoryEntry], client: LLMClient, config: CallConfig, prompt: Any, options: ClusterOptions
) -> tuple[list[ClusterEntry], int]:
    """The original's way: the model groups the categories, in levels when they do not fit one call."""
    items = [
        _Item(
            c.category_id,
            c.category_name,
            c.definition,
            len(c.examples),
            [e.trigger_phrase for e in c.examples if e.trigger_phrase][: options.examples_shown],
            [(c.category_id, "")],
        )
        for c in categories
    ]
    levels = 0
    while True:
        levels += 1
        chunks = [
            items[i : i + options.max_categories_per_call]
            for i in range(0, len(items), options.max_categories_per_call)
        ]
        replies = await asyncio.gather(*(_cluster_chunk(client, config, prompt, chunk) for chunk in chunks))
        merged = _merge_level(chunks, replies, levels)
        if len(chunks) == 1 or len(merged) >= len(items):
            break  # one call held everything, or a level found nothing more to merge: stop either way
        items = sorted(merged, key=lambda item: item.name.lower())  # similar names land in the same chunk
    by_id = {c.category_id: c for c in categories}
    return [
        ClusterEntry(
            cluster_name=item.name,
            definition=item.definition,
            anchor_phrases=item.triggers[0] if item.triggers else "",
            member_categories=[
                ClusterMember(
                    category_id=cid,
                    category_name=by_id[cid].category_name,
                    category_definition=by_id[cid].definition,
                    justification=why,
                )
                for cid, why in item.categories
            ],
        )
        for item in merged
    ], levels


async def _cluster_chunk(client: LLMClient, config: CallConfig, prompt: Any, chunk: list[_Item]) -> ClusterReply:
    lines = []
    for item in chunk:
        triggers = "; ".join(repr(t) for t in item.triggers)
        lines.append(
            f"{item.id}: {item.name}\n  Definition: {item.definition}\n  Runs: {item.size}"
            + (f"\n  Example triggers: {triggers}" if triggers else "")
        )
    text = prompt.render(categories="\n".join(lines))
    ids = [i.id for i in chunk]
    try:
        completion = await client.generate(
            text, config=config, schema=cluster_schema(ids), prompt_version=prompt.version
        )
    except StructuredOutputError as exc:  # the latest reply whose only fault is coverage, completed
        completed = latest_valid(exc.raw_replies, cluster_schema(ids, complete_with={i.id: i.name for i in chunk}))
        return completed if completed is not None else _unclustered(chunk, str(exc))
    except LLMCallError as exc:
        return _unclustered(chunk, str(exc))
    reply: ClusterReply = completion.parsed
    return reply


UNCLUSTERED = "a cluster of its own: the model gave no usable clustering"


def _unclustered(chunk: list[_Item], error: str) -> ClusterReply:
    """Every item a cluster of its own, said so: the report is still written, and shows the truth."""
    return ClusterReply(
        clusters=[
            ClusterDraft(
                name=item.name,
                definition=f"{UNCLUSTERED} ({error[:200]})",
                members=[Member(category=item.id, justification="not clustered")],
            )
            for item in chunk
        ]
    )


def _merge_level(chunks: list[list[_Item]], replies: list[ClusterReply], level: int) -> list[_Item]:
    """Turn the replies of one level into the items of the next (cluster ids K<level>.<n>)."""
    merged: list[_Item] = []
    for chunk, reply in zip(chunks, replies, strict=True):
        by_id = {item.id: item for item in chunk}
        for draft in reply.clusters:
            members = [by_id[m.category.strip()] for m in draft.members]
            whys = {m.category.strip(): m.justification for m in draft.members}
            categories = [
                (cid, whys[member.id] if level == 1 else why) for member in members for cid, why in member.categories
            ]
            anchors = [draft.anchor_phrases] if draft.anchor_phrases else [t for m in members for t in m.triggers][:3]
            merged.append(
                _Item(
                    f"K{level}.{len(merged) + 1}",
                    draft.name.strip(),
                    draft.definition.strip(),
                    sum(m.size for m in members),
                    anchors,
                    categories,
                )
            )
    return merged
