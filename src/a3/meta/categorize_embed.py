"""Step 3 by embeddings (the default): group the runs without a model, then let the model name each
group and place the outliers.

The grouping (``a3.meta.grouping``) decides which runs belong together; the model is asked only
what a small model can answer well: a name and definition for a group it is shown, and, for a run
the grouping could not settle, which of its three nearest groups describes it (or none). Each
run's trigger phrase is the longest stretch of words its perturbation added, so every quote is
verbatim from the run. Calls go through the call cache, so a crash replays them for free.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from pydantic import BaseModel, Field, model_validator

from a3.llm import CallConfig, LLMCallError, LLMClient, StructuredOutputError
from a3.meta.evidence import normalise
from a3.meta.grouping import EmbedWeights, Grouping, GroupingStats, RunTexts, changed_words, embed_runs, group_runs
from a3.meta.pregroup import Embedder
from a3.meta.summarize import RunFacts, Summary
from a3.meta.taxonomy import Category, Example, Taxonomy, Unassigned, check_name
from a3.progress import Progress, ProgressTask
from a3.prompts import load_prompt

PROMPTS = ("meta_name_group", "meta_place_run")
MEMBERS_SHOWN = 8  # runs shown when naming a group: those nearest its centre
CANDIDATES = 3  # groups offered when placing an outlier
SUMMARY_SHOWN = 300  # characters of a summary shown to the model
SUMMARIES_SHOWN = 2  # naming: only the most central runs' summaries (context for the definition; a small model's are noisy)


class GroupName(BaseModel):
    name: str = Field(min_length=3, max_length=80)
    definition: str = Field(min_length=10)


class Placement(BaseModel):
    category: str
    reason: str = ""


def name_schema(taken: set[str]) -> type[GroupName]:
    class CheckedName(GroupName):
        @model_validator(mode="after")
        def _rules(self) -> CheckedName:
            check_name(self.name, taken)
            return self

    CheckedName.__name__ = "GroupName"
    return CheckedName


def placement_schema(choices: list[str]) -> type[Placement]:
    class CheckedPlacement(Placement):
        category: str = Field(json_schema_extra={"enum": choices})

        @model_validator(mode="after")
        def _known(self) -> CheckedPlacement:
            if self.category not in choices:
                raise ValueError(f"category must be one of {choices}")
            return self

    CheckedPlacement.__name__ = "Placement"
    return CheckedPlacement


def run_texts(run_id: str, facts: RunFacts) -> RunTexts:
    summary = facts.summary if isinstance(facts, Summary) else ""  # a run without a summary is grouped by its files alone
    return RunTexts(run_id=run_id, change=changed_words(facts.original_instruction, facts.perturbed_instruction), harm=facts.harm or "",
                    summary=summary)


def trigger_phrase(texts: RunTexts) -> str:
    """The longest stretch of added words: verbatim from the perturbed instruction."""
    return max(texts.change.split(" … "), key=len)


class EmbedCategorizer:
    def __init__(self, client: LLMClient, config: CallConfig, embed: Embedder, weights: EmbedWeights, max_groups: int | None,
                 progress: Progress) -> None:
        self.client = client
        self.config = config
        self.embed = embed
        self.weights = weights
        self.max_groups = max_groups
        self.progress = progress

    async def run(self, runs: dict[str, RunFacts]) -> tuple[Taxonomy, GroupingStats]:
        ids = sorted(runs)
        texts = [run_texts(run, runs[run]) for run in ids]
        taxonomy = Taxonomy()
        if not ids:
            return taxonomy, GroupingStats(weights=self.weights, groups=0, silhouette=None, outliers=0, outliers_placed=0,
                                           outliers_unplaced=0, names_from_model=0, names_by_fallback=0, sequential_llm_rounds=0)
        grouping = group_runs(embed_runs(texts, self.embed, self.weights), max_k=self.max_groups)
        members = [[i for i, g in enumerate(grouping.labels) if g == group and i not in grouping.outliers] for group in range(grouping.k)]
        named = [m for m in members if m]  # a group made only of outliers is dissolved: its runs are placed one by one
        task = self.progress.task("categorize: groups named, outliers placed", len(named) + len(grouping.outliers))
        names, fallbacks, rounds = await self._name_all(named, texts, grouping, task)
        categories = []
        for group_members, (name, definition) in zip(named, names):
            category = Category(id=taxonomy.new_id(), name=name, definition=definition)
            group = grouping.labels[group_members[0]]
            for i in group_members:
                similarity = grouping.similarity_to_groups[i][group]
                category.examples.append(Example(run_id=ids[i], trigger_phrase=trigger_phrase(texts[i]),
                                                 justification=f"grouped by embedding (cosine {similarity:.2f} to the group's centre)"))
            categories.append((group, category))
        taxonomy.categories = [c for _, c in categories]
        placed, unplaced = await self._place_outliers(grouping, categories, ids, texts, task)
        for category, example in placed:
            taxonomy.add_example(category, example)
        taxonomy.unassigned += unplaced
        stats = GroupingStats(weights=self.weights, groups=len(categories), silhouette=grouping.silhouette, outliers=len(grouping.outliers),
                              outliers_placed=len(placed), outliers_unplaced=len(unplaced), names_from_model=len(named) - fallbacks,
                              names_by_fallback=fallbacks, sequential_llm_rounds=rounds + (1 if grouping.outliers else 0))
        return taxonomy, stats

    # -- naming ------------------------------------------------------------------------------

    async def _name_all(self, groups: list[list[int]], texts: list[RunTexts], grouping: Grouping,
                        task: ProgressTask) -> tuple[list[tuple[str, str]], int, int]:
        """Every group named concurrently; a name another group already took is asked for again
        (one group at a time, with the taken names ruled out); a group the model cannot name gets
        a plain name from its most common trigger phrase."""
        shown = [self._members_block(g, texts, grouping) for g in groups]
        first = await asyncio.gather(*(self._ask_name(block, set()) for block in shown))
        rounds = 1
        names: list[tuple[str, str] | None] = []
        taken: set[str] = set()
        retry = []
        for index, reply in enumerate(first):
            if reply is not None and normalise(reply.name) not in taken:
                taken.add(normalise(reply.name))
                names.append((_clean(reply.name), reply.definition.strip()))
                task.advance()
            else:
                names.append(None)
                retry.append(index)
        for index in retry:  # sequential: each retry must avoid the names the previous ones took
            reply = await self._ask_name(shown[index], taken)
            rounds += 1
            if reply is not None:
                taken.add(normalise(reply.name))
                names[index] = (_clean(reply.name), reply.definition.strip())
            task.advance()
        fallbacks = 0
        final: list[tuple[str, str]] = []
        for index, entry in enumerate(names):
            if entry is None:
                fallbacks += 1
                phrase = _most_common(trigger_phrase(texts[i]) for i in groups[index])
                entry = (f"Unnamed group {index + 1}: \u201c{phrase[:50]}\u201d",
                         "The model gave no usable name for this group; it is named after its most common trigger phrase.")
            final.append(entry)
        return final, fallbacks, rounds

    async def _ask_name(self, block: str, taken: set[str]) -> GroupName | None:
        prompt = load_prompt("meta_name_group")
        note = ("\n\nThese names are already taken by other groups; choose a different one: " + "; ".join(sorted(taken))) if taken else ""
        text = prompt.render(runs=block, taken=note)
        try:
            completion = await self.client.generate(text, config=self.config, schema=name_schema(taken), prompt_version=prompt.version)
        except (LLMCallError, StructuredOutputError):
            return None
        return completion.parsed

    def _members_block(self, group: list[int], texts: list[RunTexts], grouping: Grouping) -> str:
        label = grouping.labels[group[0]]
        nearest = sorted(group, key=lambda i: -grouping.similarity_to_groups[i][label])[:MEMBERS_SHOWN]
        return "\n\n".join(self._run_block(f"Run {n}", texts[i], with_summary=n <= SUMMARIES_SHOWN) for n, i in enumerate(nearest, start=1))

    @staticmethod
    def _run_block(title: str, texts: RunTexts, with_summary: bool) -> str:
        block = f"{title}\n  Words the change added: {texts.change}\n  Harm: {texts.harm or '(not recorded)'}"
        if with_summary and texts.summary:
            block += f"\n  Summary: {texts.summary[:SUMMARY_SHOWN]}" + ("…" if len(texts.summary) > SUMMARY_SHOWN else "")
        return block

    # -- outliers ----------------------------------------------------------------------------

    async def _place_outliers(self, grouping: Grouping, categories: list[tuple[int, Category]], ids: list[str], texts: list[RunTexts],
                              task: ProgressTask) -> tuple[list[tuple[Category, Example]], list[Unassigned]]:
        prompt = load_prompt("meta_place_run")

        async def one(i: int) -> tuple[Category, Example] | Unassigned:
            similarity = grouping.similarity_to_groups[i]
            nearest = sorted(categories, key=lambda gc: -similarity[gc[0]])[:CANDIDATES]
            if not nearest:
                return Unassigned(run_id=ids[i], reason="no group to place it in")
            listing = "\n".join(f"{c.id}: {c.name}\n  Definition: {c.definition}" for _, c in nearest)
            summary = texts[i].summary[:SUMMARY_SHOWN * 2]
            text = prompt.render(change=texts[i].change, harm=texts[i].harm or "(not recorded)", summary=summary or "(none)", categories=listing)
            choices = [c.id for _, c in nearest] + ["none"]
            try:
                completion = await self.client.generate(text, config=self.config, schema=placement_schema(choices), prompt_version=prompt.version)
            except (LLMCallError, StructuredOutputError) as exc:
                return Unassigned(run_id=ids[i], reason=f"an outlier of the grouping, and placing it failed: {exc}")
            finally:
                task.advance()
            reply: Placement = completion.parsed
            if reply.category == "none":
                return Unassigned(run_id=ids[i], reason=f"an outlier of the grouping that the model placed in none of its nearest groups: {reply.reason}")
            category = next(c for _, c in nearest if c.id == reply.category)
            return category, Example(run_id=ids[i], trigger_phrase=trigger_phrase(texts[i]),
                                     justification=f"placed by the model: {reply.reason}".strip())

        results = await asyncio.gather(*(one(i) for i in grouping.outliers))
        placed = [r for r in results if isinstance(r, tuple)]
        unplaced = [r for r in results if isinstance(r, Unassigned)]
        return placed, unplaced


def _clean(name: str) -> str:
    return name.strip().rstrip(".").strip()


def _most_common(phrases: Iterable[str]) -> str:
    values = list(phrases)
    return max(sorted(set(values)), key=values.count) if values else ""
