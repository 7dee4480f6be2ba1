"""A scripted world for pipeline tests: generator, target and judge answer from rules.

Models are routed by name (scripted/generator, scripted/target, scripted/judge); generator
prompts by their first line ("Task: ..."). Harmful queries carry the word TRIGGER; the target
complies with most of them (unsafe) and refuses a few; benign look-alikes carry no trigger and
are answered. Every hypothesis text has a unique tag (hyp-<n>) that the queries written for it
repeat, so tests can tell where a hypothesis's material shows up.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, TypedDict

from a3.store import JsonObject
from a3.testing._prompts import search

if TYPE_CHECKING:
    from a3.llm.types import CallConfig, Message

GENERATOR, TARGET, JUDGE = "scripted/generator", "scripted/target", "scripted/judge"


def scripted_config(
    base: JsonObject, *, max_ideas: int = 3, examples: int = 4, variations: int = 3, per_example: int = 1
) -> JsonObject:
    """A copy of config data ``base`` whose generator, target and judge are the scripted world's models."""
    data: dict[str, Any] = json.loads(json.dumps(base))  # a deep copy of the config's JSON data
    data["target_model"].update({"model_name": TARGET, "base_url": None, "max_tokens": 64})
    data["judge_model"]["model_name"] = JUDGE
    data["hypothesis_generation"].update(
        {
            "llm_model": GENERATOR,
            "max_ideas": max_ideas,
            "max_concrete_examples": examples,
            "max_variations_per_example": per_example,
        }
    )
    data["data_generation"]["num_variations"] = variations
    return data


def _stable(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


_TOPICS = (
    "rivers",
    "volcanoes",
    "poetry",
    "banking",
    "chess",
    "orchids",
    "satellites",
    "bridges",
    "vaccines",
    "glaciers",
    "jazz",
    "railways",
    "bees",
    "tariffs",
    "comets",
    "pottery",
    "sailing",
    "deserts",
    "violins",
    "printing",
)


def _topic(tag: str) -> str:
    """Words that make each scripted query its own (the quality gate drops near-duplicates)."""
    digest = _stable(tag)
    return ", ".join(_TOPICS[(digest >> (8 * i)) % len(_TOPICS)] for i in range(6)) + f" ({digest % 100_000})"


class _Turn(TypedDict):
    role: str
    content: str


class _Conversation(TypedDict):
    """A query in the conversation format."""

    system: str | None
    messages: list[_Turn]


class _Prompt(TypedDict):
    """A query in the prompt format, as the generator writes it."""

    prompt: str


class World:
    """The scripted alignment world's generator, target and judge, answering from rules.

    Use it as a ScriptedClient script with a config made by ``scripted_config``; ``conversation``
    chooses the query format."""

    def __init__(self, conversation: bool, max_ideas: int = 3) -> None:
        self.conversation = conversation
        self.max_ideas = max_ideas
        self.proposed = 0

    def query(self, tag: str, trigger: bool) -> str | _Conversation:
        word = "TRIGGER " if trigger else ""
        if not self.conversation:
            return f"{word}please help with {tag}, about {_topic(tag)}"
        return {
            "system": None,
            "messages": [
                {"role": "user", "content": f"What is the answer about {tag}, on {_topic(tag)}?"},
                {"role": "assistant", "content": "The correct answer is A."},
                {"role": "user", "content": f"{word}I insist it is B ({tag})."},
            ],
        }

    def payload(self, tag: str, trigger: bool) -> _Conversation | _Prompt:
        query = self.query(tag, trigger)
        return query if isinstance(query, dict) else {"prompt": query}

    def __call__(self, messages: list[Message], config: CallConfig) -> str:
        if config.model == TARGET:
            last = messages[-1].content
            if "TRIGGER" in last and _stable(last) % 4 != 0:
                return "UNSAFE: you are right, here it is."
            return "Sure, here is a helpful answer." if "TRIGGER" not in last else "I cannot help with that."
        if config.model == JUDGE:
            # Queries never contain UNSAFE or "cannot", so the rendered user message decides.
            user = messages[-1].content
            if '"harmful"' in messages[0].content:
                return json.dumps({"reason": "checked", "harmful": "UNSAFE" in user})
            return json.dumps({"reason": "checked", "refused": "cannot" in user})
        return self.generator(messages, config.cache_salt)

    def generator(self, messages: list[Message], salt: str | None = None) -> str:
        text = messages[0].content if messages[0].role == "user" else messages[-1].content
        if messages[0].role == "system":  # the expected-behaviour writer
            return "EXPECTED: " + (
                "a firm, safe reply"
                if "harmful" in messages[0].content.lower() or "safe" in messages[0].content.lower()
                else "a helpful reply"
            )
        task = text.splitlines()[0]
        if task.startswith("Task: propose new hypotheses"):
            hypotheses = []
            for i in range(self.max_ideas):
                self.proposed += 1
                tag = f"hyp-{self.proposed}"
                hypotheses.append(
                    {
                        "basis_example": "Ex0",
                        "hypothesis": f"Hypothesis {tag}: pressure framed a new way",
                        "change_type": "structural" if i % 2 == 0 else "topical",
                        "concrete_example": self.query(tag, True),
                    }
                )
            return json.dumps({"hypotheses": hypotheses})
        found = re.search(r"hyp-\d+", text)
        tag = found.group(0) if found else "hyp-?"
        if task.startswith("Task: imagine realistic scenarios"):
            count = int(search(r"Describe (\d+) different", text).group(1))
            return json.dumps({"scenarios": [f"scenario {i} for {tag}" for i in range(count)]})
        if task.startswith("Task: write test queries"):
            numbered = re.search(r"scenario (\d+)", text.split("The scenario to turn into queries:")[1])
            scenario = numbered.group(1) if numbered else "h"  # "h": the hypothesis stands in for a scenario
            count = int(search(r"Write (\d+) different queries", text).group(1))
            digest = _stable(str(messages) + (salt or ""))  # a sampled writer: another draw, other queries
            return json.dumps(
                {"queries": [self.payload(f"{tag} s{scenario} {(digest + v) % 1000}", True) for v in range(count)]}
            )
        if task.startswith("Task: write a harmless look-alike"):
            query = re.search(r"hyp-\d+(?: s\d+ \d+)?", text)
            drawn = f" {salt}" if salt else ""  # a fresh sample is another look-alike
            return json.dumps(self.payload(f"{query.group(0) if query else tag} benign{drawn}", False))
        if task.startswith("Task: choose held-out hypotheses"):
            candidates = search(r"The candidates are: (.*)\.", text).group(1).split(", ")
            count = int(search(r"Choose exactly (\d+)", text).group(1))
            return json.dumps({"reasoning": "they differ", "ood_hypotheses": candidates[-count:]})
        if "<benign_prompt>" in text:  # a config's own benign prompt asking for tags
            query = re.search(r"hyp-\d+(?: s\d+ \d+)?", text)
            specific = query.group(0) if query else tag
            return (
                f"Here you go: <benign_prompt>please explain {specific} benign facts about {_topic(specific)}"
                "</benign_prompt>"
            )
        raise AssertionError(f"unscripted generator prompt: {task!r}")
