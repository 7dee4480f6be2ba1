"""Queries as message lists, and how they are shown to judges and writers."""

from __future__ import annotations

from a3.config.schema import Attack, SeedExample
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


def describe_behavior(attack: Attack) -> str:
    """The behaviour under test in one line: the attack's name and description."""
    return f"{attack.name}: {attack.description}"
