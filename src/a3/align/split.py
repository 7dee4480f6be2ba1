"""Stage 2, ``a3 split``: the data into train / validation / OOD, plus a sealed test split.

Two ways (``splits.by``). By hypothesis (the paper's blog): the test hypotheses are drawn at random
(seeded) first, before any agent reads anything, and are then left out of every agent view; the
OOD agent chooses among the rest; the remainder is split at random into train and validation; no
hypothesis is in two splits. By query (the original code): the OOD agent chooses the held-out
hypotheses among all; the queries of the others are split at random, a harmful query and its
look-alike always together, the sealed test first. (The experiment log shows the agents one
stage-1 query per hypothesis with the untrained target's verdict, which may be a test query:
what they never see is any trained model's result on the test.) Baseline SFR/FPR of the untouched
target come from stage 1's judged
responses, per split and per hypothesis.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from a3.align import layout
from a3.align.conversation import describe_behavior
from a3.align.explog import ExperimentLog
from a3.align.generate.stage import STAGE as GENERATE_STAGE
from a3.align.generate.stage import GenerationData, pair_key
from a3.align.metrics import Metrics, tally
from a3.align.records import Kind, Query, Verdict
from a3.align.roles import resolve_roles
from a3.config import A3Config
from a3.config.schema import Splits
from a3.errors import UserInputError
from a3.llm import LLMCallError, LLMClient, StructuredOutputError
from a3.llm.types import Message
from a3.prompts import load_prompt
from a3.store import RunDir, atomic_write_json, read_json

STAGE = "split"


class SplitAssignment(BaseModel):
    """``splits/split_assignment.json``: which hypotheses (and, by query, which queries) went where."""

    by: Literal["hypothesis", "query"] = "hypothesis"
    train: list[str]
    validation: list[str]
    ood: list[str]
    test: list[str]
    queries: dict[str, list[str]] | None = None  # by query: the query ids of train, validation and test
    ood_reasoning: str = ""
    seed: int | None = None

    def hypotheses(self, split: str) -> list[str]:
        ids: list[str] = getattr(self, split)
        return ids


class SplitRow(BaseModel):
    """A query in a split file, with the untouched target's reply and verdict from stage 1."""

    id: str
    hypothesis_id: str
    kind: Kind
    messages: list[Message]
    base_response: str | None = None
    base_verdict: Verdict | None = None


class SplitFile(BaseModel):
    """``splits/training_split.json`` and the others: one split's hypotheses and queries."""

    split: str
    hypotheses: list[str]
    queries: list[SplitRow]


def read_split(run: RunDir, name: str) -> SplitFile | None:
    """One split's file (train, validation, ood, or test: the sealed one), None before stage 2."""
    path = run.path / (layout.SEALED_TEST if name == "test" else layout.SPLIT_FILES[name])
    return SplitFile.model_validate(read_json(path)) if path.exists() else None


def load_assignment(run: RunDir) -> SplitAssignment | None:
    path = run.path / layout.SPLIT_ASSIGNMENT
    return SplitAssignment.model_validate(read_json(path)) if path.exists() else None


class OodChoice(BaseModel):
    # A few sentences: the 0.5B agent reasoned on until its token cap and left the JSON unfinished.
    reasoning: str = Field(min_length=1, max_length=1200)
    ood_hypotheses: list[str]


def split_counts(n: int, splits: Splits) -> dict[str, int]:
    """How many hypotheses go to each split. Every split with a positive share gets at least one.
    By query, the train, validation and test counts are those of the in-distribution hypotheses,
    which all three share."""
    if splits.by == "query":
        n_ood = max(1, round(n * splits.ood)) if splits.ood > 0 else 0
        if n - n_ood < 1:
            raise UserInputError(f"only {n} hypotheses were generated; the configured splits need at least {n_ood + 1}")
        return {"train": n - n_ood, "validation": n - n_ood, "ood": n_ood, "test": n - n_ood}
    n_test = max(1, round(n * splits.test)) if splits.test > 0 else 0
    rest = n - n_test
    n_ood = max(1, round(rest * splits.ood)) if splits.ood > 0 else 0
    n_val = max(1, round(rest * splits.validation)) if splits.validation > 0 else 0
    n_train = rest - n_ood - n_val
    if n_train < 1:
        needed = (1 if splits.test > 0 else 0) + (1 if splits.ood > 0 else 0) + (1 if splits.validation > 0 else 0) + 1
        raise UserInputError(f"only {n} hypotheses were generated; the configured splits need at least {needed}")
    return {"train": n_train, "validation": n_val, "ood": n_ood, "test": n_test}


