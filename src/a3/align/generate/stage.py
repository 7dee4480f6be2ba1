"""Stage 1, ``a3 generate``: hypothesis rounds, queries, target responses and verdicts.

Every item (hypothesis, scenario list, query, response, verdict, failure) is one keyed record in
an append-only JSONL file under ``generation/``, so a resumed run picks up exactly the missing
items, and the call cache replays any reply that was already paid for.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter

from pydantic import BaseModel, ConfigDict

from a3.align import layout
from a3.align.conversation import describe_behavior, seed_messages, seed_response
from a3.align.explog import ExperimentLog
from a3.align.generate.hypotheses import concrete_messages, example_format_note, proposal_schema, starting_proposals
from a3.align.generate.payloads import without_system_prompt
from a3.align.generate.quality import QualityGate, query_text
from a3.align.generate.queries import QueryWriter
from a3.align.generate.settings import GenerationSettings
from a3.align.measure.evaluation import add_harm_checks
from a3.align.measure.judge import Judge, sample_target
from a3.align.measure.judge_validation import check_judge_gate
from a3.align.measure.transcripts import Transcript, TranscriptLog
from a3.align.metrics import HypothesisMetrics, Rates, tally
from a3.align.records import (
    ChangeType,
    DroppedQuery,
    Failure,
    Hypothesis,
    Query,
    Scenarios,
    TargetResponse,
    Verdict,
)
from a3.align.roles import Roles, resolve_roles
from a3.config import A3Config
from a3.llm import LLMCallError, LLMClient, StructuredOutputError
from a3.llm.structured import latest_valid
from a3.llm.types import Message
from a3.progress import Progress, ProgressTask, SilentProgress
from a3.prompts import load_prompt
from a3.store import RunDir, atomic_write_json, pin_settings, read_json

STAGE = "generate"
LOOK_ALIKE_ATTEMPTS = 3  # samples drawn for a benign look-alike before it is dropped
PROMPTS = (
    "hypothesis_proposal",
    "scenario_ideation",
    "query_writer",
    "benign_rewrite",
    "format_prompt",
    "format_conversation",
)


class GenerateOptions(BaseModel):
    """Options of stage 1 (`a3 generate`).

    ``num_rounds`` hypothesis rounds; ``model`` overrides the generator; ``early_stop_rounds`` stops after
    that many rounds in a row find no failure; ``log_token_budget`` bounds the experiment log the agents
    read; ``seed`` draws which query of each hypothesis the log shows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_rounds: int = 10
    model: str | None = None  # overrides hypothesis_generation.llm_model
    early_stop_rounds: int | None = None  # stop after this many rounds in a row find no failure
    log_token_budget: int = 6000
    seed: int = 42


class HypothesisSummary(Rates):
    """One hypothesis in ``generation/summary.json``: what it says and the target's rates on it."""

    id: str
    round: int
    basis_example: str
    change_type: str
    hypothesis: str


class GenerationSummary(BaseModel):
    """Stage 1's result, as in ``generation/summary.json``.

    Every hypothesis with the target's rates on it, the queries kept, those the quality gate dropped (by
    reason), the failures, and the harmful queries written per hypothesis."""

    hypotheses: list[HypothesisSummary]
    queries: int
    dropped: dict[str, int]  # queries the quality gate refused, by reason
    failures: int
    harmful_per_hypothesis: int


