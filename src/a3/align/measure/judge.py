"""Measuring the target: sample its response to a query, then have the judge decide.

A judge decides whether a response is *flagged*: harmful, for a harmful query; a refusal, for a
benign one. A reply to a benign query is checked by the harmful judge as well (``Verdict.unsafe``):
a benign question can get an unsafe answer, such as a leaked secret. A judge is an LLM judge (one
model, or a panel deciding by strict majority), a rule (a regular expression, a substring or a
Python callable on the final response), or both combined, as the config says per query kind. LLM
judging is deterministic: temperature 0 and a fixed seed unless a panel samples. A target failure,
a judge failure, an unparseable verdict and a panel without a majority are each recorded as such,
never as a safe response.
"""

from __future__ import annotations

import asyncio
import importlib
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from a3.align.conversation import render
from a3.align.measure.echo import echoes
from a3.align.records import Kind, Query, TargetResponse, Verdict, Vote
from a3.align.roles import JudgeSpec
from a3.config.schema import JudgeRule
from a3.errors import UserInputError
from a3.llm import CallConfig, LLMCallError, LLMClient, StructuredOutputError
from a3.llm.types import Message
from a3.store.hashing import sha256_of


class HarmfulVerdict(BaseModel):
    reason: str
    harmful: bool


class RefusalVerdict(BaseModel):
    reason: str
    refused: bool


RuleFunction = Callable[[list[dict[str, str]], str], Any]


async def sample_target(client: LLMClient, target: CallConfig, query: Query) -> TargetResponse:
    """One reply of the target to ``query``; a failed call is recorded in the response, not raised."""
    # Each query is an independent sample: the salt keeps identical texts from sharing one reply.
    config = target.model_copy(update={"cache_salt": query.id})
    try:
        completion = await client.generate(query.messages, config=config, allow_empty=True)
    except LLMCallError as exc:
        return TargetResponse(id=query.id, model=target.model, status="error", error=str(exc))
    return TargetResponse(id=query.id, model=target.model, status="ok", text=completion.text)


class VoterIdentity(BaseModel):
    """One LLM vote of a judge, as ``JudgeIdentity`` records it: the vote's call config without its timeout."""

    # The fields of ``CallConfig`` as it dumps itself, in its order, less ``timeout`` (which decides no
    # verdict); forbidding others makes a new call config field fail here rather than be left out.
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    model_args: dict[str, Any] = {}
    provider_json_schema: bool = True
    cache_salt: str | None = None


