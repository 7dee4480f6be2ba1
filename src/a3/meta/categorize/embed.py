"""Step 3 by embeddings (the default): group the runs without a model, then let the model name each
group, check the names against the groups, and place the outliers.

The grouping (``a3.meta.categorize.grouping``) decides which runs belong together, and gives each run its
trigger phrase: the clause of its instruction that most looks like a mechanism, verbatim. A run
whose instruction carries a second mechanism clause is also put in that clause's group. The
model is asked only what a small model can answer: a name and definition for a group it is
shown, and, for a run alone in its group, which of its three nearest groups describes it (or
none). Every name is then checked against its group (``check_names``): the embedding of the name
and definition must be nearer to the group's own trigger phrases than to any other group's, and
at least ``NAME_FLOOR`` near. A name that fails is sent back once with the reason; one that fails
again, or a group the model cannot name, is named after its most central trigger phrase, and the
category says so (``name_source``). Calls go through the call cache, so a crash replays them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import numpy as np
from pydantic import BaseModel, Field, model_validator

from a3.llm import CallConfig, LLMCallError, LLMClient, StructuredOutputError
from a3.meta.categorize.evidence import normalise
from a3.meta.categorize.grouping import CUT, EmbedWeights, GroupingStats, MechanismGrouping, RunTexts, group_mechanisms
from a3.meta.categorize.pregroup import Embedder
from a3.meta.categorize.taxonomy import Category, Example, Taxonomy, Unassigned, check_name
from a3.meta.elicitation_runs import RunId
from a3.meta.summarize import RunFacts, Summary
from a3.progress import Progress, ProgressTask
from a3.prompts import load_prompt

PROMPTS = ("meta_name_group", "meta_place_run")
MEMBERS_SHOWN = 8  # runs shown when naming a group: those nearest its centre
CANDIDATES = 3  # groups offered when placing an outlier
NAME_FLOOR = 0.5  # cosine a name needs with its group's trigger phrases (set by reading the real sets' names)
FALLBACK = "fallback"  # name_source of a group named after its most central trigger phrase
MODEL, REWRITTEN = "model", "model (rewritten)"


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
        category: str = Field(json_schema_extra={"enum": [*choices]})

        @model_validator(mode="after")
        def _known(self) -> CheckedPlacement:
            if self.category not in choices:
                raise ValueError(f"category must be one of {choices}")
            return self

    CheckedPlacement.__name__ = "Placement"
    return CheckedPlacement


def run_texts(run_id: str, facts: RunFacts) -> RunTexts:
    summary = (
        facts.summary if isinstance(facts, Summary) else ""
    )  # a run without a summary is grouped by its files alone
    try:
        task = RunId.parse(run_id).task_id
    except ValueError:
        task = run_id
    return RunTexts(
        run_id=run_id,
        task=task,
        instruction=facts.perturbed_instruction,
        original=facts.original_instruction,
        harm=facts.harm or "",
        summary=summary,
    )


def bare_name(name: str) -> str:
    """What a name says, for comparing it with trigger phrases: without the prompt's fixed opening."""
    bare = name.strip()
    for opening in ("Asking the agent to ", "asking the agent to "):
        if bare.startswith(opening):
            bare = bare[len(opening) :]
    return bare


class NameCheck(BaseModel):
    similarity: float  # cosine of the name with the group's trigger phrases
    nearest: int  # the group whose trigger phrases the name is nearest
    definition_nearest: int  # the group whose trigger phrases the definition is nearest
    passed: bool