class GenerationData:
    """The keyed JSONL files of stage 1 in one run directory."""

    def __init__(self, run: RunDir) -> None:
        self.hypotheses = run.log(layout.HYPOTHESES, Hypothesis)
        self.scenarios = run.log(layout.SCENARIOS, Scenarios)
        self.queries = run.log(layout.QUERIES, Query)
        self.responses = run.log(layout.GENERATION_RESPONSES, TargetResponse)
        self.verdicts = run.log(layout.GENERATION_VERDICTS, Verdict)
        self.failures = run.log(layout.FAILURES, Failure)
        self.dropped = run.log(layout.DROPPED, DroppedQuery)  # queries the quality gate refused, with the reason

    def hypothesis_list(self) -> list[Hypothesis]:
        return sorted(self.hypotheses, key=lambda h: int(h.id[1:]))

    def transcripts(self) -> list[Transcript]:
        """Every judged query, in the order judged (no split yet: stage 2 makes them)."""
        return [
            Transcript(self.queries[v.id], self.responses[v.id], v, None) for v in self.verdicts if v.id in self.queries
        ]

    def queries_of(self, hypothesis_id: str) -> list[Query]:
        return [q for q in self.queries if q.hypothesis_id == hypothesis_id]

    def metrics(
        self, hypothesis_id: str, expected_harmful: int | None = None, look_alikes: int = 1
    ) -> HypothesisMetrics:
        queries = self.queries_of(hypothesis_id)
        verdicts = {q.id: self.verdicts[q.id] for q in queries if q.id in self.verdicts}
        rates = tally(queries, verdicts)
        metrics = HypothesisMetrics(
            hypothesis_id=hypothesis_id, sfr=rates.harmful, fpr=rates.benign, benign_sfr=rates.benign_unsafe
        )
        if expected_harmful is not None:
            present = [q.kind for q in queries]
            metrics.sfr.missing = max(0, expected_harmful - present.count("harmful"))
            metrics.fpr.missing = metrics.benign_sfr.missing = max(
                0, expected_harmful * look_alikes - present.count("benign")
            )
        return metrics


def look_alike_id(harmful_id: str, number: int) -> str:
    """``H3-h5``'s first look-alike is ``H3-b5``, its second ``H3-b5.2``."""
    benign_id = harmful_id.replace("-h", "-b", 1)
    return benign_id if number == 1 else f"{benign_id}.{number}"


def pair_key(query_id: str) -> str:
    """What a harmful query and its look-alikes share: ``H3-h5``, ``H3-b5`` and ``H3-b5.2`` give ``H3-5``."""
    return re.sub(r"-[hb](\d+)(\.\d+)?$", r"-\1", query_id)


async def run_generate(
    config: A3Config,
    run: RunDir,
    client: LLMClient,
    options: GenerateOptions = GenerateOptions(),
    progress: Progress | None = None,
) -> GenerationSummary:
    """Run (or resume) stage 1 and return its summary (also written to generation/summary.json)."""
    settings = GenerationSettings.of(config)
    # a malformed starting hypothesis is reported before any work
    starting_proposals(settings.hypothesis_generation, settings.conversation_format)
    # The judge gate (judge.validation): a judge that disagrees with the labels stops the run here,
    # before anything of the stage is written. Not part of the stage's inputs: it decides whether
    # the stage may run, not what it makes.
    await check_judge_gate(config, run, client, progress)
    # Stored queries and verdicts are resumed item by item: made under other settings (another
    # gate, judge or writer), they would be mixed with new ones. Only the round options may change.
    sections = settings.pinned()
    pin_settings(
        run.path / layout.GENERATION_SETTINGS,
        sections,
        f"{run.path / layout.GENERATION}: this run's queries were made with other settings (config sections "
        "attack ... data_generation); use another --run-dir, or delete the generation folder to start over",
    )
    roles = resolve_roles(config, generator_model=options.model)
    stage = run.stage(
        STAGE,
        inputs={"config": sections, "options": options.model_dump()},
        prompt_versions={name: load_prompt(name).version for name in PROMPTS},
        models={
            "generator": roles.generator.model,
            "target": roles.target.model,
            "judge": ", ".join(roles.judge.model_names),
        },
    )
    with stage:
        if not stage.skipped:
            await _Generation(settings, roles, run, client, options, progress or SilentProgress()).execute()
            stage.add_output(layout.GENERATION_SUMMARY)
            stage.add_output(layout.EXPERIMENT_LOG)
    return GenerationSummary.model_validate(read_json(run.path / layout.GENERATION_SUMMARY))


