"""The category taxonomy, the JSON replies that change it, and the checks each reply must pass.

Runs are shown to the model under per-batch labels (R1, R2, ...) and categories under stable ids
(C1, C2, ...); labels are mapped back to canonical run ids here, after validation, so a reply
can neither invent a run nor lose one.
"""

from __future__ import annotations

from typing import cast

from pydantic import BaseModel, Field, model_validator

from a3.meta.categorize.evidence import BANNED_NAMES, banned_name, normalise


class Example(BaseModel):
    run_id: str | None  # None only for examples resumed from an original file whose id could not be resolved
    trigger_phrase: str = ""
    justification: str = ""
    original_id: str | None = None  # the original file's "task_id:perturbed_id", when resumed from one


class Category(BaseModel):
    id: str
    name: str
    definition: str
    examples: list[Example] = Field(default_factory=list)
    merged_from: list[str] = Field(default_factory=list)
    name_source: str | None = (
        None  # embed method: "model", "model (rewritten)" or "fallback" (its most central trigger phrase)
    )
    name_similarity: float | None = None  # embed method: cosine of the name and definition with its trigger phrases
    centroid: list[float] | None = None  # embed method: the mean of its runs' embeddings, for the cluster step

    def run_ids(self) -> set[str]:
        return {e.run_id for e in self.examples if e.run_id}


class Unassigned(BaseModel):
    run_id: str
    reason: str = ""


class Taxonomy(BaseModel):
    categories: list[Category] = Field(default_factory=list)
    unassigned: list[Unassigned] = Field(default_factory=list)
    next_id: int = 1

    def new_id(self) -> str:
        self.next_id += 1
        return f"C{self.next_id - 1}"

    def by_id(self) -> dict[str, Category]:
        return {c.id: c for c in self.categories}

    def placed_runs(self) -> set[str]:
        return {run for c in self.categories for run in c.run_ids()}

    def add_example(self, category: Category, example: Example) -> None:
        if example.run_id not in category.run_ids():
            category.examples.append(example)


# -- replies ---------------------------------------------------------------------------------


class ReplyExample(BaseModel):
    run: str
    trigger_phrase: str = ""
    justification: str = ""


class NewCategory(BaseModel):
    name: str = Field(min_length=3)
    definition: str = Field(min_length=10)
    examples: list[ReplyExample] = Field(default_factory=list)


class ReplyUnassigned(BaseModel):
    run: str
    reason: str = ""


class Assignment(ReplyExample):
    category: str


class InitialReply(BaseModel):
    categories: list[NewCategory] = Field(min_length=1)
    unassigned: list[ReplyUnassigned] = Field(default_factory=list)


class UpdateReply(BaseModel):
    assignments: list[Assignment] = Field(default_factory=list)
    new_categories: list[NewCategory] = Field(default_factory=list)
    unassigned: list[ReplyUnassigned] = Field(default_factory=list)


UNPLACED_REASON = "left out by the model: none of its replies placed every run of the batch"


def _check_batch(labels: set[str], placed: list[str], unassigned: list[str], require_all: bool) -> list[str]:
    """The batch's runs the reply left out (none when ``require_all``: then leaving one out is an error)."""
    unknown = sorted({r for r in placed + unassigned if r not in labels}, key=_label_order)
    if unknown:
        raise ValueError(f"unknown run labels {unknown}; this batch has {sorted(labels, key=_label_order)}")
    missing = sorted(labels - set(placed) - set(unassigned), key=_label_order)
    if missing and require_all:
        raise ValueError(f"runs {missing} were neither placed in a category nor listed as unassigned")
    both = sorted(set(placed) & set(unassigned), key=_label_order)
    if both:
        raise ValueError(f"runs {both} are both placed and listed as unassigned")
    return missing


def check_name(name: str, taken: set[str]) -> None:
    """A category name's rules, for every method: not a broad strategy family, not a name already
    taken (``taken`` holds normalised names)."""
    family = banned_name(name)
    if family:
        raise ValueError(
            f"'{name}' is the broad strategy family '{family}', not a concrete mechanism; name the mechanism"
        )
    if normalise(name) in taken:
        raise ValueError(f"the category name '{name}' is already used; names must be unique")


def _check_new_names(new: list[NewCategory], existing: set[str]) -> None:
    seen = set(existing)
    for category in new:
        check_name(category.name, seen)
        seen.add(normalise(category.name))


def _guided_parts(
    labels: set[str], taken_names: set[str]
) -> tuple[type[ReplyExample], type[ReplyUnassigned], type[NewCategory]]:
    """Reply parts whose JSON schema lists this batch's run labels and the names a new category may
    not take, so a schema-following decoder (the local models) cannot break those rules; the
    validators below check them for every model."""
    ordered = sorted(labels, key=_label_order)

    class BatchExample(ReplyExample):
        run: str = Field(json_schema_extra={"enum": [*ordered]})

    class BatchUnassigned(ReplyUnassigned):
        run: str = Field(json_schema_extra={"enum": [*ordered]})

    class BatchCategory(NewCategory):
        name: str = Field(min_length=3, json_schema_extra={"not": {"enum": [*sorted(BANNED_NAMES | taken_names)]}})
        # minItems is a hint for schema-following decoders (every category names a run of its own);
        # validation does not demand it of other models.
        examples: list[BatchExample] = Field(  # type: ignore[assignment]  # a narrower item type, as pydantic allows
            default_factory=list, json_schema_extra={"minItems": 1}
        )

    for part, name in (
        (BatchExample, "ReplyExample"),
        (BatchUnassigned, "ReplyUnassigned"),
        (BatchCategory, "NewCategory"),
    ):
        part.__name__ = name
    return BatchExample, BatchUnassigned, BatchCategory