def ood_schema(candidates: list[str], count: int) -> type[OodChoice]:
    class CheckedOodChoice(OodChoice):
        # Candidates and count in the schema guide schema-following decoders; validation checks them for all.
        ood_hypotheses: list[str] = Field(
            json_schema_extra={"items": {"enum": [*candidates], "type": "string"}, "minItems": count, "maxItems": count}
        )

        @model_validator(mode="after")
        def _choice(self) -> CheckedOodChoice:
            chosen = [h.strip() for h in self.ood_hypotheses]
            unknown = [h for h in chosen if h not in candidates]
            if unknown:
                raise ValueError(f"{unknown} are not candidates; choose from {candidates}")
            if len(set(chosen)) != count:
                raise ValueError(f"choose exactly {count} distinct hypotheses, not {len(set(chosen))}")
            self.ood_hypotheses = sorted(set(chosen), key=lambda h: int(h[1:]))
            return self

    CheckedOodChoice.__name__ = "OodChoice"
    return CheckedOodChoice


def sealed_hypotheses(run: RunDir) -> set[str]:
    """The test split's hypotheses, which no agent may see. Empty before the split exists, and
    when the split is by query (the test holds queries of hypotheses the agents know)."""
    assignment = load_assignment(run)
    return set() if assignment is None or assignment.by == "query" else set(assignment.test)


async def run_split(
    config: A3Config, run: RunDir, client: LLMClient, model: str | None = None, log_token_budget: int = 6000
) -> dict[str, Metrics]:
    """Run (or resume) stage 2: split the data into train, validation, OOD and the sealed test.

    Needs stage 1 done. ``model`` overrides the OOD agent's model. Returns the untouched target's
    metrics per split (``splits/baseline.json``)."""
    generation = run.manifest(GENERATE_STAGE)
    if generation is None or generation.status != "done":
        raise UserInputError(f"{run.path}: run `a3 generate` first (stage 'generate' is not done)")
    generator = resolve_roles(config, generator_model=model).generator
    prompt = load_prompt("ood_selection")
    stage = run.stage(
        STAGE,
        inputs={
            "generation": generation.input_hash,
            "splits": config.splits.model_dump(),
            "log_token_budget": log_token_budget,
        },
        prompt_versions={"ood_selection": prompt.version},
        models={"ood_agent": generator.model},
    )
    with stage:
        if not stage.skipped:
            data = GenerationData(run)
            ids = [h.id for h in data.hypothesis_list()]
            by_query = config.splits.by == "query"
            counts = split_counts(len(ids), config.splits)
            rng = random.Random(config.splits.seed)
            test = [] if by_query else sorted(rng.sample(ids, counts["test"]), key=_order)
            candidates = [h for h in ids if h not in test]
            log = ExperimentLog(run)
            text = prompt.render(
                behavior=describe_behavior(config.attack),
                log_view=log.agent_view(log_token_budget, sealed=test),
                candidates=", ".join(candidates),
                n_ood=counts["ood"],
            )
            try:
                choice = (
                    await client.generate(
                        text,
                        config=generator,
                        schema=ood_schema(candidates, counts["ood"]),
                        prompt_version=prompt.version,
                    )
                ).parsed
            except (StructuredOutputError, LLMCallError) as exc:
                # The split must not hinge on a weak agent: draw the OOD hypotheses at random, and say so.
                drawn = sorted(rng.sample(candidates, counts["ood"]), key=_order)
                why = f"drawn at random (seed {config.splits.seed}): the OOD agent gave no valid choice ({exc})"
                choice = OodChoice.model_construct(reasoning=why, ood_hypotheses=drawn)
            ood = choice.ood_hypotheses
            rest = [h for h in candidates if h not in ood]
            if by_query:
                train = validation = test = rest
                assignment = SplitAssignment(
                    by="query",
                    train=rest,
                    validation=rest,
                    ood=ood,
                    test=rest,
                    queries=_split_queries(data, rest, config.splits),
                    ood_reasoning=choice.reasoning,
                    seed=config.splits.seed,
                )
            else:
                validation = sorted(rng.sample(rest, counts["validation"]), key=_order)
                train = [h for h in rest if h not in validation]
                assignment = SplitAssignment(
                    by="hypothesis",
                    train=train,
                    validation=validation,
                    ood=ood,
                    test=test,
                    ood_reasoning=choice.reasoning,
                    seed=config.splits.seed,
                )
            atomic_write_json(run.path / layout.SPLIT_ASSIGNMENT, assignment.model_dump(mode="json", exclude_none=True))
            baseline = _write_split_files(run, data, assignment)
            log.add_split(train, validation, ood, choice.reasoning)
            log.add_baseline(baseline)
            log.write_markdown()
            for path in (layout.BASELINE, layout.SPLIT_ASSIGNMENT, layout.SEALED_TEST, *layout.SPLIT_FILES.values()):
                stage.add_output(path)
    return load_baseline(run)


