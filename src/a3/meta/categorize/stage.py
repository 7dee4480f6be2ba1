"""Step 3, ``a3 meta categorize``: runs into benign-input vulnerability categories.

The first batch builds the taxonomy; the remaining runs go in waves of ``parallel_batches``
batches that run concurrently against the same snapshot of the taxonomy. After each wave the
replies are applied in batch order (a new category whose name another batch of the wave already
created joins it), and the taxonomy plus the processed run ids are checkpointed, so a crash
loses at most one wave, whose paid replies the call cache replays. Every few waves, and at the
end, near-duplicate categories are merged. The number of sequential LLM rounds is therefore
about 1 + waves + merges instead of one per batch.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from a3.llm import LLMCallError, LLMClient, StructuredOutputError
from a3.llm.structured import latest_valid
from a3.meta.categorize.embed import PROMPTS as EMBED_PROMPTS
from a3.meta.categorize.embed import EmbedCategorizer
from a3.meta.categorize.evidence import normalise, quote_found
from a3.meta.categorize.grouping import LOCAL_SUMMARY_WEIGHTS, EmbedWeights, GroupingStats
from a3.meta.categorize.pregroup import Embedder, group
from a3.meta.categorize.taxonomy import (
    Category,
    Example,
    InitialReply,
    MergeApplied,
    MergeFailed,
    MergeRecord,
    ReplyExample,
    Taxonomy,
    Unassigned,
    UpdateReply,
    apply_merges,
    initial_schema,
    merge_schema,
    update_schema,
)
from a3.meta.elicitation_runs import RunRef
from a3.meta.formats import (
    Categorization,
    CategorizationMetadata,
    CategorizationStatistics,
    CategoryEntry,
    CategoryList,
    ExampleEntry,
    read_categorization,
    write_categorization,
)
from a3.meta.settings import LLMSettings
from a3.meta.summarize import RunFacts, Summary, SummaryStore, build_prompt
from a3.progress import Progress, SilentProgress
from a3.prompts import load_prompt
from a3.store import RunDir, atomic_write_json, read_json, sha256_of

STAGE = "categorize"
CHECKPOINT = "categorization/checkpoint.json"
RESULT = "categorization/result.json"  # where the finished categorization is, relative to the work dir
PROMPTS = ("meta_categorize_initial", "meta_categorize_update", "meta_merge")


class CategorizeOptions(LLMSettings):
    """How ``categorize_runs`` places runs: the grouping method and, for the original's method, its batches."""

    initial_batch_size: int = 10
    iterative_batch_size: int = 5
    parallel_batches: int = 16
    merge_every: int = 4  # waves between merge rounds; 0 merges only at the end
    pregroup: bool = False
    examples_shown: int = 3
    # "embed": group by embeddings, the model names groups and places outliers (a3.meta.categorize.embed);
    # "llm": the original's batches of summaries, each placed by the model. Extending a taxonomy (--resume) is "llm".
    method: Literal["embed", "llm"] = "embed"
    weights: EmbedWeights | None = (
        None  # None: EmbedWeights(), or LOCAL_SUMMARY_WEIGHTS when a local model wrote the summaries
    )
    max_groups: int | None = None  # embed: the largest k the silhouette may choose (default grouping.MAX_GROUPS, 40)


class CategorizeContext(BaseModel):
    """What the output file records about where the runs came from."""

    model_config = ConfigDict(frozen=True)

    agent: str
    perturbation_model: str
    task_list_path: str
    refinement_model_filter: str | None = None


class _State(BaseModel):
    """The checkpointed progress of one categorization."""

    signature: str
    taxonomy: Taxonomy
    processed: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)  # run id -> error, for batches that never validated
    rounds: int = 0
    waves: int = 0
    merges: list[MergeRecord] = Field(default_factory=list)
    new_since_merge: int = 0
    unverified_quotes: int = (
        0  # trigger phrases dropped: not found in the run they were attached to (absent from early checkpoints)
    )
    grouping: GroupingStats | None = Field(default=None, exclude=True)  # the embed method's figures, never checkpointed