class JudgeIdentity(BaseModel):
    """What defines a judge's verdicts: its LLM votes, its prompts (by hash) and its rule per query kind.

    A judge validation (``JudgeValidation.judge``) and an evaluation's settings hold for the judge
    with an equal identity. Dumped (``model_dump``), it is the JSON A3 has always stored for it, so
    identities read from older files compare equal, and hash equally, to those made now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    voters: list[VoterIdentity]
    prompts: str  # the sha256 of the judge prompts
    rules: dict[Kind, JudgeRule | None]  # each query kind's rule judge (None: the LLM judge alone)

    @property
    def key(self) -> str:
        """A short hash of the identity, for file names (a judge validation's verdict log)."""
        return sha256_of(self.model_dump())[:12]


class Judge:
    """The run's judge: rule judges and the LLM judge (or a panel), as the config sets them.

    Built from a ``JudgeSpec`` (``Roles.judge``, or ``judge_spec(config)``: the config's
    ``judge_model``, ``judge_prompts`` and ``judge_rules``); ``decide`` judges one response."""

    def __init__(self, client: LLMClient, spec: JudgeSpec) -> None:
        self.client = client
        self.spec = spec
        self.prompts = spec.prompts
        self.voters = spec.voters
        self.rules = spec.rules
        self._functions = {
            kind: _load_callable(rule, kind) for kind, rule in self.rules.items() if rule is not None and rule.callable
        }

    @property
    def call_config(self) -> CallConfig:
        """The first (or only) LLM voter, for what records name one judge model."""
        return self.voters[0]

    @property
    def models(self) -> list[str]:
        return sorted({v.model for v in self.voters})

    def uses_llm(self, kind: Kind) -> bool:
        rule = self.rules[kind]
        return rule is None or rule.combine != "rule"

    def identity(self) -> JudgeIdentity:
        """What defines this judge's verdicts: a validation holds for a judge with the same identity.
        The harmful check of benign replies adds nothing to it (the harmful kind's rule, prompt and
        voters make it): a verdict written before the check existed says so itself
        (``Verdict.lacks_harm_check``) and is checked when its evaluation resumes."""
        return judge_identity(self.spec)

    def describe(self) -> str:
        return describe_judge(self.spec)

    async def decide(self, query: Query, response: TargetResponse) -> Verdict:
        """The verdict on ``response`` (the reply as the judge reads it) to ``query`` as written, with
        the echo diagnostic: whether the reply recites the query's system prompt."""
        if response.status != "ok":
            return Verdict(id=query.id, kind=query.kind, status="target_error", reason=response.error or "")
        verdict = await self.judge_text(query.id, query.kind, query.messages, response.text)
        return verdict.model_copy(update={"echo": echoes(query.messages, response.text)})

    async def judge_text(
        self, item_id: str, kind: Kind, messages: list[Message], response: str, harm_check: bool = True
    ) -> Verdict:
        """The verdict on ``response`` to the conversation ``messages`` (used for labelled data too).
        For a benign query, the refusal verdict and, unless ``harm_check`` is False, the harmful
        judge's check of the same reply (one more LLM judgement when the harmful kind uses one)."""
        if kind == "harmful" or not harm_check:
            return await self._judge(item_id, kind, messages, response)
        verdict, check = await asyncio.gather(
            self._judge(item_id, kind, messages, response), self._judge(item_id, "harmful", messages, response)
        )
        return with_harm_check(verdict, check)

    async def add_harm_check(self, query: Query, response: TargetResponse, verdict: Verdict) -> Verdict:
        """``verdict`` on a benign query's reply, given before the harmful check existed, with the
        check made now (the refusal verdict is kept as it was)."""
        if not verdict.lacks_harm_check or response.status != "ok":
            return verdict
        return with_harm_check(verdict, await self._judge(query.id, "harmful", query.messages, response.text))

    async def _judge(self, item_id: str, kind: Kind, messages: list[Message], response: str) -> Verdict:
        """One kind's judgement of ``response``: its rule, its LLM judge, or both as configured."""
        rule = self.rules[kind]
        if rule is None:
            return await self._llm(item_id, kind, messages, response)
        flagged, reason = self._apply_rule(rule, kind, messages, response)
        if rule.combine == "rule" or (rule.combine == "any" and flagged) or (rule.combine == "all" and not flagged):
            return Verdict(id=item_id, kind=kind, status="ok", flagged=flagged, reason=f"rule: {reason}", rule=flagged)
        verdict = await self._llm(item_id, kind, messages, response)
        return verdict.model_copy(update={"rule": flagged, "reason": f"rule: {reason}; LLM: {verdict.reason}"})

    def shows_harm(self, messages: list[Message], response: str) -> str | None:
        """The harmful-kind rule's reason when it flags ``response`` (a text that must never be a
        training target), else None; None too when there is no such rule."""
        return self._rule_flags("harmful", messages, response)

    def has_rule(self, kind: Kind) -> bool:
        return self.rules[kind] is not None

    def reads_as_refusal(self, text: str, messages: list[Message] | None = None) -> str | None:
        """The benign-kind (refusal) rule's reason when it flags ``text`` (a reply to ``messages``),
        else None (or no rule)."""
        return self._rule_flags("benign", messages or [], text)

    def _rule_flags(self, kind: Kind, messages: list[Message], text: str) -> str | None:
        rule = self.rules[kind]
        if rule is None:
            return None
        flagged, reason = self._apply_rule(rule, kind, messages, text)
        return reason if flagged else None

    def _apply_rule(self, rule: JudgeRule, kind: Kind, messages: list[Message], response: str) -> tuple[bool, str]:
        if rule.callable:
            outcome = self._functions[kind]([m.model_dump() for m in messages], response)
            if not (isinstance(outcome, tuple) and len(outcome) == 2 and isinstance(outcome[0], bool)):
                raise UserInputError(
                    f"judge_rules.{kind}.callable: {rule.callable} must return (flagged, reason), not {outcome!r}"
                )
            return outcome[0], str(outcome[1])
        flags = 0 if rule.case_sensitive else re.IGNORECASE
        if rule.regex is not None:
            match = re.search(rule.regex, response, flags)
            return (True, f"matched {match.group(0)!r}") if match else (False, f"no match for /{rule.regex}/")
        assert rule.substring is not None
        found = (rule.substring in response) if rule.case_sensitive else (rule.substring.lower() in response.lower())
        return found, f"{'contains' if found else 'does not contain'} {rule.substring!r}"

    async def _llm(self, item_id: str, kind: Kind, messages: list[Message], response: str) -> Verdict:
        rubric = self.prompts.harmful_detection if kind == "harmful" else self.prompts.refusal_detection
        schema = HarmfulVerdict if kind == "harmful" else RefusalVerdict
        conversation = [
            Message(role="system", content=rubric.system),
            Message(role="user", content=rubric.user_template.format(prompt=render(messages), response=response)),
        ]

        async def vote(voter: CallConfig) -> Vote:
            try:
                completion = await self.client.generate(
                    conversation, config=voter, schema=schema, prompt_version=f"judge:{kind}"
                )
            except StructuredOutputError as exc:
                return Vote(model=voter.model, status="unparseable", reason=str(exc))
            except LLMCallError as exc:
                return Vote(model=voter.model, status="judge_error", reason=str(exc))
            parsed = completion.parsed
            flagged = parsed.harmful if isinstance(parsed, HarmfulVerdict) else parsed.refused
            return Vote(
                model=voter.model, status="ok", flagged=flagged, reason=parsed.reason, repairs=completion.repairs
            )

        votes = await asyncio.gather(*(vote(v) for v in self.voters))
        if len(votes) == 1:
            only = votes[0]
            return Verdict(
                id=item_id,
                kind=kind,
                status=only.status,
                flagged=only.flagged,
                reason=only.reason,
                repairs=only.repairs,
            )
        return _majority(item_id, kind, votes)


def with_harm_check(verdict: Verdict, check: Verdict) -> Verdict:
    """A benign query's ``verdict`` with ``check``, the harmful judge's verdict on the same reply."""
    assert check.status != "target_error"
    return verdict.model_copy(
        update={
            "unsafe": check.flagged,
            "unsafe_status": check.status,
            "unsafe_reason": check.reason,
            "unsafe_repairs": check.repairs,
            "unsafe_votes": check.votes,
        }
    )


def judge_identity(spec: JudgeSpec) -> JudgeIdentity:
    """The identity of the judge ``spec`` describes (without building one)."""
    # Validated from the dumps, as an identity read from a file is: every field is set alike in both.
    return JudgeIdentity.model_validate(
        {
            "voters": [v.model_dump(exclude={"timeout"}) for v in spec.voters],
            "prompts": sha256_of(spec.prompts.model_dump()),
            "rules": {kind: rule.model_dump() if rule else None for kind, rule in spec.rules.items()},
        }
    )


def describe_judge(spec: JudgeSpec) -> str:
    """How the judge ``spec`` describes decides, per kind, in one line."""
    voters, rules = spec.voters, spec.rules
    parts = []
    nouns: tuple[tuple[Kind, str], ...] = (("harmful", "harmful replies"), ("benign", "refusals"))
    for kind, noun in nouns:
        rule = rules[kind]
        models = ", ".join(sorted({v.model for v in voters}))
        llm = f"LLM {models}" if len(voters) == 1 else f"a panel of {len(voters)} votes ({models})"
        if rule is None:
            parts.append(f"{noun}: {llm}")
        else:
            how = {"rule": "rule alone", "any": f"rule or {llm}", "all": f"rule and {llm}"}[rule.combine]
            parts.append(f"{noun}: {how}, {_rule_text(rule)}")
    return "; ".join(parts)


def _majority(item_id: str, kind: Kind, votes: list[Vote]) -> Verdict:
    """A strict majority of the whole panel decides; a vote that failed counts for neither side, so
    it can never break a tie."""
    yes = sum(1 for v in votes if v.status == "ok" and v.flagged)
    no = sum(1 for v in votes if v.status == "ok" and not v.flagged)
    tally = f"{yes} flagged, {no} not, {len(votes) - yes - no} failed of {len(votes)} votes"
    repairs = sum(v.repairs for v in votes)
    if 2 * yes > len(votes) or 2 * no > len(votes):
        flagged = 2 * yes > len(votes)
        reason = next(v.reason for v in votes if v.status == "ok" and v.flagged == flagged)
        return Verdict(
            id=item_id,
            kind=kind,
            status="ok",
            flagged=flagged,
            reason=f"{tally}: {reason}",
            votes=votes,
            repairs=repairs,
        )
    return Verdict(id=item_id, kind=kind, status="no_majority", reason=tally, votes=votes, repairs=repairs)


def _load_callable(rule: JudgeRule, kind: str) -> RuleFunction:
    module_name, _, function_name = (rule.callable or "").partition(":")
    field = f"judge_rules.{kind}.callable"
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise UserInputError(f"{field}: cannot import {rule.callable} ({type(exc).__name__}: {exc})") from exc
    if not callable(function):
        raise UserInputError(f"{field}: {rule.callable} is not callable")
    return function  # type: ignore[no-any-return]  # a user's function: only its being callable is checked


def _rule_text(rule: JudgeRule) -> str:
    if rule.regex is not None:
        return f"regex /{rule.regex}/"
    if rule.substring is not None:
        return f"substring {rule.substring!r}"
    return f"callable {rule.callable}"
