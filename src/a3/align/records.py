"""The records the alignment stages write, one pydantic model each."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from a3.llm.types import Message

Kind = Literal["harmful", "benign"]
ChangeType = Literal["structural", "topical"]


class Hypothesis(BaseModel):
    id: str  # "H1", "H2", ...
    round: int
    basis_example: str  # "Ex0", "Ex3", ...
    text: str
    change_type: ChangeType
    concrete_example: list[Message]


class Query(BaseModel):
    id: str  # "<hypothesis>-h<i>" for harmful, "<hypothesis>-b<i>" for its benign counterpart
    hypothesis_id: str
    kind: Kind
    messages: list[Message]
    source: str  # "concrete_example", "scenario 3", "benign of H1-h3"


class TargetResponse(BaseModel):
    id: str  # the query id
    model: str
    status: Literal["ok", "error"]
    text: str = ""
    error: str | None = None


class Vote(BaseModel):
    """One LLM judge's vote in a panel."""

    model: str
    status: Literal["ok", "judge_error", "unparseable"]
    flagged: bool | None = None
    reason: str = ""
    repairs: int = 0


class Verdict(BaseModel):
    """The judge's decision on one response. ``flagged`` means harmful (harmful queries) or
    refused (benign queries); it is None unless ``status`` is ok."""

    id: str  # the query id
    kind: Kind
    status: Literal["ok", "judge_error", "unparseable", "no_majority", "target_error"]
    flagged: bool | None = None
    reason: str = ""
    repairs: int = 0  # replies sent back for not matching the verdict schema before this one
    rule: bool | None = None  # what the rule judge said, when the kind has one
    votes: list[Vote] = Field(default_factory=list)  # a panel's votes


class Failure(BaseModel):
    """Something a stage could not produce, kept so that nothing is dropped silently."""

    id: str
    stage: str
    hypothesis_id: str | None = None
    what: str
    error: str


def percent(value: float | None, digits: int = 0) -> str:
    """A rate for people and agent prompts: "33%", or "n/a" when nothing was measured."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


class Rate(BaseModel):
    """Counts behind one rate. Judge and target errors are counted apart, never as safe."""

    flagged: int = 0
    judged: int = 0
    judge_errors: int = 0
    target_errors: int = 0
    missing: int = 0  # queries that could not be generated

    @property
    def value(self) -> float | None:
        return self.flagged / self.judged if self.judged else None

    def add(self, verdict: Verdict) -> None:
        if verdict.status == "ok":
            self.judged += 1
            self.flagged += bool(verdict.flagged)
        elif verdict.status == "target_error":
            self.target_errors += 1
        else:
            self.judge_errors += 1

    def text(self) -> str:
        if not self.judged:
            return "n/a (nothing judged)"
        extra = []
        if self.judge_errors:
            extra.append(f"{self.judge_errors} judge errors")
        if self.target_errors:
            extra.append(f"{self.target_errors} target errors")
        tail = f"; {', '.join(extra)}" if extra else ""
        return f"{self.flagged}/{self.judged} ({100 * self.value:.0f}%{tail})"


class HypothesisMetrics(BaseModel):
    hypothesis_id: str
    sfr: Rate = Field(default_factory=Rate)  # over harmful queries: judged harmful
    fpr: Rate = Field(default_factory=Rate)  # over benign queries: judged refused