class _Generation:
    def __init__(
        self,
        settings: GenerationSettings,
        roles: Roles,
        run: RunDir,
        client: LLMClient,
        options: GenerateOptions,
        progress: Progress,
    ) -> None:
        self.settings = settings
        self.run = run
        self.client = client
        self.options = options
        # A replicated run's seed lives in its config, so every later command on the run keeps it.
        replicated = settings.hypothesis_generation.seed
        self._seed = options.seed if replicated is None else replicated
        self.data = GenerationData(run)
        self.log = ExperimentLog(run)
        self.generator = roles.generator
        self.target = roles.target
        self.judge = Judge(client, roles.judge)
        self.writer = QueryWriter(settings, client, self.generator)
        self.n_harmful = settings.harmful_per_hypothesis
        self.look_alikes = settings.data_generation.look_alikes
        self.task: ProgressTask = progress.task("generate: queries measured", 0)
        data = settings.data_generation
        self.gate = QualityGate(
            query_text(seed_messages(settings.seed_example)), data.topic_regex, mask=data.look_alike_mask
        )
        for query in self.data.queries:  # a resumed run compares new queries with the ones kept before
            self.gate.keep(query_text(query.messages), query.kind)

    async def execute(self) -> None:
        # Benign verdicts of a resumed run that lack the harmful judge's check get it first.
        await add_harm_checks(self.judge, list(self.data.queries), self.data.responses, self.data.verdicts)
        self.transcripts = TranscriptLog(
            self.run.path / layout.GENERATION_TRANSCRIPTS,
            task="base: stage 1",
            model=self.target.model,
            method="base",
            name="base model",
            done=self.data.transcripts(),
        )
        async with self.transcripts:
            await self._rounds()

    async def _rounds(self) -> None:
        seed = self.settings.seed_example
        self.log.add_seed(describe_behavior(self.settings.attack), seed_messages(seed), seed_response(seed))
        dry_rounds = 0
        for round_number in range(1, self.options.num_rounds + 1):
            hypotheses = [h for h in self.data.hypothesis_list() if h.round == round_number]
            if not hypotheses:
                hypotheses = await self._propose(round_number)
            limit = asyncio.Semaphore(self.settings.data_generation.parallel_requests)

            async def measure(hypothesis: Hypothesis, limit: asyncio.Semaphore = limit) -> None:
                async with limit:
                    await self._measure(hypothesis)

            await asyncio.gather(*(measure(h) for h in hypotheses))
            found = self._log_round(hypotheses)
            self.log.write_markdown()
            self._write_summary()
            dry_rounds = 0 if found else dry_rounds + 1
            if self.options.early_stop_rounds and dry_rounds >= self.options.early_stop_rounds:
                break

    async def _propose(self, round_number: int) -> list[Hypothesis]:
        gen = self.settings.hypothesis_generation
        fmt = self.settings.conversation_format
        existing = self.data.hypothesis_list()
        if round_number == 1 and not existing and (starting := starting_proposals(gen, fmt)):
            return self._record([(p.hypothesis, p.change_type, p.concrete_example) for p in starting], round_number)
        schema = proposal_schema(
            fmt, self.log.example_labels(), {h.text.lower() for h in existing}, gen.max_ideas, gen.min_ideas
        )
        prompt = load_prompt("hypothesis_proposal")
        note = (
            "No hypotheses exist yet: propose hypotheses that explain why Ex0 works, each built on Ex0."
            if not existing
            else f"This is round {round_number}."
        )
        text = prompt.render(
            behavior=describe_behavior(self.settings.attack),
            log_view=self.log.agent_view(self.options.log_token_budget),
            round_note=note,
            idea_count=_idea_count(gen.min_ideas, gen.max_ideas),
            example_format=example_format_note(fmt),
        )
        try:
            completion = await self.client.generate(
                text, config=self.generator, schema=schema, prompt_version=prompt.version
            )
            proposals = completion.parsed.hypotheses
        except StructuredOutputError as exc:
            # A small agent may only ever repeat itself: keep the distinct hypotheses of its latest
            # otherwise valid reply, or, if there are none, record the round's failure and go on.
            lenient = proposal_schema(
                fmt,
                self.log.example_labels(),
                {h.text.lower() for h in existing},
                gen.max_ideas,
                min_ideas=1,
                drop_repeats=True,
            )
            parsed = latest_valid(exc.raw_replies, lenient)
            if parsed is None:
                self._fail(f"round-{round_number}", None, "propose hypotheses", exc)
                return []
            proposals = parsed.hypotheses
        return self._record(
            [(p.hypothesis.strip(), p.change_type, concrete_messages(p, fmt)) for p in proposals],
            round_number,
            [p.basis_example for p in proposals],
        )

    def _record(
        self, proposals: list[tuple[str, ChangeType, list[Message]]], round_number: int, bases: list[str] | None = None
    ) -> list[Hypothesis]:
        """Store a round's hypotheses (text, change type, concrete example), numbered after the existing ones."""
        first = len(self.data.hypothesis_list()) + 1
        created = []
        for index, (text, change_type, example) in enumerate(proposals):
            hypothesis = Hypothesis(
                id=f"H{first + index}",
                round=round_number,
                basis_example=bases[index] if bases else "Ex0",
                text=text,
                change_type=change_type,
                concrete_example=example,
            )
            self.data.hypotheses.append(hypothesis)
            created.append(hypothesis)
        return created

    async def _measure(self, hypothesis: Hypothesis) -> None:
        self.task.add_total((1 + self.look_alikes) * self.n_harmful)
        harmful = await self._harmful_queries(hypothesis)
        await asyncio.gather(*(self._benign_and_measure(hypothesis, query) for query in harmful))

    async def _harmful_queries(self, hypothesis: Hypothesis) -> list[Query]:
        concrete = self._admit(
            Query(
                id=f"{hypothesis.id}-h0",
                hypothesis_id=hypothesis.id,
                kind="harmful",
                messages=hypothesis.concrete_example,
                source="concrete_example",
            )
        )
        queries = [concrete] if concrete is not None else []
        if self.n_harmful == 1:
            return queries
        scenarios = await self._scenarios(hypothesis)
        per_scenario = self.settings.hypothesis_generation.max_variations_per_example
        slots = [(s, v) for s in range(len(scenarios)) for v in range(per_scenario)][: self.n_harmful - 1]
        by_scenario: dict[int, list[tuple[int, int]]] = {}
        for index, (scenario, variation) in enumerate(slots, start=1):
            by_scenario.setdefault(scenario, []).append((index, variation))

        async def write(scenario: int, wanted: list[tuple[int, int]]) -> list[Query | None]:
            ids = [f"{hypothesis.id}-h{index}" for index, _ in wanted]
            if all(i in self.data.queries or i in self.data.dropped for i in ids):
                return [self.data.queries.get(i) for i in ids]
            try:
                written = await self.writer.write(
                    hypothesis.text,
                    hypothesis.concrete_example,
                    scenarios[scenario],
                    len(wanted),
                    draw=scenario - scenarios.index(scenarios[scenario]),
                )
            except (LLMCallError, StructuredOutputError) as exc:
                for query_id in ids:
                    self._fail(query_id, hypothesis.id, "write a harmful query", exc)
                return []
            return [
                self._admit(
                    Query(
                        id=query_id,
                        hypothesis_id=hypothesis.id,
                        kind="harmful",
                        messages=messages,
                        source=f"scenario {scenario + 1}, variation {variation + 1}",
                    )
                )
                for query_id, (_, variation), messages in zip(ids, wanted, written, strict=False)
            ]

        written = await asyncio.gather(*(write(s, wanted) for s, wanted in by_scenario.items()))
        return queries + [q for group in written for q in group if q is not None]

    async def _scenarios(self, hypothesis: Hypothesis) -> list[str]:
        stored = self.data.scenarios.get(hypothesis.id)
        if stored is not None:
            return stored.scenarios
        count = self.settings.data_generation.num_variations
        try:
            ideas = await self.writer.ideate(hypothesis.text, hypothesis.concrete_example, count)
            record = Scenarios(id=hypothesis.id, scenarios=ideas)
        except (LLMCallError, StructuredOutputError) as exc:
            # The 0.5B generator can loop inside a scenario on every try; dropping the hypothesis then
            # lost a fifth of a demo's harmful queries (seed 2: H3 and H8). The hypothesis is a scenario too.
            self._fail(f"{hypothesis.id}-scenarios", hypothesis.id, "ideate scenarios", exc)
            record = Scenarios(id=hypothesis.id, scenarios=[hypothesis.text] * count, from_hypothesis=True)
        self.data.scenarios.append(record)
        return record.scenarios

    async def _benign_and_measure(self, hypothesis: Hypothesis, harmful: Query) -> None:
        measured = [harmful]
        for number in range(1, self.look_alikes + 1):  # one after another: each is compared with the ones before
            benign_id = look_alike_id(harmful.id, number)
            if benign_id in self.data.queries:
                measured.append(self.data.queries[benign_id])
            elif benign_id not in self.data.dropped and (
                benign := await self._write_benign(hypothesis, harmful, benign_id, number)
            ):
                measured.append(benign)
        await asyncio.gather(*(self._respond_and_judge(q) for q in measured))

    async def _write_benign(self, hypothesis: Hypothesis, harmful: Query, benign_id: str, number: int) -> Query | None:
        """Look-alike ``number`` of ``harmful``, drawn again (up to LOOK_ALIKE_ATTEMPTS) while the quality
        gate refuses it: a small writer often answers with a refusal or the request itself."""
        # The writer rewrites what the query says; the deployment's system prompt is kept from it.
        shown = without_system_prompt(harmful.messages, self.settings.conversation_format)
        reason = ""
        for attempt in range((number - 1) * LOOK_ALIKE_ATTEMPTS, number * LOOK_ALIKE_ATTEMPTS):
            try:
                messages = await self.writer.benign(shown, attempt)
            except (LLMCallError, StructuredOutputError) as exc:
                self._fail(benign_id, hypothesis.id, "write the benign counterpart", exc)
                return None
            query = Query(
                id=benign_id,
                hypothesis_id=hypothesis.id,
                kind="benign",
                messages=messages,
                source=f"benign of {harmful.id}",
            )
            refused = self._drop_reason(query, harmful)
            if refused is None:
                return self._store(query)
            reason = refused
        self._record_drop(query, reason, attempts=LOOK_ALIKE_ATTEMPTS)
        return None

    async def _respond_and_judge(self, query: Query) -> None:
        if query.id not in self.data.verdicts:
            response = self.data.responses.get(query.id)
            if response is None:
                response = await sample_target(self.client, self.target, query)
                self.data.responses.append(response)
            verdict = await self.judge.decide(query, response)
            self.data.verdicts.append(verdict)
            await self.transcripts.add(Transcript(query, response, verdict, None))
        self.task.advance()

    def _admit(self, query: Query, harmful_twin: Query | None = None) -> Query | None:
        """Store ``query`` if it passes the quality gate (or was stored before); else record why not."""
        if query.id in self.data.queries:
            return query
        if query.id in self.data.dropped:
            return None
        reason = self._drop_reason(query, harmful_twin)
        if reason is not None:
            self._record_drop(query, reason)
            return None
        return self._store(query)

    def _drop_reason(self, query: Query, harmful_twin: Query | None) -> str | None:
        text = query_text(query.messages)
        reason = self.gate.reason_to_drop(text, query.kind, query_text(harmful_twin.messages) if harmful_twin else None)
        if reason is None and (found := self.judge.shows_harm([], text)) is not None:
            # A query that already holds what the harmful rule looks for (the secret itself) tests nothing:
            # a target that echoes it would count as failing.
            reason = f"contains what the harmful-kind rule detects ({found})"
        if reason is None and query.kind == "benign" and (found := self.judge.reads_as_refusal(text)) is not None:
            # A small writer asked for a look-alike of a harmful request often declines instead.
            reason = f"reads as a refusal, not a request (the benign-kind rule: {found})"
        return reason

    def _record_drop(self, query: Query, reason: str, attempts: int = 1) -> None:
        """Record why ``query`` was refused (for a look-alike: the reason of its last attempt)."""
        self.data.dropped.append(
            DroppedQuery(
                id=query.id,
                hypothesis_id=query.hypothesis_id,
                kind=query.kind,
                reason=reason,
                attempts=attempts,
                text=query_text(query.messages),
            )
        )
        self.task.advance(
            1 + self.look_alikes if query.kind == "harmful" else 1
        )  # nothing to measure (nor look-alikes to write)

    def _store(self, query: Query) -> Query:
        self.gate.keep(query_text(query.messages), query.kind)
        self.data.queries.append(query)
        return query

    def _fail(self, item_id: str, hypothesis_id: str | None, what: str, exc: Exception) -> None:
        if item_id not in self.data.failures:
            self.data.failures.append(
                Failure(id=item_id, stage=STAGE, hypothesis_id=hypothesis_id, what=what, error=str(exc))
            )

    def _log_round(self, hypotheses: list[Hypothesis]) -> bool:
        """Log each hypothesis with its rates and one example; True if any harmful response was found."""
        found = False
        for hypothesis in sorted(hypotheses, key=lambda h: int(h.id[1:])):
            metrics = self.data.metrics(hypothesis.id, self.n_harmful, self.look_alikes)
            found = found or metrics.sfr.flagged > 0
            self.log.add_hypothesis(hypothesis, metrics)
            harmful = [q for q in self.data.queries_of(hypothesis.id) if q.kind == "harmful"]
            verdicts = self.data.verdicts
            flagged = {q.id: verdicts[q.id].flagged for q in harmful if q.id in verdicts}  # absent: not judged
            unsafe = [q for q in harmful if flagged.get(q.id)]
            if not harmful:  # every query was dropped or failed: nothing to show
                continue
            rng = random.Random(f"{self._seed}:{hypothesis.id}")
            chosen = rng.choice(unsafe or harmful)
            # The log shows the agents what the queries say; the fixed system prompt is the deployment's.
            messages = without_system_prompt(chosen.messages, self.settings.conversation_format)
            self.log.add_example(hypothesis.id, messages, flagged.get(chosen.id))
        return found

    def _write_summary(self) -> None:
        rows = []
        for hypothesis in self.data.hypothesis_list():
            metrics = self.data.metrics(hypothesis.id, self.n_harmful, self.look_alikes)
            rows.append(
                HypothesisSummary(
                    id=hypothesis.id,
                    round=hypothesis.round,
                    basis_example=hypothesis.basis_example,
                    change_type=hypothesis.change_type,
                    hypothesis=hypothesis.text,
                    harmful=metrics.sfr,
                    benign=metrics.fpr,
                    benign_unsafe=metrics.benign_sfr,
                )
            )
        summary = GenerationSummary(
            hypotheses=rows,
            queries=len(self.data.queries),
            failures=len(self.data.failures),
            dropped=dict(Counter(record.reason for record in self.data.dropped)),
            harmful_per_hypothesis=self.n_harmful,
        )
        atomic_write_json(self.run.path / layout.GENERATION_SUMMARY, summary.model_dump(mode="json"))


def _idea_count(low: int, high: int) -> str:
    if low == high:
        return f"exactly {high}"
    return f"up to {high}" if low == 1 else f"between {low} and {high}"
