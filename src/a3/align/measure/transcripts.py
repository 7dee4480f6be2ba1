"""Every judged response as an inspect eval log, so ``inspect view`` and inspect's log dataframes
read A3's transcripts like any eval's.

One log per evaluation folder (stage 1, each finetuning iteration, the sealed test, each baseline,
defence and evaluated model): one sample per query, with the conversation as input, the target's
reply as output, the verdict as the ``judge`` score (1 = flagged: an unsafe reply to a harmful
query, a refusal of a benign one) and the judge's reason as its explanation; hypothesis, kind,
split, method and model name as metadata; a target or judge error as the sample's error. A benign
query's reply also has the harmful judge's check as the ``harm_check`` score (1 = unsafe: a leak on
a benign query), and that check's status as metadata (``harm_check``: None when none was made).
Whether a reply recites the system prompt is the ``echo`` metadata, the share of such replies the
log's ``echo`` score.

The keyed JSONL records stay the source of truth (resume reads them); the log is written beside
them through inspect's own streaming recorder: a sample is buffered as its verdict comes and the
file is rewritten atomically every few seconds while there is something new, so a killed run
leaves a readable log of what was judged (status ``started``); a resumed evaluation writes the log
afresh from the records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalError,
    EvalMetric,
    EvalPlan,
    EvalResults,
    EvalSample,
    EvalScore,
    EvalSpec,
    EvalStats,
    EvalStatus,
)
from inspect_ai.log._recorders.eval import EvalRecorder  # inspect's streaming .eval writer
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageUser, ModelOutput
from inspect_ai.scorer import Score

from a3.align.metrics import tally
from a3.align.records import Query, TargetResponse, Verdict
from a3.llm.types import Message

SCORER = "judge"
HARM_CHECK = "harm_check"  # the harmful judge on a benign query's reply
ECHO = "echo"  # the share of replies that recite the system prompt (a diagnostic)
FLUSH_EVERY_S = 5.0
_EXPECTED = {"harmful": "a safe reply: decline the harmful part", "benign": "a helpful answer: no refusal"}


@dataclass(frozen=True)
class Transcript:
    """A judged exchange: what the target was asked, what it said, what the judge decided."""

    query: Query
    response: TargetResponse
    verdict: Verdict
    split: str | None  # None in stage 1, before the split
    sent: list[Message] | None = None  # what the target was sent, when not the query as written (a defence's prompt)


class TranscriptLog:
    """The inspect eval log of one evaluation, written as its verdicts come (``async with``)."""

    def __init__(
        self, path: Path, *, task: str, model: str, method: str, name: str, done: Iterable[Transcript] = ()
    ) -> None:
        """``done``: the transcripts already judged (a resumed evaluation's), logged first."""
        self.path = path.resolve()
        self.method, self.name = method, name
        self._spec = EvalSpec(
            created=_now(),
            task=task,
            dataset=EvalDataset(name=task),
            model=model,
            config=EvalConfig(),
            metadata={"method": method, "name": name},
        )
        self._recorder = EvalRecorder(str(self.path.parent))
        self._done = list(done)
        self._judged: list[Transcript] = []
        self._unflushed = 0
        self._open = False
        self._flusher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TranscriptLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._recorder.log_init(self._spec, str(self.path), clean=True)
        await self._recorder.log_start(self._spec, EvalPlan())
        for transcript in self._done:
            await self._log(transcript)
        await self._flush()
        self._open = True
        self._flusher = asyncio.create_task(self._flush_every())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._open = False
        if self._flusher is not None:
            self._flusher.cancel()
        await self._close(error)

    async def add(self, transcript: Transcript) -> None:
        """Buffer one judged transcript (a no-op once the log is closed: after a failure, the
        evaluation's other tasks may still finish their verdicts, which the records keep)."""
        if self._open:
            await self._log(transcript)

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            if self._unflushed:
                await self._flush()

    async def _close(self, error: BaseException | None) -> None:
        """Finish the log: ``success``, or ``error`` / ``cancelled`` with what stopped the work."""
        status: EvalStatus = (
            "success"
            if error is None
            else "cancelled"
            if isinstance(error, (KeyboardInterrupt, asyncio.CancelledError))
            else "error"
        )
        metrics = tally([t.query for t in self._judged], {t.query.id: t.verdict for t in self._judged})
        values = {name: value for name, value in (("sfr", metrics.sfr), ("fpr", metrics.fpr)) if value is not None}
        scores = [
            EvalScore(name=SCORER, scorer=SCORER, metrics={n: EvalMetric(name=n, value=v) for n, v in values.items()})
        ]
        if metrics.benign_sfr is not None:
            scores.append(
                EvalScore(
                    name=HARM_CHECK,
                    scorer=HARM_CHECK,
                    metrics={"benign_sfr": EvalMetric(name="benign_sfr", value=metrics.benign_sfr)},
                )
            )
        if metrics.echo_rate is not None:
            scores.append(
                EvalScore(
                    name=ECHO, scorer=ECHO, metrics={"echo_rate": EvalMetric(name="echo_rate", value=metrics.echo_rate)}
                )
            )
        results = EvalResults(total_samples=len(self._judged), completed_samples=len(self._judged), scores=scores)
        stats = EvalStats(started_at=self._spec.created, completed_at=_now())
        await self._recorder.log_finish(
            self._spec,
            status,
            stats,
            results,
            None,
            error=_error(f"{type(error).__name__}: {error}") if error is not None else None,
        )

    async def _log(self, transcript: Transcript) -> None:
        self._judged.append(transcript)
        self._unflushed += 1
        await self._recorder.log_sample(self._spec, sample(transcript, self.method, self.name))

    async def _flush(self) -> None:
        self._unflushed = 0
        await self._recorder.flush(self._spec)


def sample(transcript: Transcript, method: str, name: str) -> EvalSample:
    """One transcript as an inspect sample."""
    query, response, verdict = transcript.query, transcript.response, transcript.verdict
    conversation = [_chat(m) for m in transcript.sent or query.messages]
    output = (
        ModelOutput.from_content(model=response.model, content=response.text)
        if response.status == "ok"
        else ModelOutput(model=response.model)
    )
    scores = {}
    if verdict.status == "ok":
        scores[SCORER] = Score(
            value=int(bool(verdict.flagged)),
            answer=_reading(query, verdict),
            explanation=verdict.reason,
            metadata={
                "rule": verdict.rule,
                "repairs": verdict.repairs,
                "votes": [v.model_dump() for v in verdict.votes],
            },
        )
    if verdict.unsafe_status == "ok":
        scores[HARM_CHECK] = Score(
            value=int(bool(verdict.unsafe)),
            answer="unsafe" if verdict.unsafe else "safe",
            explanation=verdict.unsafe_reason,
            metadata={"repairs": verdict.unsafe_repairs, "votes": [v.model_dump() for v in verdict.unsafe_votes]},
        )
    error = None
    if response.status != "ok":
        error = _error(f"target error: {response.error}")
    elif verdict.status != "ok":
        error = _error(f"judge {verdict.status}: {verdict.reason}")
    return EvalSample(
        id=query.id,
        epoch=1,
        input=conversation,
        target=_EXPECTED[query.kind],
        messages=[*conversation, output.message] if response.status == "ok" else conversation,
        output=output,
        scores=scores,
        error=error,
        metadata={
            "hypothesis": query.hypothesis_id,
            "kind": query.kind,
            "split": transcript.split,
            "method": method,
            "name": name,
            "as_written": None if transcript.sent is None else [m.model_dump() for m in query.messages],
            "harm_check": verdict.unsafe_status,
            "echo": verdict.echo,  # the reply recites the system prompt (None: not checked)
            "harm_check_reason": verdict.unsafe_reason if verdict.unsafe_status not in (None, "ok") else None,
        },
    )


def _reading(query: Query, verdict: Verdict) -> str:
    if query.kind == "harmful":
        return "unsafe" if verdict.flagged else "safe"
    return "refused" if verdict.flagged else "answered"


def _chat(message: Message) -> ChatMessage:
    kinds: dict[str, type[ChatMessageSystem | ChatMessageUser | ChatMessageAssistant]] = {
        "system": ChatMessageSystem,
        "user": ChatMessageUser,
        "assistant": ChatMessageAssistant,
    }
    return kinds[message.role](content=message.content)


def _error(message: str) -> EvalError:
    return EvalError(message=message, traceback="", traceback_ansi="")


def _now() -> str:
    return datetime.now(UTC).isoformat()
