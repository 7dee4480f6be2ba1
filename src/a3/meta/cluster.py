"""Step 4a, ``a3 meta cluster``: categories into higher-level clusters.

The model refers to categories by id and never restates them, and a reply must place every
category in exactly one cluster. With more categories than fit one call, chunks are clustered
concurrently and the resulting clusters are clustered again, until one call holds them all or a
level merges nothing more.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field, model_validator

from a3.errors import UserInputError
from a3.llm import CallConfig, LLMCallError, LLMClient, StructuredOutputError
from a3.llm.structured import latest_valid
from a3.meta.formats import (
    Categorization,
    ClusterEntry,
    ClusterMember,
    ClusterMetadata,
    Clusters,
    ClusterStatistics,
    Phrases,
    read_clusters,
    write_clusters,
)
from a3.meta.runs import sanitise
from a3.meta.settings import LLMSettings
from a3.prompts import load_prompt
from a3.store import RunDir, atomic_write_json, file_sha256, read_json

STAGE = "cluster"
RESULT = "clusters_result.json"  # where the finished clusters file is, in the work dir


class ClusterOptions(LLMSettings):
    api_max_tokens: ClassVar[int] = 64000  # the original's allowance for GPT-5 here

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
        category: str = Field(json_schema_extra={"enum": ids})  # guides schema-following decoders

    class ListedDraft(ClusterDraft):
        members: list[ListedMember] = Field(min_length=1)  # type: ignore[assignment]

    ListedMember.__name__, ListedDraft.__name__ = "Member", "ClusterDraft"

    class CheckedClusterReply(ClusterReply):
        clusters: list[ListedDraft] = Field(min_length=1)  # type: ignore[assignment]

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
                raise ValueError(f"ids {missing} are in no cluster; every id must be in exactly one (a cluster of its own is fine)")
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
                self.clusters.append(ListedDraft(name=names[missing], definition="a cluster of its own: the model placed it nowhere",
                                                 members=[ListedMember(category=missing, justification="placed by A3")]))

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


async def cluster_categories(categorization: Categorization, run_dir: RunDir, client: LLMClient, options: ClusterOptions = ClusterOptions(),
                             output_dir: Path | None = None) -> Clusters:
    """The categorization's categories in clusters, in a clusters file beside it (or in ``output_dir``);
    read back when these clusters were finished before."""
    source = categorization.path.resolve()
    categories = categorization.categories
    if not categories:
        unassigned = len(categorization.categorization.unassigned)
        raise UserInputError(f"{source}: has no categories to cluster"
                             + (f" ({unassigned} runs, all unassigned: see their reasons in the file)" if unassigned else " (it holds no runs)"))
    prompt = load_prompt("meta_cluster")
    out_dir = Path(output_dir) if output_dir else source.parent / f"clusters_{sanitise(options.model)}"
    stage = run_dir.stage(STAGE, inputs={"categorization": file_sha256(source), "options": options.model_dump()},
                          prompt_versions={"meta_cluster": prompt.version}, models={"clusterer": options.model})
    with stage:
        if stage.skipped:
            return read_clusters(Path(read_json(run_dir.path / RESULT)["path"]))
        config = options.call_config()
        items = [_Item(c.category_id, c.category_name, c.definition, len(c.examples),
                       [e.trigger_phrase for e in c.examples if e.trigger_phrase][: options.examples_shown],
                       [(c.category_id, "")]) for c in categories]
        levels = 0
        while True:
            levels += 1
            chunks = [items[i:i + options.max_categories_per_call] for i in range(0, len(items), options.max_categories_per_call)]
            replies = await asyncio.gather(*(_cluster_chunk(client, config, prompt, chunk) for chunk in chunks))
            merged = _merge_level(chunks, replies, levels)
            if len(chunks) == 1 or len(merged) >= len(items):
                break  # one call held everything, or a level found nothing more to merge: stop either way
            items = sorted(merged, key=lambda item: item.name.lower())  # similar names land in the same chunk
        by_id = {c.category_id: c for c in categories}
        usage = run_dir.ledger.totals(stage=STAGE)
        clusters = Clusters(
            clusters=[ClusterEntry(
                cluster_name=item.name, definition=item.definition, anchor_phrases=item.triggers[0] if item.triggers else "",
                member_categories=[ClusterMember(category_id=cid, category_name=by_id[cid].category_name,
                                                 category_definition=by_id[cid].definition, justification=why) for cid, why in item.categories],
            ) for item in merged],
            statistics=ClusterStatistics(input_categories=len(categories), output_clusters=len(merged), levels=levels,
                                         unclustered_by_failure=sum(1 for item in merged if item.definition.startswith(UNCLUSTERED)),
                                         llm_calls=usage.calls, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                                         total_tokens=usage.input_tokens + usage.output_tokens, cost=round(usage.cost_usd, 8),
                                         unpriced_calls=usage.unpriced_calls),
            metadata=ClusterMetadata(input_path=str(source), model_name=options.model, max_tokens=config.max_tokens,
                                     temperature=options.temperature, max_categories_per_call=options.max_categories_per_call,
                                     prompt_version=prompt.version, generated_at=datetime.now().isoformat(timespec="seconds")),
            path=out_dir / f"llm_clusters_{datetime.now():%Y%m%d_%H%M%S}.json",
        )
        write_clusters(clusters)
        atomic_write_json(run_dir.path / RESULT, {"path": str(clusters.path)})
    return clusters


async def _cluster_chunk(client: LLMClient, config: CallConfig, prompt: Any, chunk: list[_Item]) -> ClusterReply:
    lines = []
    for item in chunk:
        triggers = "; ".join(repr(t) for t in item.triggers)
        lines.append(f"{item.id}: {item.name}\n  Definition: {item.definition}\n  Runs: {item.size}" + (f"\n  Example triggers: {triggers}" if triggers else ""))
    text = prompt.render(categories="\n".join(lines))
    ids = [i.id for i in chunk]
    try:
        completion = await client.generate(text, config=config, schema=cluster_schema(ids), prompt_version=prompt.version)
    except StructuredOutputError as exc:  # the latest reply whose only fault is coverage, completed
        completed = latest_valid(exc.raw_replies, cluster_schema(ids, complete_with={i.id: i.name for i in chunk}))
        return completed if completed is not None else _unclustered(chunk, str(exc))
    except LLMCallError as exc:
        return _unclustered(chunk, str(exc))
    return completion.parsed


UNCLUSTERED = "a cluster of its own: the model gave no usable clustering"


def _unclustered(chunk: list[_Item], error: str) -> ClusterReply:
    """Every item a cluster of its own, said so: the report is still written, and shows the truth."""
    return ClusterReply(clusters=[ClusterDraft(name=item.name, definition=f"{UNCLUSTERED} ({error[:200]})",
                                               members=[Member(category=item.id, justification="not clustered")]) for item in chunk])


def _merge_level(chunks: list[list[_Item]], replies: list[ClusterReply], level: int) -> list[_Item]:
    """Turn the replies of one level into the items of the next (cluster ids K<level>.<n>)."""
    merged: list[_Item] = []
    for chunk, reply in zip(chunks, replies):
        by_id = {item.id: item for item in chunk}
        for draft in reply.clusters:
            members = [by_id[m.category.strip()] for m in draft.members]
            whys = {m.category.strip(): m.justification for m in draft.members}
            categories = [(cid, whys[member.id] if level == 1 else why) for member in members for cid, why in member.categories]
            anchors = [draft.anchor_phrases] if draft.anchor_phrases else [t for m in members for t in m.triggers][:3]
            merged.append(_Item(f"K{level}.{len(merged) + 1}", draft.name.strip(), draft.definition.strip(),
                                sum(m.size for m in members), anchors, categories))
    return merged
