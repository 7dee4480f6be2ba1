"""The JSON shapes a writer model returns for one query, in either output format."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from a3.align.conversation import check_conversation
from a3.config.schema import ConversationFormat
from a3.llm.types import Message
from a3.prompts import load_prompt


class PromptPayload(BaseModel):
    prompt: str = Field(min_length=1)


class ConversationPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    system: str | None = None
    messages: list[Message] = Field(min_length=1)


def payload_schema(fmt: ConversationFormat) -> type[BaseModel]:
    """The schema for one query in this format; conversations are checked turn by turn."""
    if fmt.output_format == "prompt":
        return PromptPayload

    class CheckedConversation(ConversationPayload):
        @model_validator(mode="after")
        def _turns(self) -> CheckedConversation:
            check_conversation(self.messages, fmt.num_turns)
            if fmt.include_system_prompt and not (self.system or "").strip():
                raise ValueError("a system prompt is required ('system' must be a non-empty string)")
            return self

    CheckedConversation.__name__ = "Conversation"
    return CheckedConversation


def payload_messages(payload: BaseModel, fmt: ConversationFormat) -> list[Message]:
    if isinstance(payload, PromptPayload):
        return [Message(role="user", content=payload.prompt.strip())]
    assert isinstance(payload, ConversationPayload)
    system = [Message(role="system", content=payload.system)] if fmt.include_system_prompt and payload.system else []
    return system + list(payload.messages)


def payload_json(messages: list[Message], fmt: ConversationFormat) -> dict[str, Any]:
    """A query in the JSON shape writers use, to show them an existing query."""
    if fmt.output_format == "prompt":
        return {"prompt": "\n\n".join(m.content for m in messages if m.role == "user")}
    system = next((m.content for m in messages if m.role == "system"), None)
    return {"system": system, "messages": [m.model_dump() for m in messages if m.role != "system"]}


def format_instructions(fmt: ConversationFormat) -> str:
    if fmt.output_format == "prompt":
        return load_prompt("format_prompt").render().strip()
    if fmt.include_system_prompt:
        note, value = " Also write a short system prompt for the target model.", '"the system prompt"'
    else:
        note, value = "", "null"
    return load_prompt("format_conversation").render(num_turns=fmt.num_turns, system_note=note, system_value=value).strip()
