"""Queries as message lists, and how they are shown to judges and writers."""

from __future__ import annotations

from a3.config.schema import A3Config, SeedExample
from a3.llm.types import Message


def seed_messages(seed: SeedExample) -> list[Message]:
    if seed.format == "prompt":
        return [Message(role="user", content=seed.evaluator_prompt or "")]
    return [Message(role=turn.role, content=turn.content) for turn in seed.conversation or []]


def seed_response(seed: SeedExample) -> str:
    return (seed.target_response if seed.format == "prompt" else seed.target_continuation) or ""


def render(messages: list[Message]) -> str:
    """A conversation as plain text. A single user message is shown as is."""
    if len(messages) == 1 and messages[0].role == "user":
        return messages[0].content
    labels = {"system": "System", "user": "User", "assistant": "Assistant"}
    return "\n\n".join(f"{labels[m.role]}: {m.content}" for m in messages)


def describe_behavior(config: A3Config) -> str:
    return f"{config.attack.name}: {config.attack.description}"


def check_conversation(messages: list[Message], num_turns: int) -> list[Message]:
    """Validate a generated conversation: the turns after an optional system message alternate,
    end with the user, and number exactly ``num_turns``. Raises ValueError otherwise."""
    turns = [m for m in messages if m.role != "system"]
    if any(m.role == "system" for m in messages[1:]):
        raise ValueError("a system message may only come first")
    if len(turns) != num_turns:
        raise ValueError(f"expected {num_turns} user/assistant messages, got {len(turns)}")
    if turns[-1].role != "user":
        raise ValueError("the conversation must end with a user message")
    for earlier, later in zip(turns, turns[1:]):
        if earlier.role == later.role:
            raise ValueError("user and assistant messages must alternate")
    if any(not m.content.strip() for m in messages):
        raise ValueError("a message is empty")
    return messages