async def categorize_runs(
    refs: list[RunRef],
    run_dir: RunDir,
    client: LLMClient,
    context: CategorizeContext,
    options: CategorizeOptions = CategorizeOptions(),
    *,
    resume_from: Categorization | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> Categorization:
    """Place the runs in benign-input vulnerability categories, written to the work dir.

    Extends ``resume_from`` (ours or the original's) when given, with the original's method; reads the
    categorization back when this one was finished before."""
    summaries = _latest_summaries(SummaryStore(run_dir), refs)
    start = _start_taxonomy(resume_from, refs)
    method = "llm" if resume_from is not None else options.method
    signature = sha256_of(
        {
            "summaries": {r: s.input_hash for r, s in summaries.items()},
            "runs": [str(r.run) for r in refs],
            "options": options.model_dump(),
            "method": method,
            "prompts": {p: load_prompt(p).version for p in _prompts(method)},
            "resume": start.model_dump() if resume_from is not None else None,
        }
    )
    stage = run_dir.stage(STAGE, inputs={"signature": signature}, models={"categorizer": options.model})
    with stage:
        if stage.skipped:
            return read_categorization(run_dir.path / read_json(run_dir.path / RESULT)["path"])
        state = _State(signature=signature, taxonomy=start)
        if method == "embed":
            if embedder is None:
                from a3.meta.categorize.pregroup import minilm_embedder

                embedder = minilm_embedder()
            grouper = EmbedCategorizer(
                client,
                options.call_config(),
                embedder,
                _weights(options, summaries),
                options.max_groups,
                progress or SilentProgress(),
            )
            state.taxonomy, state.grouping = await grouper.run(_with_run_facts(summaries, refs, state))
            state.rounds = state.grouping.sequential_llm_rounds
        else:
            engine = _Engine(run_dir, client, options, summaries, embedder, progress or SilentProgress())
            state = engine.load_or_start(signature, start)
            await engine.run(state)
        categorization = _categorization(run_dir, state, refs, summaries, context, options, resume_from, start)
        write_categorization(categorization)
        relative = str(categorization.path.relative_to(run_dir.path))
        atomic_write_json(run_dir.path / RESULT, {"path": relative})
        stage.add_output(relative)
    return categorization


def _weights(options: CategorizeOptions, summaries: dict[str, Summary]) -> EmbedWeights:
    if options.weights is not None:
        return options.weights
    local = summaries and all(s.model.startswith("local/") for s in summaries.values())
    return LOCAL_SUMMARY_WEIGHTS if local else EmbedWeights()


def _prompts(method: str) -> tuple[str, ...]:
    return EMBED_PROMPTS if method == "embed" else PROMPTS


def _with_run_facts(summaries: dict[str, Summary], refs: list[RunRef], state: _State) -> dict[str, RunFacts]:
    """The summaries, plus, for a run without one, its instructions and harm read from its files:
    the embedding grouping needs no summary to place a run. A run whose files cannot be read is
    noted as failed with the reason."""
    records: dict[str, RunFacts] = dict(summaries)
    for ref in refs:
        run = str(ref.run)
        if run in records:
            continue
        try:
            _, _, facts = build_prompt(ref)
        except ValueError as exc:
            state.failed[run] = str(exc)
            continue
        records[run] = facts
    return records


def _latest_summaries(store: SummaryStore, refs: list[RunRef]) -> dict[str, Summary]:
    found = {}
    for ref in refs:
        record = store.get(str(ref.run))
        if record is not None:
            found[str(ref.run)] = record
    return found


class _Engine:
    def __init__(
        self,
        run_dir: RunDir,
        client: LLMClient,
        options: CategorizeOptions,
        summaries: dict[str, Summary],
        embedder: Embedder | None,
        progress: Progress,
    ) -> None:
        self.run_dir = run_dir
        self.client = client
        self.options = options
        self.summaries = summaries
        self.embedder = embedder
        self.progress = progress
        self.config = options.call_config()

    def load_or_start(self, signature: str, start: Taxonomy) -> _State:
        path = self.run_dir.path / CHECKPOINT
        if path.exists():
            data = read_json(path)
            if data.get("signature") == signature:
                return _State.model_validate(data)
        state = _State(signature=signature, taxonomy=start)
        state.processed = sorted(start.placed_runs() & set(self.summaries))  # resume de-duplicates by run id
        return state

    def checkpoint(self, state: _State) -> None:
        atomic_write_json(self.run_dir.path / CHECKPOINT, state.model_dump())

    async def run(self, state: _State) -> None:
        todo = [r for r in self.summaries if r not in set(state.processed) and r not in state.failed]
        task = self.progress.task("categorize: runs placed", len(todo))
        groups = self._groups(todo)
        while not state.taxonomy.categories and any(groups):  # a batch that never validates: the next one starts
            batch = _round_robin(groups, self.options.initial_batch_size)
            await self._initial(state, batch)
            task.advance(len(batch))
            groups = [[r for r in g if r not in set(batch)] for g in groups]
        if self.options.merge_every and state.waves and state.waves % self.options.merge_every == 0:
            await self._merge(
                state
            )  # a merge due after the last checkpointed wave, lost to a kill: done before the next wave
        batches = [
            g[i : i + self.options.iterative_batch_size]
            for g in groups
            for i in range(0, len(g), self.options.iterative_batch_size)
        ]
        for wave in _waves(batches, groups, self.options.parallel_batches, self.options.iterative_batch_size):
            await self._wave(state, wave)
            task.advance(sum(len(b) for b in wave))
            if self.options.merge_every and state.waves % self.options.merge_every == 0:
                await self._merge(state)
        await self._merge(state)
        if state.failed:  # one more try for batches that never validated, with fresh samples
            retry = list(state.failed)
            state.failed = {}
            if not state.taxonomy.categories:
                await self._initial(state, retry[: self.options.initial_batch_size], salt="retry")
                retry = retry[self.options.initial_batch_size :]
                if not state.taxonomy.categories:
                    state.failed.update(
                        {run: "no first batch validated, so there is no taxonomy to place it in" for run in retry}
                    )
                    self.checkpoint(state)
                    return
            waves = [
                retry[i : i + self.options.iterative_batch_size]
                for i in range(0, len(retry), self.options.iterative_batch_size)
            ]
            await self._wave(state, waves, salt="retry")
            await self._merge(state)

    def _groups(self, runs: list[str]) -> list[list[str]]:
        if not self.options.pregroup or self.embedder is None or not runs:
            return [runs] if runs else []
        texts = [self.summaries[r].summary for r in runs]
        return group(runs, texts, self.embedder, self.options.iterative_batch_size * 4)

    # -- rounds ------------------------------------------------------------------------------

    async def _initial(self, state: _State, batch: list[str], salt: str | None = None) -> None:
        """The taxonomy from a first batch; if no reply validates, the batch's runs are failed."""
        labels = {f"R{i}": run for i, run in enumerate(batch, start=1)}
        prompt = load_prompt("meta_categorize_initial")
        text = prompt.render(summaries=self._show_runs(labels))
        config = self.config.model_copy(update={"cache_salt": salt}) if salt else self.config
        try:
            completion = await self.client.generate(
                text, config=config, schema=initial_schema(set(labels)), prompt_version=prompt.version
            )
            reply: InitialReply | None = completion.parsed
        except StructuredOutputError as exc:
            reply = latest_valid(exc.raw_replies, initial_schema(set(labels), require_all=False))
            error = str(exc)
        except LLMCallError as exc:
            reply, error = None, str(exc)
        if reply is None:
            state.failed.update({run: error for run in batch})
            state.rounds += 1
            self.checkpoint(state)
            return
        taxonomy = state.taxonomy
        for new in reply.categories:
            category = Category(id=taxonomy.new_id(), name=new.name.strip(), definition=new.definition.strip())
            for example in new.examples:
                taxonomy.add_example(category, self._example(state, labels[example.run], example))
            taxonomy.categories.append(category)
        taxonomy.unassigned += [Unassigned(run_id=labels[u.run], reason=u.reason) for u in reply.unassigned]
        state.processed += batch
        state.rounds += 1
        state.new_since_merge += len(reply.categories)
        self.checkpoint(state)

    async def _wave(self, state: _State, wave: list[list[str]], salt: str | None = None) -> None:
        taxonomy = state.taxonomy
        snapshot = self._show_categories(taxonomy)
        ids = {c.id for c in taxonomy.categories}
        names = {c.name for c in taxonomy.categories}
        prompt = load_prompt("meta_categorize_update")
        config = self.config.model_copy(update={"cache_salt": salt}) if salt else self.config

        async def one(batch: list[str]) -> tuple[list[str], dict[str, str], UpdateReply | str]:
            labels = {f"R{i}": run for i, run in enumerate(batch, start=1)}
            text = prompt.render(categories=snapshot, summaries=self._show_runs(labels))
            try:
                completion = await self.client.generate(
                    text, config=config, schema=update_schema(set(labels), ids, names), prompt_version=prompt.version
                )
            except StructuredOutputError as exc:
                return (
                    batch,
                    labels,
                    latest_valid(exc.raw_replies, update_schema(set(labels), ids, names, require_all=False))
                    or str(exc),
                )
            except LLMCallError as exc:
                return batch, labels, str(exc)
            return batch, labels, completion.parsed

        for batch, labels, reply in await asyncio.gather(*(one(b) for b in wave)):
            if isinstance(reply, str):
                state.failed.update({run: reply for run in batch})
                continue
            self._apply(state, labels, reply)
            state.processed += batch
        state.rounds += 1
        state.waves += 1
        self.checkpoint(state)

    def _apply(self, state: _State, labels: dict[str, str], reply: UpdateReply) -> None:
        taxonomy = state.taxonomy
        by_id = taxonomy.by_id()
        for assignment in reply.assignments:
            taxonomy.add_example(by_id[assignment.category], self._example(state, labels[assignment.run], assignment))
        by_name = {normalise(c.name): c for c in taxonomy.categories}
        for new in reply.new_categories:
            category = by_name.get(normalise(new.name))
            if category is None:  # another batch of this wave may have created the same name already
                category = Category(id=taxonomy.new_id(), name=new.name.strip(), definition=new.definition.strip())
                taxonomy.categories.append(category)
                by_name[normalise(new.name)] = category
                state.new_since_merge += 1
            for example in new.examples:
                taxonomy.add_example(category, self._example(state, labels[example.run], example))
        taxonomy.unassigned += [Unassigned(run_id=labels[u.run], reason=u.reason) for u in reply.unassigned]

    async def _merge(self, state: _State) -> None:
        if state.new_since_merge == 0 or len(state.taxonomy.categories) < 2:
            return
        prompt = load_prompt("meta_merge")
        text = prompt.render(categories=self._show_categories(state.taxonomy))
        ids = {c.id for c in state.taxonomy.categories}
        try:
            completion = await self.client.generate(
                text, config=self.config, schema=merge_schema(ids), prompt_version=prompt.version
            )
        except (LLMCallError, StructuredOutputError) as exc:
            state.merges.append(MergeFailed(round=state.rounds + 1, error=str(exc)))
        else:
            state.merges.append(
                MergeApplied(round=state.rounds + 1, applied=apply_merges(state.taxonomy, completion.parsed))
            )
        state.rounds += 1
        state.new_since_merge = 0
        self.checkpoint(state)

    def _example(self, state: _State, run: str, reply: ReplyExample) -> Example:
        """The run's example; a trigger phrase that is not in the run's own text is dropped and counted."""
        record = self.summaries[run]
        texts = [record.perturbed_instruction, record.original_instruction, record.summary]
        phrase = reply.trigger_phrase.strip()
        if phrase and not quote_found(phrase, texts):
            state.unverified_quotes += 1
            phrase = ""
        return Example(run_id=run, trigger_phrase=phrase, justification=reply.justification)

    # -- rendering ---------------------------------------------------------------------------

    def _show_runs(self, labels: dict[str, str]) -> str:
        blocks = []
        for label, run in labels.items():
            record = self.summaries[run]
            blocks.append(
                "\n".join(
                    [
                        f"[{label}]",
                        f"Original instruction: {record.original_instruction or '(not available)'}",
                        f"Perturbed instruction: {record.perturbed_instruction or '(not available)'}",
                        f"Summary: {record.summary}",
                    ]
                )
            )
        return "\n\n".join(blocks)

    def _show_categories(self, taxonomy: Taxonomy) -> str:
        lines = []
        for category in taxonomy.categories:
            triggers = [e.trigger_phrase for e in category.examples if e.trigger_phrase][: self.options.examples_shown]
            lines.append(
                f"{category.id}: {category.name}\n  Definition: {category.definition}\n"
                f"  Runs: {len(category.run_ids())}"
                + (f"\n  Example triggers: {'; '.join(repr(t) for t in triggers)}" if triggers else "")
            )
        return "\n".join(lines) if lines else "(no categories yet)"


def _round_robin(groups: list[list[str]], count: int) -> list[str]:
    """Up to ``count`` runs taken one group at a time, so the first batch is diverse."""
    picked: list[str] = []
    depth = 0
    while len(picked) < count and any(depth < len(g) for g in groups):
        picked += [g[depth] for g in groups if depth < len(g)][: count - len(picked)]
        depth += 1
    return picked


def _waves(batches: list[list[str]], groups: list[list[str]], width: int, batch_size: int) -> list[list[list[str]]]:
    """Waves of up to ``width`` batches, taking batches from the groups in turn so that the
    batches running together are as different as the grouping allows."""
    per_group: list[list[list[str]]] = []
    cursor = 0
    for g in groups:
        count = (len(g) + batch_size - 1) // batch_size
        per_group.append(batches[cursor : cursor + count])
        cursor += count
    ordered: list[list[str]] = []
    depth = 0
    while any(depth < len(b) for b in per_group):
        ordered += [b[depth] for b in per_group if depth < len(b)]
        depth += 1
    return [ordered[i : i + width] for i in range(0, len(ordered), width)]


def _start_taxonomy(earlier: Categorization | None, refs: list[RunRef]) -> Taxonomy:
    """An empty taxonomy, or the one in an earlier categorization (ours or the original's)."""
    if earlier is None:
        return Taxonomy()
    by_short: dict[str, list[str]] = {}
    for ref in refs:
        by_short.setdefault(ref.run.short_id, []).append(str(ref.run))
    taxonomy = Taxonomy()
    for entry in earlier.categories:
        category = Category(id=taxonomy.new_id(), name=entry.category_name, definition=entry.definition)
        for example in entry.examples:
            run_id = example.run_id
            if run_id is None and example.id is not None:
                matches = by_short.get(example.id, [])
                run_id = matches[0] if len(matches) == 1 else None  # ambiguous or unknown ids stay unresolved
            category.examples.append(
                Example(
                    run_id=run_id,
                    trigger_phrase=example.trigger_phrase,
                    justification=example.justification,
                    original_id=example.id,
                )
            )
        taxonomy.categories.append(category)
    return taxonomy


def _categorization(
    run_dir: RunDir,
    state: _State,
    refs: list[RunRef],
    summaries: dict[str, Summary],
    context: CategorizeContext,
    options: CategorizeOptions,
    resume_from: Categorization | None,
    start: Taxonomy,
) -> Categorization:
    taxonomy = state.taxonomy
    unassigned = list(taxonomy.unassigned)
    placed = taxonomy.placed_runs()
    unassigned += [
        Unassigned(run_id=run, reason=f"categorization failed: {error}") for run, error in sorted(state.failed.items())
    ]
    listed = {u.run_id for u in unassigned}
    unassigned += [
        Unassigned(run_id=str(r.run), reason="no summary (`a3 meta summarize` has not made one; its failures say why)")
        for r in refs
        if str(r.run) not in summaries and str(r.run) not in placed and str(r.run) not in listed
    ]
    short_of = {str(r.run): r.run.short_id for r in refs}
    usage = run_dir.ledger.totals(stage=STAGE)
    method = "llm" if resume_from is not None else options.method
    categories = [
        CategoryEntry(
            category_id=c.id,
            category_name=c.name,
            definition=c.definition,
            examples=[
                ExampleEntry(
                    id=e.original_id or short_of.get(e.run_id or "", ""),
                    run_id=e.run_id,
                    trigger_phrase=e.trigger_phrase,
                    justification=e.justification,
                )
                for e in c.examples
            ],
            merged_from=c.merged_from,
            name_source=c.name_source,
            name_similarity=c.name_similarity,
            centroid=c.centroid,
        )
        for c in taxonomy.categories
    ]
    statistics = CategorizationStatistics(
        total_tasks=len(refs),
        runs_with_summary=len(summaries),
        unique_runs_categorized=len(placed),
        unassigned_runs=len({u.run_id for u in unassigned} - placed),
        unverified_quotes_dropped=state.unverified_quotes,
        unresolved_example_ids=sum(1 for c in taxonomy.categories for e in c.examples if e.run_id is None),
        total_categories=len(taxonomy.categories),
        total_examples=sum(len(c.examples) for c in taxonomy.categories),
        sequential_llm_rounds=state.rounds,
        llm_calls=usage.calls,
        cache_hits=usage.cache_hits,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.input_tokens + usage.output_tokens,
        cost=round(usage.cost_usd, 8),
        unpriced_calls=usage.unpriced_calls,
    )
    metadata = CategorizationMetadata(
        task_list_path=context.task_list_path,
        perturbation_model=context.perturbation_model,
        refinement_models_included=sorted({r.run.refinement_model for r in refs}),
        agent=context.agent,
        model_name=options.model,
        max_tokens=options.call_config().max_tokens,
        temperature=options.temperature,
        initial_categorization_batch_size=options.initial_batch_size,
        iterative_categorization_batch_size=options.iterative_batch_size,
        parallel_batches=options.parallel_batches,
        merge_every=options.merge_every,
        pregroup=options.pregroup,
        method=method,
        grouping=state.grouping,
        merges=state.merges,
        resume_categorization_path=str(resume_from.path) if resume_from is not None else None,
        resumed_from_categories=len(start.categories) if resume_from is not None else None,
        prompt_versions={p: load_prompt(p).version for p in _prompts(method)},
        summary_hashes={r: s.input_hash for r, s in sorted(summaries.items())},
        generated_at=datetime.now().isoformat(timespec="seconds"),
    )
    folder = (
        run_dir.path
        / "elicitation_run_categorization"
        / context.perturbation_model
        / (context.refinement_model_filter or "all_refinement_models")
        / context.agent
    )
    return Categorization(
        categorization=CategoryList(categories=categories, unassigned=unassigned),
        statistics=statistics,
        metadata=metadata,
        path=folder / f"elicitation_run_categorization_{context.agent}_{datetime.now():%Y%m%d_%H%M%S}.json",
    )
