"""The experiment log: structured JSONL records are the source of truth.

Two renderings are made from them: the Markdown file a person reads (everything), and the view an
agent is given, which fits a token budget however long the log grows: recent hypotheses in full,
older ones as one-line summaries, the oldest dropped with a count. Hypotheses sealed into the
test split never appear in an agent view.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from a3.align import layout
from a3.align.conversation import render
from a3.align.metrics import HypothesisMetrics
from a3.align.records import Hypothesis
from a3.formatting import percent
from a3.llm.types import Message
from a3.store import RunDir, atomic_write_text

_CHARS_PER_TOKEN = 4
_EXAMPLE_CHARS = 700


class ExperimentLog:
    def __init__(self, run: RunDir) -> None:
        self.run = run
        self._log = run.log(layout.EXPERIMENT_LOG, key="key")

    # -- writing ----------------------------------------------------------------------------

    def add(self, key: str, kind: str, **data: Any) -> None:
        """Append a record once; a resumed stage re-adding the same key is a no-op."""
        if key not in self._log:
            self._log.append({"key": key, "kind": kind, **data})

    def add_seed(self, behavior: str, messages: list[Message], response: str) -> None:
        self.add("seed", "seed", behavior=behavior, messages=[m.model_dump() for m in messages], response=response)

    def add_hypothesis(self, hypothesis: Hypothesis, metrics: HypothesisMetrics) -> None:
        self.add(
            f"hypothesis:{hypothesis.id}",
            "hypothesis",
            hypothesis=hypothesis.model_dump(),
            metrics=metrics.model_dump(),
        )

    def add_example(self, hypothesis_id: str, messages: list[Message], flagged: bool | None) -> str:
        """Log one query of a hypothesis as the next labelled example; returns its label."""
        key = f"example:{hypothesis_id}"
        existing = self._log.get(key)
        if existing is not None:
            logged: str = existing["example_id"]
            return logged
        label = f"Ex{len(self.examples()) + 1}"
        self.add(
            key,
            "example",
            example_id=label,
            hypothesis_id=hypothesis_id,
            messages=[m.model_dump() for m in messages],
            flagged=flagged,
        )
        return label

    # -- reading ----------------------------------------------------------------------------

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self._log if kind is None or r["kind"] == kind]

    def examples(self) -> list[dict[str, Any]]:
        return self.records("example")

    def example_labels(self) -> set[str]:
        return {"Ex0", *(r["example_id"] for r in self.examples())}

    # -- rendering --------------------------------------------------------------------------

    def agent_view(self, budget_tokens: int = 6000, sealed: Iterable[str] = ()) -> str:
        """What an agent may read: fits ``budget_tokens`` and leaves out ``sealed`` hypotheses."""
        sealed = set(sealed)
        header = self._header()
        examples = {r["hypothesis_id"]: r for r in self.examples() if r["hypothesis_id"] not in sealed}
        entries = [r for r in self.records("hypothesis") if r["hypothesis"]["id"] not in sealed]
        full = [_full_block(r, examples.get(r["hypothesis"]["id"])) for r in entries]
        short = [_short_line(r, examples.get(r["hypothesis"]["id"])) for r in entries]
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
        for record in self._log:
            kind = record["kind"]
            if kind == "seed":
                lines += [
                    "## Behaviour",
                    "",
                    record["behavior"],
                    "",
                    "## Ex0 — the original example",
                    "",
                    _quote(render(_messages(record["messages"]))),
                    "",
                    "Target's unsafe response:",
                    "",
                    _quote(record["response"]),
                    "",
                ]
            elif kind == "hypothesis":
                hyp, metrics = record["hypothesis"], HypothesisMetrics.model_validate(record["metrics"])
                lines += [
                    f"### {hyp['id']} (round {hyp['round']}, built on {hyp['basis_example']}, {hyp['change_type']})",
                    "",
                    hyp["text"],
                    "",
                    f"- SFR: {metrics.sfr.text()}",
                    f"- FPR: {metrics.fpr.text()}",
                    f"- benign SFR (leaks on benign queries): {metrics.benign_sfr.text()}",
                    "",
                ]
            elif kind == "example":
                verdict = {True: "unsafe", False: "safe", None: "not judged"}[record["flagged"]]
                lines += [
                    f"**{record['example_id']}** (from {record['hypothesis_id']}, target was {verdict}):",
                    "",
                    _quote(render(_messages(record["messages"]))),
                    "",
                ]
            else:
                lines += [f"## {kind.capitalize()}", "", "```json", _json(record), "```", ""]
        atomic_write_text(self.run.path / layout.EXPERIMENT_LOG_MARKDOWN, "\n".join(lines))

    def _header(self) -> str:
        seed = self._log.get("seed")
        if seed is None:
            return ""
        return "\n".join(
            [
                "Ex0 (the original example):",
                _indent(_clip(render(_messages(seed["messages"])))),
                "Target's unsafe response to Ex0:",
                _indent(_clip(seed["response"])),
                "",
                "Tested hypotheses:",
            ]
        )


def _messages(raw: list[dict[str, str]]) -> list[Message]:
    return [Message.model_validate(m) for m in raw]


def _full_block(record: dict[str, Any], example: dict[str, Any] | None) -> str:
    hyp = record["hypothesis"]
    metrics = HypothesisMetrics.model_validate(record["metrics"])
    lines = [
        f"{hyp['id']} [round {hyp['round']}, built on {hyp['basis_example']}, {hyp['change_type']}] "
        f"SFR {metrics.sfr.text()}, FPR {metrics.fpr.text()}",
        _indent(hyp["text"]),
    ]
    if example is not None:
        verdict = {True: "unsafe", False: "safe", None: "not judged"}[example["flagged"]]
        lines.append(f"  Example {example['example_id']} (target was {verdict}):")
        lines.append(_indent(_clip(render(_messages(example["messages"]))), 4))
    return "\n".join(lines)


def _short_line(record: dict[str, Any], example: dict[str, Any] | None) -> str:
    hyp = record["hypothesis"]
    metrics = HypothesisMetrics.model_validate(record["metrics"])
    label = f", example {example['example_id']}" if example else ""
    return (
        f"{hyp['id']} [built on {hyp['basis_example']}{label}] SFR {percent(metrics.sfr.value)}, "
        f"FPR {percent(metrics.fpr.value)}: {_clip(hyp['text'], 160)}"
    )


def _size(blocks: list[str]) -> int:
    return sum(len(b) + 1 for b in blocks)


def _clip(text: str, limit: int = _EXAMPLE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _indent(text: str, spaces: int = 2) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines())


def _json(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if k not in ("key", "kind")}, indent=2, ensure_ascii=False)
