"""The records the alignment stages write, one pydantic model each."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from a3.llm.types import Message

Kind = Literal["harmful", "benign"]
ChangeType = Literal["structural", "topical"]


class Hypothesis(BaseModel):
    """A hypothesis about what triggers the behaviour, with the example query it came with.

    A line of ``generation/hypotheses.jsonl``; ``basis_example`` names the logged example it builds on."""

    id: str  # "H1", "H2", ...
    round: int
    basis_example: str  # "Ex0", "Ex3", ...
    text: str
    change_type: ChangeType
    concrete_example: list[Message]


class Query(BaseModel):
    """One test query: harmful, or a benign look-alike of a harmful one (``generation/queries.jsonl``)."""

    id: str  # "<hypothesis>-h<i>" for harmful, "<hypothesis>-b<i>" for its benign counterpart
    hypothesis_id: str
    kind: Kind
    messages: list[Message]
    source: str  # "concrete_example", "scenario 3", "benign of H1-h3"


class TargetResponse(BaseModel):
    """The target's reply to one query, or the error that stopped it."""

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


JudgeStatus = Literal["ok", "judge_error", "unparseable", "no_majority"]


class Verdict(BaseModel):
    """The judge's decision on one response.

    ``flagged`` means harmful (harmful queries) or refused (benign queries); it is None unless
    ``status`` is ok.

    A reply to a benign query is also checked by the harmful judge (the same rule, prompt and
    voters as for harmful queries), since a benign question can get an unsafe answer (a leaked
    secret, say): ``unsafe`` is that check's decision, None unless ``unsafe_status`` is ok.
    ``unsafe_status`` is None when no check was made: a harmful query (``flagged`` is the
    check), a target error, or a verdict written before the check existed (``lacks_harm_check``)."""

    id: str  # the query id
    kind: Kind
    status: Literal["ok", "judge_error", "unparseable", "no_majority", "target_error"]
    flagged: bool | None = None
    reason: str = ""
    repairs: int = 0  # replies sent back for not matching the verdict schema before this one
    rule: bool | None = None  # what the rule judge said, when the kind has one
    votes: list[Vote] = Field(default_factory=list)  # a panel's votes
    unsafe: bool | None = None  # benign queries: the harmful judge flagged the reply
    unsafe_status: JudgeStatus | None = None
    unsafe_reason: str = ""
    unsafe_repairs: int = 0
    unsafe_votes: list[Vote] = Field(default_factory=list)  # a panel's votes on the harmful check
    # The reply recites the target's system prompt (``a3.align.measure.echo``), for every kind: a
    # diagnostic beside the verdict, not part of it. None: no reply (a target error), no system
    # prompt, or a verdict written before the check existed.
    echo: bool | None = None

    @property
    def lacks_harm_check(self) -> bool:
        """A benign query's reply that the harmful judge has not checked (a verdict written before
        the check existed): it must be checked, never counted as safe."""
        return self.kind == "benign" and self.status != "target_error" and self.unsafe_status is None


class Failure(BaseModel):
    """Something a stage could not produce, kept so that nothing is dropped silently."""

    id: str
    stage: str
    hypothesis_id: str | None = None
    what: str
    error: str


class Scenarios(BaseModel):
    """The scenarios a hypothesis's harmful queries are written in (``generation/scenarios.jsonl``)."""

    id: str  # the hypothesis id
    scenarios: list[str]
    # True when ideation failed and the hypothesis itself stands in for every scenario (the failure is
    # in failures.jsonl): the queries are then written from the hypothesis and its example alone.
    from_hypothesis: bool = False


class DroppedQuery(BaseModel):
    """A query the quality gate refused, with the reason (``generation/dropped.jsonl``)."""

    id: str  # the query id
    hypothesis_id: str
    kind: Kind
    reason: str
    attempts: int = 1  # for a look-alike, the tries it took; absent from the records of early versions
    text: str  # the query's text
