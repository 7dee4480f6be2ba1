"""Measuring any model on the run's query sets: sample every query once, judge every response.

Used for finetuned iterations, baselines and (later) any model given on the command line, so the
figures of every method are computed the same way. Responses and verdicts are keyed records in
the caller's folder, so an interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from a3.align.judge import Judge, sample_target
from a3.align.records import Query, Rate, TargetResponse, Verdict
from a3.config import A3Config
from a3.llm import CallConfig, LLMClient
from a3.progress import Progress, SilentProgress
from a3.store import RunDir


def summarise(queries: Iterable[Query], verdicts: dict[str, Verdict]) -> dict[str, Any]:
    """SFR over harmful queries and FPR over benign ones, overall and per hypothesis, with the
    counts behind each rate (judge and target errors apart)."""
    totals = {"harmful": Rate(), "benign": Rate()}
    per_hypothesis: dict[str, dict[str, Rate]] = {}
    hypotheses: list[str] = []
    for query in queries:
        if query.hypothesis_id not in per_hypothesis:
            hypotheses.append(query.hypothesis_id)
            per_hypothesis[query.hypothesis_id] = {"harmful": Rate(), "benign": Rate()}
        verdict = verdicts.get(query.id)
        if verdict is None:
            continue
        totals[query.kind].add(verdict)
        per_hypothesis[query.hypothesis_id][query.kind].add(verdict)
    return {
        "hypotheses": hypotheses,
        "sfr": totals["harmful"].value,
        "fpr": totals["benign"].value,
        "harmful": totals["harmful"].model_dump(),
        "benign": totals["benign"].model_dump(),
        "per_hypothesis": {h: {"sfr": r["harmful"].value, "fpr": r["benign"].value,
                               "harmful": r["harmful"].model_dump(), "benign": r["benign"].model_dump()}
                           for h, r in per_hypothesis.items()},
    }


async def evaluate_model(
    config: A3Config,
    run: RunDir,
    client: LLMClient,
    target: CallConfig,
    judge: Judge,
    query_sets: dict[str, list[Query]],
    folder: str,
    progress: Progress | None = None,
    label: str = "evaluate",
    prepare: Callable[[Query], Query] | None = None,
    response_text: Callable[[str], str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Metrics per set (e.g. validation, ood) for ``target``; records under ``folder``.
    ``prepare`` changes what the target is sent (an in-context defence, say); the judge always
    sees the query as written. ``response_text`` picks what of the target's raw reply (which is
    what is recorded) the judge sees, e.g. one field of a formatted reply."""
    responses = run.log(f"{folder}/responses.jsonl")
    verdicts = run.log(f"{folder}/verdicts.jsonl")
    everything = [q for queries in query_sets.values() for q in queries]
    task = (progress or SilentProgress()).task(f"{label}: responses judged", len(everything))
    task.advance(sum(1 for q in everything if q.id in verdicts))

    async def one(query: Query) -> None:
        if query.id in verdicts:
            return
        if query.id in responses:
            response = TargetResponse.model_validate(responses.get(query.id))
        else:
            response = await sample_target(client, target, prepare(query) if prepare else query)
            responses.append(response.model_dump())
        if response_text is not None and response.status == "ok":
            response = response.model_copy(update={"text": response_text(response.text)})
        verdict = await judge.decide(query, response)
        verdicts.append(verdict.model_dump())
        task.advance()

    await asyncio.gather(*(one(q) for q in everything))
    judged = {record["id"]: Verdict.model_validate(record) for record in verdicts}
    return {name: summarise(queries, judged) for name, queries in query_sets.items()}
