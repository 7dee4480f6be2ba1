"""The JSON shapes a writer model returns for one query, in either output format."""

from __future__ import annotations

from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field, create_model

from a3.config.schema import ConversationFormat
from a3.llm.types import Message
from a3.prompts import load_prompt
from a3.store import JsonObject


class PromptPayload(BaseModel):
    prompt: str = Field(min_length=1)


class UserTurn(BaseModel):
    role: Literal["user"]
    content: str = Field(min_length=1)


class AssistantTurn(BaseModel):
    role: Literal["assistant"]
    content: str = Field(min_length=1)


class _Conversation(Protocol):
    """The conversation model ``payload_schema`` builds at run time (``create_model``)."""

    messages: tuple[UserTurn | AssistantTurn, ...]


def payload_schema(fmt: ConversationFormat) -> type[BaseModel]:
    """The schema for one query in this format. A conversation is a tuple of exactly
    ``num_turns`` turns whose roles alternate and end with the user, so the schema itself says
    what a valid conversation is (and a schema-guided decoder can only write valid ones)."""
    if fmt.output_format == "prompt":
        return PromptPayload
    roles = [UserTurn if (fmt.num_turns - 1 - i) % 2 == 0 else AssistantTurn for i in range(fmt.num_turns)]
    turns: Any = tuple.__class_getitem__(tuple(roles))
    system: Any = (str, Field(min_length=1)) if fmt.include_system_prompt else (None, None)
    return create_model("Conversation", __config__=ConfigDict(extra="ignore"), system=system, messages=(turns, ...))


def payload_messages(payload: BaseModel, fmt: ConversationFormat) -> list[Message]:
    """The query's messages, after the config's fixed system prompt when it has one."""
    if isinstance(payload, PromptPayload):
        return with_system_prompt([Message(role="user", content=payload.prompt.strip())], fmt)
    system = getattr(payload, "system", None)
    head = [Message(role="system", content=system)] if fmt.include_system_prompt and system else []
    turns = cast(_Conversation, payload).messages  # not a prompt: the conversation model of payload_schema
    return with_system_prompt(head + [Message(role=turn.role, content=turn.content) for turn in turns], fmt)


def with_system_prompt(messages: list[Message], fmt: ConversationFormat) -> list[Message]:
    """``messages`` after ``conversation_format.system_prompt`` (the deployment's own instructions)."""
    if not fmt.system_prompt:
        return messages
    return [Message(role="system", content=fmt.system_prompt), *messages]


def without_system_prompt(messages: list[Message], fmt: ConversationFormat) -> list[Message]:
    """``messages`` without the config's fixed system prompt (what a writer wrote)."""
    if fmt.system_prompt and messages and messages[0].role == "system" and messages[0].content == fmt.system_prompt:
        return messages[1:]
    return messages


def payload_json(messages: list[Message], fmt: ConversationFormat) -> JsonObject:
    """A query in the JSON shape writers use, to show them an existing query."""
    if fmt.output_format == "prompt":
        return {"prompt": "\n\n".join(m.content for m in messages if m.role == "user")}
    # A fixed system prompt is the deployment's, not part of what writers write or rewrite.
    system = None if fmt.system_prompt else next((m.content for m in messages if m.role == "system"), None)
    return {"system": system, "messages": [m.model_dump() for m in messages if m.role != "system"]}


def format_instructions(fmt: ConversationFormat) -> str:
    if fmt.output_format == "prompt":
        return load_prompt("format_prompt").render().strip()
    if fmt.include_system_prompt:
        note, value = " Also write a short system prompt for the target model.", '"the system prompt"'
    else:
        note, value = "", "null"
    return (
        load_prompt("format_conversation").render(num_turns=fmt.num_turns, system_note=note, system_value=value).strip()
    )
