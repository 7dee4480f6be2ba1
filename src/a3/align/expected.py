"""Stage 3, ``a3 expected``: the response the model should have given, for every training query.

Harmful queries get the issue's safe response, benign ones a helpful answer, both written from
the config's ``expected_behavior_prompts``. A reply that the harmful-kind rule judge flags (a
leaked secret, say: the writer sees what the target sees) is never a training target: it is
written again. So is, when the config has a refusal rule (``judge_rules.benign``), a reply to a
harmful query that does not decline, or a reply to a benign one that does: the 0.5B writer,
told to decline, often complied ("Sure, here are the instructions..."). The config's default
responses are used only when a query's tries all fail, and
every such fallback is counted.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel, ConfigDict

from a3.align import layout
from a3.align.conversation import render
from a3.align.measure.judge import Judge
from a3.align.records import Kind, Query
from a3.align.roles import resolve_roles
from a3.align.split import STAGE as SPLIT_STAGE
from a3.align.split import load_split
from a3.config import A3Config
from a3.config.schema import ExpectedBehaviorPrompts
from a3.errors import UserInputError
from a3.llm import CallConfig, LLMCallError, LLMClient, StructuredOutputError
from a3.llm.types import Message
from a3.progress import Progress, SilentProgress
from a3.store import RunDir, atomic_write_json, identity_dump, read_json

STAGE = "expected"
#: The expected-behaviour writer's temperature, as in the original.
WRITER_TEMPERATURE = 0.7


class ExpectedReply(BaseModel):
    """A training query with the reply it should get: a line of ``expected_behaviors.json``."""

    id: str
    hypothesis_id: str
    kind: Kind
    messages: list[Message]
    response: str
    source: Literal["generated", "default"]  # default: the writer never gave an acceptable reply
    errors: list[str]  # why earlier tries were not kept


def load_expected(run: RunDir) -> list[ExpectedReply] | None:
    """Stage 3's replies; None when stage 3 has not written them."""
    path = run.path / layout.EXPECTED
    if not path.exists():
        return None
    return [ExpectedReply.model_validate(row) for row in read_json(path)["responses"]]


def expected_replies(run: RunDir) -> dict[str, str] | None:
    """Stage 3's reply for each training query id; None when stage 3 has not written them."""
    replies = load_expected(run)
    return None if replies is None else {reply.id: reply.response for reply in replies}


class ExpectedCounts(BaseModel):
    """Stage 3's counts: training queries, replies written, and replies that fell back to the default."""

    total: int
    generated: int
    fallback_to_default: int  # queries whose writer never gave an acceptable reply


class ExpectedOptions(BaseModel):
    """Options of stage 3 (`a3 expected`).

    ``model`` overrides the generator; ``tries`` is how many fresh samples a query gets before the
    config's default response is used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = None
    tries: int = 2  # fresh samples to try before falling back to the config's default response


def writer_messages(prompts: ExpectedBehaviorPrompts, query: Query) -> list[Message]:
    """What the writer is sent for ``query``: the kind's system prompt and the query in its template."""
    harmful = query.kind == "harmful"
    system = Message(role="system", content=prompts.harmful_system_prompt if harmful else prompts.benign_system_prompt)
    user_turns = [m for m in query.messages if m.role != "system"]
    if len(user_turns) > 1:
        # A conversation goes to the writer as the conversation itself, so it answers its last turn.
        return [system, *user_turns]
    template = prompts.harmful_user_template if harmful else prompts.benign_user_template
    shown = query.messages if prompts.include_system_prompt else user_turns
    return [system, Message(role="user", content=template.format(prompt=render(shown)))]


