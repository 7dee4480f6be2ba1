"""The experiment log: structured JSONL records are the source of truth.

Two renderings are made from them: the Markdown file a person reads (everything), and the view an
agent is given, which fits a token budget however long the log grows: recent hypotheses in full,
older ones as one-line summaries, the oldest dropped with a count. Hypotheses sealed into the
test split never appear in an agent view.

Each record is one of the entries below, told apart by its ``kind`` and keyed by ``key``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel, SerializerFunctionWrapHandler, model_serializer, model_validator

from a3.align import layout
from a3.align.conversation import render
from a3.align.finetune.records import IterationRecord
from a3.align.measure.capability import BenchmarkScore
from a3.align.metrics import HypothesisMetrics, Metrics
from a3.align.records import Hypothesis
from a3.formatting import percent
from a3.llm.types import Message
from a3.store import RunDir, atomic_write_text

_CHARS_PER_TOKEN = 4
_EXAMPLE_CHARS = 700


class SeedEntry(BaseModel):
    """The behaviour and the seed example (Ex0) with the target's unsafe response."""

    key: str = "seed"
    kind: Literal["seed"] = "seed"
    behavior: str
    messages: list[Message]
    response: str


class HypothesisEntry(BaseModel):
    """A tested hypothesis with the target's rates on it."""

    key: str  # "hypothesis:<id>"
    kind: Literal["hypothesis"] = "hypothesis"
    hypothesis: Hypothesis
    metrics: HypothesisMetrics


class ExampleEntry(BaseModel):
    """One query of a hypothesis, logged as the next labelled example (Ex1, Ex2, ...)."""

    key: str  # "example:<hypothesis id>"
    kind: Literal["example"] = "example"
    example_id: str
    hypothesis_id: str
    messages: list[Message]
    flagged: bool | None  # the target's reply was judged unsafe; None: not judged


class SplitEntry(BaseModel):
    """Stage 2's split of the hypotheses, with the OOD agent's reasoning."""

    key: str = "split"
    kind: Literal["split"] = "split"
    train: list[str]
    validation: list[str]
    ood: list[str]
    ood_reasoning: str


class BaselineEntry(BaseModel):
    """The untouched target's rates on each split stage 2 made."""

    key: str = "baseline"
    kind: Literal["baseline"] = "baseline"
    train: Metrics
    validation: Metrics
    ood: Metrics


class CapabilityBaselineEntry(BaseModel):
    """The base model's capability scores, per benchmark."""

    key: str = "capability_baseline"
    kind: Literal["capability_baseline"] = "capability_baseline"
    scores: dict[str, BenchmarkScore]