def load_baseline(run: RunDir) -> dict[str, Metrics]:
    """The untouched target's rates per split (train, validation, ood), from stage 1's verdicts."""
    return {name: Metrics.model_validate(m) for name, m in read_json(run.path / layout.BASELINE).items()}


def _split_queries(data: GenerationData, hypotheses: list[str], splits: Splits) -> dict[str, list[str]]:
    """Query ids of train, validation and test, drawn per hypothesis (seeded by the hypothesis, so
    one hypothesis's draw does not depend on the others). A harmful query and its look-alike are one
    unit, so the test never holds the twin of a training query."""
    chosen: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    for hypothesis in hypotheses:
        units: dict[str, list[Query]] = {}
        for query in data.queries_of(hypothesis):
            units.setdefault(pair_key(query.id), []).append(query)
        keys = sorted(units)
        random.Random(f"{splits.seed}:{hypothesis}").shuffle(keys)
        n_test = round(len(keys) * splits.test)
        n_validation = round((len(keys) - n_test) * splits.validation / (splits.train + splits.validation))
        parts = {
            "test": keys[:n_test],
            "validation": keys[n_test : n_test + n_validation],
            "train": keys[n_test + n_validation :],
        }
        for name, part in parts.items():
            chosen[name] += [q.id for key in part for q in units[key]]
    return chosen


def _write_split_files(run: RunDir, data: GenerationData, assignment: SplitAssignment) -> dict[str, Metrics]:
    baseline: dict[str, Metrics] = {}
    for name in ("train", "validation", "ood", "test"):
        if assignment.queries and name in assignment.queries:
            queries = [data.queries[i] for i in assignment.queries[name]]
        else:
            queries = [q for h in assignment.hypotheses(name) for q in data.queries_of(h)]
        verdicts = {q.id: data.verdicts[q.id] for q in queries if q.id in data.verdicts}
        baseline[name] = tally(queries, verdicts)
        target = run.path / (layout.SEALED_TEST if name == "test" else layout.SPLIT_FILES[name])
        split = SplitFile(split=name, hypotheses=assignment.hypotheses(name), queries=[_row(data, q) for q in queries])
        atomic_write_json(target, split.model_dump(mode="json"))
    atomic_write_json(
        run.path / layout.BASELINE, {k: v.model_dump(mode="json") for k, v in baseline.items() if k != "test"}
    )
    atomic_write_json(run.path / layout.TEST_BASELINE, baseline["test"].model_dump(mode="json"))
    return baseline


def _row(data: GenerationData, query: Query) -> SplitRow:
    response, verdict = data.responses.get(query.id), data.verdicts.get(query.id)
    return SplitRow(
        id=query.id,
        hypothesis_id=query.hypothesis_id,
        kind=query.kind,
        messages=query.messages,
        base_response=response.text if response is not None else None,
        base_verdict=verdict,
    )


def _order(hypothesis_id: str) -> int:
    return int(hypothesis_id[1:])


def load_split(run: RunDir, name: str) -> list[Query]:
    """The queries of one split (train, validation, ood). The sealed test split is read only by
    ``load_sealed_test`` at final reporting."""
    if name not in layout.SPLIT_FILES:
        raise ValueError(f"unknown split {name!r}")
    return _queries(run, name)


def load_sealed_test(run: RunDir) -> list[Query]:
    """The sealed test split's queries: read only to report the finally chosen model(s)."""
    return _queries(run, "test")


def _queries(run: RunDir, name: str) -> list[Query]:
    split = read_split(run, name)
    if split is None:
        raise FileNotFoundError(run.path / (layout.SEALED_TEST if name == "test" else layout.SPLIT_FILES[name]))
    return [
        Query(id=r.id, hypothesis_id=r.hypothesis_id, kind=r.kind, messages=r.messages, source=name)
        for r in split.queries
    ]