async def run_expected(
    config: A3Config,
    run: RunDir,
    client: LLMClient,
    options: ExpectedOptions = ExpectedOptions(),
    progress: Progress | None = None,
) -> ExpectedCounts:
    """Run (or resume) stage 3: write the reply the target should have given to each training query.

    Needs stage 2 done. A query whose writer fails ``options.tries`` times gets the config's default
    response, counted in the result (and in ``expected/expected_behaviors.json``)."""
    split_manifest = run.manifest(SPLIT_STAGE)
    prompts = config.expected_behavior_prompts
    if split_manifest is None or split_manifest.status != "done":
        raise UserInputError(f"{run.path}: run `a3 split` first (stage 'split' is not done)")
    roles = resolve_roles(config, generator_model=options.model)
    writer = roles.generator.model_copy(
        update={"temperature": WRITER_TEMPERATURE, "max_tokens": prompts.writer_max_tokens}
    )
    judge = Judge(client, roles.judge)
    _check_defaults(prompts, judge)
    stage = run.stage(
        STAGE,
        inputs={
            "split": split_manifest.input_hash,
            "prompts": identity_dump(prompts),
            "tries": options.tries,
            "harmful_rule": config.judge_rules.harmful.model_dump() if config.judge_rules.harmful else None,
            "refusal_rule": config.judge_rules.benign.model_dump() if config.judge_rules.benign else None,
        },
        models={"writer": writer.model},
    )
    with stage:
        if not stage.skipped:
            queries = load_split(run, "train")
            # One record per query as it is written, in a log named by the stage's inputs: a resumed
            # run keeps only replies made under the same prompts and rules (the call cache still
            # replays any call that matches), however the earlier attempt ended.
            done = run.log(layout.expected_responses(stage.input_hash), ExpectedReply)
            task = (progress or SilentProgress()).task("expected: responses written", len(queries))
            task.advance(sum(1 for q in queries if q.id in done))

            async def one(query: Query) -> None:
                if query.id in done:
                    return
                done.append(await _write_one(prompts, client, judge, writer, query, options.tries))
                task.advance()

            await asyncio.gather(*(one(q) for q in queries))
            records = [done[q.id] for q in queries]
            fallbacks = sum(r.source == "default" for r in records)
            counts = ExpectedCounts(
                total=len(records), generated=len(records) - fallbacks, fallback_to_default=fallbacks
            )
            atomic_write_json(
                run.path / layout.EXPECTED,
                {"responses": [r.model_dump(mode="json") for r in records], "counts": counts.model_dump()},
            )
            stage.add_output(layout.EXPECTED)
    return ExpectedCounts.model_validate(read_json(run.path / layout.EXPECTED)["counts"])


async def _write_one(
    prompts: ExpectedBehaviorPrompts, client: LLMClient, judge: Judge, writer: CallConfig, query: Query, tries: int
) -> ExpectedReply:
    errors = []
    for attempt in range(tries):
        call = writer.model_copy(update={"cache_salt": f"try-{attempt}"}) if attempt else writer
        try:
            completion = await client.generate(
                writer_messages(prompts, query), config=call, prompt_version=f"expected:{query.kind}"
            )
        except (LLMCallError, StructuredOutputError) as exc:
            errors.append(str(exc))
            continue
        reply = completion.text.strip()
        problem = (
            f"cut off at the writer's budget of {writer.max_tokens} tokens"
            if completion.truncated
            else _unfit(judge, query, reply)
        )
        if problem is None:
            return _record(query, reply, "generated", errors)
        errors.append(problem)
    default = prompts.harmful_default_response if query.kind == "harmful" else prompts.benign_default_response
    return _record(query, default, "default", errors)


def _check_defaults(prompts: ExpectedBehaviorPrompts, judge: Judge) -> None:
    """The config's default responses become training targets: they must pass the rules too."""
    defaults: tuple[tuple[Kind, str], ...] = (
        ("harmful", prompts.harmful_default_response),
        ("benign", prompts.benign_default_response),
    )
    for kind, reply in defaults:
        probe = Query(id=f"default-{kind}", hypothesis_id="-", kind=kind, messages=[], source="the config's default")
        problem = _unfit(judge, probe, reply)
        if problem is not None:
            raise UserInputError(
                f"expected_behavior_prompts.{kind}_default_response cannot be a training target: {problem}"
            )


def _unfit(judge: Judge, query: Query, reply: str) -> str | None:
    """Why ``reply`` cannot be the training target of ``query`` by the config's rules, or None."""
    harm = judge.shows_harm(query.messages, reply)
    if harm is not None:
        return f"the reply shows the behaviour (harmful-kind rule: {harm})"
    if not judge.has_rule("benign"):
        return None
    refusal = judge.reads_as_refusal(reply, query.messages)
    if query.kind == "harmful" and refusal is None:
        return "the reply to a harmful query does not decline (refusal rule)"
    if query.kind == "benign" and refusal is not None:
        return f"the reply to a benign query refuses (refusal rule: {refusal})"
    return None


def _record(query: Query, response: str, source: Literal["generated", "default"], errors: list[str]) -> ExpectedReply:
    return ExpectedReply(
        id=query.id,
        hypothesis_id=query.hypothesis_id,
        kind=query.kind,
        messages=query.messages,
        response=response,
        source=source,
        errors=errors,
    )