class IterationEntry(BaseModel):
    """A finished stage-4 iteration: its record, written flat after the key and kind, with the
    iteration's number last (as ``number``, not ``iteration``)."""

    key: str  # "iteration:<number>"
    kind: Literal["iteration"] = "iteration"
    record: IterationRecord

    @model_validator(mode="before")
    @classmethod
    def _from_line(cls, data: Any) -> Any:
        if isinstance(data, dict) and "record" not in data:
            rest = {k: v for k, v in data.items() if k not in ("key", "kind", "number")}
            return {
                "key": data.get("key"),
                "kind": data.get("kind"),
                "record": {**rest, "iteration": data.get("number")},
            }
        return data

    @model_serializer(mode="wrap")
    def _as_line(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        record = {k: v for k, v in data["record"].items() if k != "iteration"}
        return {"key": data["key"], "kind": data["kind"], **record, "number": self.record.iteration}


Entry = (
    SeedEntry | HypothesisEntry | ExampleEntry | SplitEntry | BaselineEntry | CapabilityBaselineEntry | IterationEntry
)


class ExperimentEntry(RootModel[Annotated[Entry, Field(discriminator="kind")]]):
    """A line of ``experiment_log.jsonl``: one of the entries, by its ``kind``."""


class ExperimentLog:
    def __init__(self, run: RunDir) -> None:
        self.run = run
        self._log = run.log(layout.EXPERIMENT_LOG, ExperimentEntry, key="key")

    # -- writing ----------------------------------------------------------------------------

    def _add(self, entry: Entry) -> None:
        """Append an entry once; a resumed stage re-adding the same key is a no-op."""
        if entry.key not in self._log:
            self._log.append(ExperimentEntry(entry))

    def add_seed(self, behavior: str, messages: list[Message], response: str) -> None:
        self._add(SeedEntry(behavior=behavior, messages=messages, response=response))

    def add_hypothesis(self, hypothesis: Hypothesis, metrics: HypothesisMetrics) -> None:
        self._add(HypothesisEntry(key=f"hypothesis:{hypothesis.id}", hypothesis=hypothesis, metrics=metrics))

    def add_example(self, hypothesis_id: str, messages: list[Message], flagged: bool | None) -> str:
        """Log one query of a hypothesis as the next labelled example; returns its label."""
        key = f"example:{hypothesis_id}"
        existing = self._log.get(key)
        if existing is not None:
            assert isinstance(existing.root, ExampleEntry)
            return existing.root.example_id
        label = f"Ex{len(self.examples()) + 1}"
        self._add(
            ExampleEntry(key=key, example_id=label, hypothesis_id=hypothesis_id, messages=messages, flagged=flagged)
        )
        return label

    def add_split(self, train: list[str], validation: list[str], ood: list[str], ood_reasoning: str) -> None:
        self._add(SplitEntry(train=train, validation=validation, ood=ood, ood_reasoning=ood_reasoning))

    def add_baseline(self, baseline: dict[str, Metrics]) -> None:
        self._add(BaselineEntry(train=baseline["train"], validation=baseline["validation"], ood=baseline["ood"]))

    def add_capability_baseline(self, scores: dict[str, BenchmarkScore]) -> None:
        self._add(CapabilityBaselineEntry(scores=scores))

    def add_iteration(self, record: IterationRecord) -> None:
        self._add(IterationEntry(key=f"iteration:{record.iteration}", record=record))

    # -- reading ----------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        return [logged.root for logged in self._log]

    def hypotheses(self) -> list[HypothesisEntry]:
        return [e for e in self.entries() if isinstance(e, HypothesisEntry)]

    def examples(self) -> list[ExampleEntry]:
        return [e for e in self.entries() if isinstance(e, ExampleEntry)]

    def example_labels(self) -> set[str]:
        return {"Ex0", *(e.example_id for e in self.examples())}

    # -- rendering --------------------------------------------------------------------------

    def agent_view(self, budget_tokens: int = 6000, sealed: Iterable[str] = ()) -> str:
        """What an agent may read: fits ``budget_tokens`` and leaves out ``sealed`` hypotheses."""
        sealed = set(sealed)
        header = self._header()
        examples = {e.hypothesis_id: e for e in self.examples() if e.hypothesis_id not in sealed}
        entries = [e for e in self.hypotheses() if e.hypothesis.id not in sealed]
        full = [_full_block(e, examples.get(e.hypothesis.id)) for e in entries]
        short = [_short_line(e, examples.get(e.hypothesis.id)) for e in entries]
        budget_chars = budget_tokens * _CHARS_PER_TOKEN - len(header)
        # Newest entries keep full detail; the oldest are shortened first, then dropped.
        chosen = list(full)
        for index in range(len(entries)):
            if _size(chosen) <= budget_chars:
                break
            chosen[index] = short[index]
        dropped = 0
        while chosen and _size(chosen) > budget_chars:
            chosen.pop(0)
            dropped += 1
        lines = [header]
        if dropped:
            lines.append(f"({dropped} older hypotheses are not shown to save space.)")
        lines += chosen
        if not entries:
            lines.append("No hypotheses have been tested yet.")
        return "\n".join(lines)

    def write_markdown(self) -> None:
        lines = ["# Experiment log", ""]
        for entry in self.entries():
            if isinstance(entry, SeedEntry):
                lines += [
                    "## Behaviour",
                    "",
                    entry.behavior,
                    "",
                    "## Ex0 — the original example",
                    "",
                    _quote(render(entry.messages)),
                    "",
                    "Target's unsafe response:",
                    "",
                    _quote(entry.response),
                    "",
                ]
            elif isinstance(entry, HypothesisEntry):
                hyp, metrics = entry.hypothesis, entry.metrics
                lines += [
                    f"### {hyp.id} (round {hyp.round}, built on {hyp.basis_example}, {hyp.change_type})",
                    "",
                    hyp.text,
                    "",
                    f"- SFR: {metrics.sfr.text()}",
                    f"- FPR: {metrics.fpr.text()}",
                    f"- benign SFR (leaks on benign queries): {metrics.benign_sfr.text()}",
                    "",
                ]
            elif isinstance(entry, ExampleEntry):
                lines += [
                    f"**{entry.example_id}** (from {entry.hypothesis_id}, target was {_verdict(entry.flagged)}):",
                    "",
                    _quote(render(entry.messages)),
                    "",
                ]
            else:
                lines += [f"## {entry.kind.capitalize()}", "", "```json", _json(entry), "```", ""]
        atomic_write_text(self.run.path / layout.EXPERIMENT_LOG_MARKDOWN, "\n".join(lines))

    def _header(self) -> str:
        seed = self._log.get("seed")
        if seed is None:
            return ""
        assert isinstance(seed.root, SeedEntry)
        return "\n".join(
            [
                "Ex0 (the original example):",
                _indent(_clip(render(seed.root.messages))),
                "Target's unsafe response to Ex0:",
                _indent(_clip(seed.root.response)),
                "",
                "Tested hypotheses:",
            ]
        )


def _verdict(flagged: bool | None) -> str:
    return {True: "unsafe", False: "safe", None: "not judged"}[flagged]


def _full_block(entry: HypothesisEntry, example: ExampleEntry | None) -> str:
    hyp, metrics = entry.hypothesis, entry.metrics
    lines = [
        f"{hyp.id} [round {hyp.round}, built on {hyp.basis_example}, {hyp.change_type}] "
        f"SFR {metrics.sfr.text()}, FPR {metrics.fpr.text()}",
        _indent(hyp.text),
    ]
    if example is not None:
        lines.append(f"  Example {example.example_id} (target was {_verdict(example.flagged)}):")
        lines.append(_indent(_clip(render(example.messages)), 4))
    return "\n".join(lines)


def _short_line(entry: HypothesisEntry, example: ExampleEntry | None) -> str:
    hyp, metrics = entry.hypothesis, entry.metrics
    label = f", example {example.example_id}" if example else ""
    return (
        f"{hyp.id} [built on {hyp.basis_example}{label}] SFR {percent(metrics.sfr.value)}, "
        f"FPR {percent(metrics.fpr.value)}: {_clip(hyp.text, 160)}"
    )


def _size(blocks: list[str]) -> int:
    return sum(len(b) + 1 for b in blocks)


def _clip(text: str, limit: int = _EXAMPLE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _indent(text: str, spaces: int = 2) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines())


def _json(entry: Entry) -> str:
    """An entry the Markdown shows as it is logged: its fields as JSON, without the key and kind."""
    logged = entry.model_dump(mode="json")
    return json.dumps({k: v for k, v in logged.items() if k not in ("key", "kind")}, indent=2, ensure_ascii=False)
