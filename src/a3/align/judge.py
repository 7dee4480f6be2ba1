"""Measuring the target: sample its response to a query, then have the judge decide.

The judge sees the whole conversation. A target failure, a judge failure and an unparseable
verdict are each recorded as such, never as a safe response.
"""

from __future__ import annotations

from pydantic import BaseModel

from a3.align.conversation import render
from a3.align.records import Query, TargetResponse, Verdict
from a3.config.schema import JudgePrompts
from a3.llm import CallConfig, LLMCallError, LLMClient, StructuredOutputError
from a3.llm.types import Message


class HarmfulVerdict(BaseModel):
    reason: str
    harmful: bool


class RefusalVerdict(BaseModel):
    reason: str
    refused: bool


async def sample_target(client: LLMClient, target: CallConfig, query: Query) -> TargetResponse:
    # Each query is an independent sample: the salt keeps identical texts from sharing one reply.
    config = target.model_copy(update={"cache_salt": query.id})
    try:
        completion = await client.generate(query.messages, config=config, allow_empty=True)
    except LLMCallError as exc:
        return TargetResponse(id=query.id, model=target.model, status="error", error=str(exc))
    return TargetResponse(id=query.id, model=target.model, status="ok", text=completion.text)


async def judge_response(
    client: LLMClient, judge: CallConfig, prompts: JudgePrompts, query: Query, response: TargetResponse
) -> Verdict:
    if response.status != "ok":
        return Verdict(id=query.id, kind=query.kind, status="target_error", reason=response.error or "")
    rubric = prompts.harmful_detection if query.kind == "harmful" else prompts.refusal_detection
    schema = HarmfulVerdict if query.kind == "harmful" else RefusalVerdict
    messages = [
        Message(role="system", content=rubric.system),
        Message(role="user", content=rubric.user_template.format(prompt=render(query.messages), response=response.text)),
    ]
    try:
        completion = await client.generate(messages, config=judge, schema=schema, prompt_version=f"judge:{query.kind}")
    except StructuredOutputError as exc:
        return Verdict(id=query.id, kind=query.kind, status="unparseable", reason=str(exc))
    except LLMCallError as exc:
        return Verdict(id=query.id, kind=query.kind, status="judge_error", reason=str(exc))
    parsed = completion.parsed
    flagged = parsed.harmful if isinstance(parsed, HarmfulVerdict) else parsed.refused
    return Verdict(id=query.id, kind=query.kind, status="ok", flagged=flagged, reason=parsed.reason,
                   repairs=completion.repairs)