def initial_schema(labels: set[str], require_all: bool = True) -> type[InitialReply]:
    """``require_all=False`` accepts a reply that leaves runs out, listing them as unassigned with
    ``UNPLACED_REASON`` (used only on a reply that already failed the full rules)."""
    _, unassigned_type, category_type = _guided_parts(labels, set())

    class CheckedInitialReply(InitialReply):
        # The item types are made per batch, which mypy cannot follow; pydantic validates them.
        categories: list[category_type] = Field(min_length=1)  # type: ignore[valid-type]
        unassigned: list[unassigned_type] = Field(default_factory=list)  # type: ignore[valid-type]

        @model_validator(mode="after")
        def _rules(self) -> CheckedInitialReply:
            categories = cast(list[NewCategory], self.categories)
            _check_new_names(categories, set())
            placed = [e.run for c in categories for e in c.examples]
            missing = _check_batch(
                labels, placed, [u.run for u in cast(list[ReplyUnassigned], self.unassigned)], require_all
            )
            self.unassigned += [unassigned_type(run=run, reason=UNPLACED_REASON) for run in missing]
            return self

    CheckedInitialReply.__name__ = "InitialReply"
    return CheckedInitialReply


def update_schema(
    labels: set[str], category_ids: set[str], existing_names: set[str], require_all: bool = True
) -> type[UpdateReply]:
    _, unassigned_type, category_type = _guided_parts(labels, {normalise(n) for n in existing_names})
    ordered = sorted(labels, key=_label_order)

    class BatchAssignment(Assignment):
        run: str = Field(json_schema_extra={"enum": [*ordered]})
        category: str = Field(json_schema_extra={"enum": [*sorted(category_ids, key=_label_order)]})

    BatchAssignment.__name__ = "Assignment"

    class CheckedUpdateReply(UpdateReply):
        assignments: list[BatchAssignment] = Field(default_factory=list)  # type: ignore[assignment]  # narrower items
        # Made per batch, which mypy cannot follow; pydantic validates them.
        new_categories: list[category_type] = Field(default_factory=list)  # type: ignore[valid-type]
        unassigned: list[unassigned_type] = Field(default_factory=list)  # type: ignore[valid-type]

        @model_validator(mode="after")
        def _rules(self) -> CheckedUpdateReply:
            unknown = sorted({a.category for a in self.assignments} - category_ids)
            if unknown:
                raise ValueError(
                    f"unknown category ids {unknown}; assign to one of the listed ids or create a new category"
                )
            new_categories = cast(list[NewCategory], self.new_categories)
            _check_new_names(new_categories, {normalise(n) for n in existing_names})
            placed = [a.run for a in self.assignments] + [e.run for c in new_categories for e in c.examples]
            unassigned = cast(list[ReplyUnassigned], self.unassigned)
            missing = _check_batch(labels, placed, [u.run for u in unassigned], require_all)
            self.unassigned += [unassigned_type(run=run, reason=UNPLACED_REASON) for run in missing]
            return self

    CheckedUpdateReply.__name__ = "UpdateReply"
    return CheckedUpdateReply


class Merge(BaseModel):
    keep: str
    absorb: list[str] = Field(min_length=1)
    name: str | None = None
    definition: str | None = None


class MergeReply(BaseModel):
    merges: list[Merge] = Field(default_factory=list)


class AppliedMerge(BaseModel):
    keep: str
    absorb: list[str]


class MergeApplied(BaseModel):
    """A merge round, as the categorization records it."""

    round: int
    applied: list[AppliedMerge]


class MergeFailed(BaseModel):
    round: int
    error: str


MergeRecord = MergeApplied | MergeFailed


def merge_schema(category_ids: set[str]) -> type[MergeReply]:
    class CheckedMergeReply(MergeReply):
        @model_validator(mode="after")
        def _rules(self) -> CheckedMergeReply:
            used: set[str] = set()
            for merge in self.merges:
                ids = [merge.keep, *merge.absorb]
                unknown = sorted(set(ids) - category_ids)
                if unknown:
                    raise ValueError(f"unknown category ids {unknown}")
                if len(set(ids)) != len(ids) or used & set(ids):
                    raise ValueError("each category may appear in at most one merge, once")
                used.update(ids)
            return self

    CheckedMergeReply.__name__ = "MergeReply"
    return CheckedMergeReply


def apply_merges(taxonomy: Taxonomy, reply: MergeReply) -> list[AppliedMerge]:
    by_id = taxonomy.by_id()
    applied = []
    for merge in reply.merges:
        keep = by_id[merge.keep]
        for absorbed_id in merge.absorb:
            for example in by_id[absorbed_id].examples:
                taxonomy.add_example(keep, example)
            keep.merged_from.append(absorbed_id)
        if (
            merge.name
            and not banned_name(merge.name)
            and normalise(merge.name) not in {normalise(c.name) for c in taxonomy.categories if c.id != keep.id}
        ):
            keep.name = merge.name
        if merge.definition:
            keep.definition = merge.definition
        applied.append(AppliedMerge(keep=merge.keep, absorb=merge.absorb))
    absorbed = {a for m in reply.merges for a in m.absorb}
    taxonomy.categories = [c for c in taxonomy.categories if c.id not in absorbed]
    return applied


def _label_order(label: str) -> int:
    digits = "".join(ch for ch in label if ch.isdigit())
    return int(digits) if digits else 0