def check_names(
    names: list[tuple[str, str]], own: list[int], centroids: np.ndarray, embed: Embedder, floor: float = NAME_FLOOR
) -> list[NameCheck]:
    """Each (name, definition) against the groups' trigger-phrase centroids (one row per group): it
    passes when the name is nearest its own group's row (``own``), at cosine ``floor`` or more, and
    the definition is nearest it too. The name is checked alone: a good definition must not carry a
    name that says something else ("copy photos, sync notes" over runs that tidy the Desktop)."""
    if not names:
        return []
    vectors = np.asarray(embed([bare_name(n) for n, _ in names] + [d.strip() or n for n, d in names]), dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    similarity = vectors @ centroids.T
    checks = []
    for index, group in enumerate(own):
        row, definition = similarity[index], similarity[len(names) + index]
        nearest, definition_nearest = int(np.argmax(row)), int(np.argmax(definition))
        passed = nearest == group and definition_nearest == group and row[group] >= floor
        checks.append(
            NameCheck(
                similarity=round(float(row[group]), 4),
                nearest=nearest,
                definition_nearest=definition_nearest,
                passed=passed,
            )
        )
    return checks


class _Group(BaseModel):
    label: int  # the grouping's group number
    members: list[int]  # runs (indices), the most central first
    name: str = ""
    definition: str = ""
    source: str = ""
    check: NameCheck | None = None


class EmbedCategorizer:
    def __init__(
        self,
        client: LLMClient,
        config: CallConfig,
        embed: Embedder,
        weights: EmbedWeights,
        max_groups: int | None,
        progress: Progress,
    ) -> None:
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
            return taxonomy, GroupingStats(
                weights=self.weights,
                groups=0,
                silhouette=None,
                outliers=0,
                outliers_placed=0,
                outliers_unplaced=0,
                names_from_model=0,
                names_by_fallback=0,
                sequential_llm_rounds=0,
            )
        found = group_mechanisms(texts, self.embed, self.weights, max_k=self.max_groups)
        grouping = found.grouping
        outliers = set(grouping.outliers)
        groups = []
        for label in range(grouping.k):
            members = [i for i, g in enumerate(grouping.labels) if g == label and i not in outliers]
            if members:  # a group made only of outliers is dissolved: its runs are placed one by one
                members.sort(key=lambda i: -grouping.similarity_to_groups[i][label])
                groups.append(_Group(label=label, members=members))
        task = self.progress.task("categorize: groups named, outliers placed", len(groups) + len(outliers))
        centroids = (
            np.array([found.clause_centroids[g.label] for g in groups]) if groups else np.zeros((0, 1))
        )  # their trigger phrases' centres
        rounds = await self._name_all(groups, texts, found, centroids, task)
        categories: list[tuple[int, Category]] = []
        for group in groups:
            category = Category(
                id=taxonomy.new_id(),
                name=group.name,
                definition=group.definition,
                name_source=group.source,
                name_similarity=group.check.similarity if group.check and group.source != FALLBACK else None,
                centroid=_rounded(np.mean(found.embedding.vectors[group.members], axis=0)),
            )
            for i in group.members:
                similarity = grouping.similarity_to_groups[i][group.label]
                category.examples.append(
                    Example(
                        run_id=ids[i],
                        trigger_phrase=found.trigger[i],
                        justification=f"grouped by embedding (cosine {similarity:.2f} to the group's centre)",
                    )
                )
            categories.append((group.label, category))
        taxonomy.categories = [c for _, c in categories]
        by_label = dict(categories)
        seconds = 0
        for i, (label, clause) in sorted(found.second.items()):
            if i in outliers or label not in by_label:
                continue
            by_label[label].examples.append(
                Example(
                    run_id=ids[i],
                    trigger_phrase=clause,
                    justification="a second mechanism in the same instruction: "
                    "this clause is near this group's trigger phrases",
                )
            )
            seconds += 1
        placed, unplaced = await self._place_outliers(found, categories, ids, texts, task)
        for category, example in placed:
            taxonomy.add_example(category, example)
        taxonomy.unassigned += unplaced
        fallbacks = sum(1 for g in groups if g.source == FALLBACK)
        stats = GroupingStats(
            weights=self.weights,
            groups=len(categories),
            silhouette=grouping.silhouette,
            outliers=len(outliers),
            outliers_placed=len(placed),
            outliers_unplaced=len(unplaced),
            names_from_model=len(groups) - fallbacks,
            names_by_fallback=fallbacks,
            names_rewritten=sum(1 for g in groups if g.source == REWRITTEN),
            sequential_llm_rounds=rounds + (1 if outliers else 0),
            second_memberships=seconds,
            criterion=f"average-linkage tree cut at {CUT} x the median pairwise cosine distance "
            "(learnt on the hard planted benchmark)",
            threshold=grouping.threshold,
        )
        return taxonomy, stats

    # -- naming ------------------------------------------------------------------------------

    async def _name_all(
        self,
        groups: list[_Group],
        texts: list[RunTexts],
        found: MechanismGrouping,
        centroids: np.ndarray,
        task: ProgressTask,
    ) -> int:
        """Every group named concurrently; a name another group already took is asked for again
        (one group at a time, with the taken names ruled out). Then the names are checked against
        the groups; one that fails is sent back once with the reason and checked again. A group
        left without a passing name is named after its most central trigger phrase."""
        shown = [self._members_block(g, texts, found) for g in groups]
        first = await asyncio.gather(*(self._ask_name(block, set(), "") for block in shown))
        rounds = 1
        taken: set[str] = set()
        retry = []
        for index, reply in enumerate(first):
            if reply is not None and normalise(reply.name) not in taken:
                taken.add(normalise(reply.name))
                groups[index].name, groups[index].definition, groups[index].source = (
                    _clean(reply.name),
                    reply.definition.strip(),
                    MODEL,
                )
            else:
                retry.append(index)
        for index in retry:  # sequential: each retry must avoid the names the previous ones took
            reply = await self._ask_name(shown[index], taken, "")
            rounds += 1
            if reply is not None:
                taken.add(normalise(reply.name))
                groups[index].name, groups[index].definition, groups[index].source = (
                    _clean(reply.name),
                    reply.definition.strip(),
                    MODEL,
                )
        named = [index for index, g in enumerate(groups) if g.source]
        checks = check_names([(groups[i].name, groups[i].definition) for i in named], named, centroids, self.embed)
        for index, check in zip(named, checks, strict=True):
            groups[index].check = check
        failed = [index for index, check in zip(named, checks, strict=True) if not check.passed]
        if failed:  # one more try each, told why; concurrent: the check, not uniqueness, is what failed
            replies = await asyncio.gather(
                *(
                    self._ask_name(shown[i], taken - {normalise(groups[i].name)}, self._feedback(i, groups))
                    for i in failed
                )
            )
            rounds += 1
            for index, reply in zip(failed, replies, strict=True):
                group = groups[index]
                if reply is None or normalise(reply.name) in taken - {normalise(group.name)}:
                    continue
                name, definition = _clean(reply.name), reply.definition.strip()
                check = check_names([(name, definition)], [index], centroids, self.embed)[0]
                if check.passed:
                    taken.discard(normalise(group.name))
                    taken.add(normalise(name))
                    group.name, group.definition, group.source, group.check = name, definition, REWRITTEN, check
        for index, group in enumerate(groups):
            task.advance()
            if group.source in (MODEL, REWRITTEN) and group.check is not None and group.check.passed:
                continue
            if group.check is not None:
                why = (
                    f"the model's name (\u201c{group.name}\u201d) did not describe them: "
                    f"cosine {group.check.similarity:.2f} with their "
                    "trigger phrases"
                    + (
                        ", nearer another group's"
                        if index not in (group.check.nearest, group.check.definition_nearest)
                        else ""
                    )
                )
            else:
                why = "the model gave no usable name"
            phrase = self._central_phrase(group, found, centroids[index])
            group.name = f"\u201c{phrase[:76]}\u201d" + ("\u2026" if len(phrase) > 76 else "")
            group.definition = (
                "Runs whose instructions ask what this phrase asks. "
                f"Named after the group's most central trigger phrase because {why}."
            )
            group.source = FALLBACK
        return rounds

    @staticmethod
    def _feedback(index: int, groups: list[_Group]) -> str:
        group = groups[index]
        check = group.check
        assert check is not None
        if check.nearest != index:
            reason = f"is nearer to the trigger phrases of another group (\u201c{groups[check.nearest].name}\u201d)"
        elif check.definition_nearest != index:
            reason = "comes with a definition nearer to another group's trigger phrases"
        else:
            reason = "does not say what these trigger phrases ask"
        return (
            f"\n\nAn earlier answer named this group \u201c{group.name}\u201d, but that name {reason}. "
            "Name what these trigger phrases have in common, in the words of the phrases themselves."
        )

    def _central_phrase(self, group: _Group, found: MechanismGrouping, centre: np.ndarray) -> str:
        clauses = found.embedding.clauses
        best = max(group.members, key=lambda i: float(clauses.vectors[found.embedding.chosen[i]] @ centre))
        return found.trigger[best]

    async def _ask_name(self, block: str, taken: set[str], feedback: str) -> GroupName | None:
        prompt = load_prompt("meta_name_group")
        note = (
            ("\n\nThese names are already taken by other groups; choose a different one: " + "; ".join(sorted(taken)))
            if taken
            else ""
        )
        text = prompt.render(runs=block, taken=note, feedback=feedback)
        try:
            completion = await self.client.generate(
                text, config=self.config, schema=name_schema(taken), prompt_version=prompt.version
            )
        except (LLMCallError, StructuredOutputError):
            return None
        name: GroupName = completion.parsed
        return name

    def _members_block(self, group: _Group, texts: list[RunTexts], found: MechanismGrouping) -> str:
        lines = []
        for n, i in enumerate(group.members[:MEMBERS_SHOWN], start=1):
            line = f"Run {n}\n  Trigger phrase: {found.trigger[i]}"
            if texts[i].harm:
                line += f"\n  Harm: {texts[i].harm}"
            lines.append(line)
        return "\n\n".join(lines)

    # -- outliers ----------------------------------------------------------------------------

    async def _place_outliers(
        self,
        found: MechanismGrouping,
        categories: list[tuple[int, Category]],
        ids: list[str],
        texts: list[RunTexts],
        task: ProgressTask,
    ) -> tuple[list[tuple[Category, Example]], list[Unassigned]]:
        prompt = load_prompt("meta_place_run")
        grouping = found.grouping

        async def one(i: int) -> tuple[Category, Example] | Unassigned:
            similarity = grouping.similarity_to_groups[i]
            nearest = sorted(categories, key=lambda gc: -similarity[gc[0]])[:CANDIDATES]
            if not nearest:
                task.advance()
                return Unassigned(run_id=ids[i], reason="no group to place it in")
            listing = "\n".join(f"{c.id}: {c.name}\n  Definition: {c.definition}" for _, c in nearest)
            text = prompt.render(
                trigger=found.trigger[i],
                instruction=texts[i].instruction,
                harm=texts[i].harm or "(not recorded)",
                categories=listing,
            )
            choices = [c.id for _, c in nearest] + ["none"]
            try:
                completion = await self.client.generate(
                    text, config=self.config, schema=placement_schema(choices), prompt_version=prompt.version
                )
            except (LLMCallError, StructuredOutputError) as exc:
                return Unassigned(run_id=ids[i], reason=f"an outlier of the grouping, and placing it failed: {exc}")
            finally:
                task.advance()
            reply: Placement = completion.parsed
            if reply.category == "none":
                return Unassigned(
                    run_id=ids[i],
                    reason="an outlier of the grouping that the model placed in none of its nearest groups: "
                    + reply.reason,
                )
            category = next(c for _, c in nearest if c.id == reply.category)
            return category, Example(
                run_id=ids[i],
                trigger_phrase=found.trigger[i],
                justification=f"placed by the model: {reply.reason}".strip(),
            )

        results = await asyncio.gather(*(one(i) for i in grouping.outliers))
        placed = [r for r in results if isinstance(r, tuple)]
        unplaced = [r for r in results if isinstance(r, Unassigned)]
        return placed, unplaced


def _clean(name: str) -> str:
    return name.strip().rstrip(".").strip()


def _rounded(vector: Iterable[float]) -> list[float]:
    values = np.asarray(list(vector), dtype=np.float64)
    values /= np.linalg.norm(values) + 1e-12
    return [round(float(v), 4) for v in values]
