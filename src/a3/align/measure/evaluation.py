"""Measuring any model on the run's query sets: sample every query once, judge every response.

Used for finetuned iterations, baselines, defences and any model given on the command line, so
the figures of every method are computed the same way. Responses and verdicts are keyed records
in the caller's folder, so an interrupted evaluation resumes where it stopped; beside them, the
same transcripts as an inspect eval log (``transcripts.eval``). A verdict on a benign query
written before the harmful judge checked benign replies too is checked when the evaluation resumes
(``add_harm_checks``), never counted as safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from a3.align import layout
from a3.align.measure.judge import Judge, sample_target
from a3.align.measure.transcripts import Transcript, TranscriptLog
from a3.align.metrics import Metrics, tally
from a3.align.records import Query, TargetResponse, Verdict
from a3.llm import CallConfig, LLMClient
from a3.progress import Progress, SilentProgress
from a3.store import JsonlLog, RunDir


@dataclass(frozen=True)
class Subject:
    """The model being measured, and how a query reaches it and its reply reaches the judge.

    ``prepare`` changes what the model is sent (an in-context defence, say); the judge always
    sees the query as written. ``response_text`` picks what of the raw reply (which is what is
    recorded) the judge sees, e.g. one field of a formatted reply."""

    client: LLMClient
    call: CallConfig
    method: str  # how it came to be: "base", "A3", "fixed mixing", "ICL", "DSPy", "evaluated"
    name: str  # which one: "iteration 3", "dolci15_harmful50_benign50", a model string
    prepare: Callable[[Query], Query] | None = None
    response_text: Callable[[str], str] | None = None

    async def reply(self, query: Query) -> TargetResponse:
        return await sample_target(self.client, self.call, self.prepare(query) if self.prepare else query)

    def transcript(self, query: Query, response: TargetResponse, verdict: Verdict, split: str) -> Transcript:
        """The judged exchange, with what the model was sent when that is not the query as written."""
        return Transcript(query, response, verdict, split, self.prepare(query).messages if self.prepare else None)


async def evaluate_model(
    run: RunDir,
    subject: Subject,
    judge: Judge,
    query_sets: dict[str, list[Query]],
    folder: str,
    progress: Progress | None = None,
    label: str = "evaluate",
) -> dict[str, Metrics]:
    """Metrics per set (e.g. validation, ood) for ``subject``; records under ``folder``."""
    responses = run.log(f"{folder}/{layout.RESPONSES}", TargetResponse)
    verdicts = run.log(f"{folder}/{layout.VERDICTS}", Verdict)
    everything = [q for queries in query_sets.values() for q in queries]
    split_of = {q.id: split for split, queries in query_sets.items() for q in queries}
    await add_harm_checks(judge, everything, responses, verdicts, subject.response_text)
    task = (progress or SilentProgress()).task(f"{label}: responses judged", len(everything))
    task.advance(sum(1 for q in everything if q.id in verdicts))
    done = [
        subject.transcript(q, responses[q.id], verdicts[q.id], split_of[q.id]) for q in everything if q.id in verdicts
    ]
    transcripts = TranscriptLog(
        run.path / folder / layout.TRANSCRIPTS,
        task=f"{subject.method}: {subject.name} ({', '.join(query_sets)})",
        model=subject.call.model,
        method=subject.method,
        name=subject.name,
        done=done,
    )

    async def one(query: Query) -> None:
        if query.id in verdicts:
            return
        response = responses.get(query.id)
        if response is None:
            response = await subject.reply(query)
            responses.append(response)
        judged = response
        if subject.response_text is not None and response.status == "ok":
            judged = response.model_copy(update={"text": subject.response_text(response.text)})
        verdict = await judge.decide(query, judged)
        verdicts.append(verdict)
        await transcripts.add(subject.transcript(query, response, verdict, split_of[query.id]))
        task.advance()

    async with transcripts:
        await asyncio.gather(*(one(q) for q in everything))
    judged = {verdict.id: verdict for verdict in verdicts}
    return {name: tally(queries, judged) for name, queries in query_sets.items()}


async def add_harm_checks(
    judge: Judge,
    queries: Iterable[Query],
    responses: JsonlLog[TargetResponse],
    verdicts: JsonlLog[Verdict],
    response_text: Callable[[str], str] | None = None,
) -> int:
    """Check the stored replies to benign queries whose verdicts lack the harmful judge's check
    (written before it existed), and put the completed verdicts in place of the old ones; returns
    how many. ``response_text`` picks what of a raw reply the judge sees, as in ``Subject``."""

    async def one(query: Query) -> Verdict | None:
        verdict = verdicts[query.id]
        response = responses.get(query.id)
        if not verdict.lacks_harm_check or response is None:
            return None
        if response_text is not None and response.status == "ok":
            response = response.model_copy(update={"text": response_text(response.text)})
        checked = await judge.add_harm_check(query, response, verdict)
        return checked if checked is not verdict else None

    completed = [v for v in await asyncio.gather(*(one(q) for q in queries if q.id in verdicts)) if v is not None]
    verdicts.replace(completed)
    return len(completed)
