"""Turning a hypothesis into queries: scenario ideation, query writing, benign counterparts."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model

from a3.align.conversation import describe_behavior, render
from a3.align.generate.payloads import format_instructions, payload_json, payload_messages, payload_schema
from a3.align.generate.settings import GenerationSettings
from a3.llm import CallConfig, LLMClient
from a3.llm.structured import extract_json
from a3.llm.types import Message
from a3.prompts import load_prompt

_BENIGN_TAG = re.compile(r"<benign_prompt>(.*?)</benign_prompt>", re.DOTALL)


# A scenario is a few sentences; a longer one (sampled, the 0.5B model looped inside a scenario) is
# refused by validation and the reply asked for again.
Scenario = Annotated[str, Field(min_length=1, max_length=400)]


class ScenarioList(BaseModel):
    scenarios: list[Scenario] = Field(min_length=1)


def scenario_schema(count: int) -> type[ScenarioList]:
    class AtLeast(ScenarioList):
        scenarios: list[Scenario] = Field(min_length=count)

    AtLeast.__name__ = "ScenarioList"
    return AtLeast


class QueryWriter:
    """The LLM calls that write stage 1's queries, sharing its conversation format and generator model."""

    def __init__(self, settings: GenerationSettings, client: LLMClient, generator: CallConfig) -> None:
        self.client = client
        self.generator = generator
        self.fmt = settings.conversation_format
        self.behavior = describe_behavior(settings.attack)
        self.benign_prompt = settings.data_generation.benign_generation_prompt
        data = settings.data_generation
        self.mask = data.look_alike_mask
        self.topic = re.compile(data.topic_regex, re.IGNORECASE) if data.topic_regex else None

    def _show(self, messages: list[Message]) -> str:
        return json.dumps(payload_json(messages, self.fmt), indent=1, ensure_ascii=False)

    async def ideate(self, hypothesis: str, basis: list[Message], count: int) -> list[str]:
        prompt = load_prompt("scenario_ideation")
        text = prompt.render(
            behavior=self.behavior, hypothesis=hypothesis, basis_query=self._show(basis), num_scenarios=count
        )
        completion = await self.client.generate(
            text, config=self.generator, schema=scenario_schema(count), prompt_version=prompt.version
        )
        return [s.strip() for s in completion.parsed.scenarios[:count]]

    async def write(
        self, hypothesis: str, basis: list[Message], scenario: str, count: int, draw: int = 0
    ) -> list[list[Message]]:
        """``count`` queries for one scenario, written together so that they differ (sampled one by
        one, a small model writes the same query again and again). A ``draw`` above 0 is a fresh
        sample for a scenario met again: the same prompt would otherwise give the same queries (the
        call cache, and the engine's seed drawn from the prompt)."""
        prompt = load_prompt("query_writer")
        text = prompt.render(
            behavior=self.behavior,
            hypothesis=hypothesis,
            basis_query=self._show(basis),
            scenario=scenario,
            count=count,
            format_instructions=format_instructions(self.fmt),
        )
        payloads: Any = list.__class_getitem__(payload_schema(self.fmt))  # a type built at run time: list[payload]
        schema = create_model("Queries", queries=(payloads, Field(min_length=count, max_length=count)))
        config = self.generator if draw == 0 else self.generator.model_copy(update={"cache_salt": f"draw {draw}"})
        completion = await self.client.generate(text, config=config, schema=schema, prompt_version=prompt.version)
        return [payload_messages(payload, self.fmt) for payload in completion.parsed.queries]

    async def benign(self, harmful: list[Message], attempt: int = 0) -> list[Message]:
        """A harmless look-alike of ``harmful``; each ``attempt`` draws a fresh sample. With
        ``data_generation.look_alike_mask`` the writer is shown ``harmful`` with the topic's words masked."""
        harmful = self._masked(harmful)
        override = self.benign_prompt
        if override is None:
            prompt = load_prompt("benign_rewrite")
            text = prompt.render(
                behavior=self.behavior, query=self._show(harmful), format_instructions=format_instructions(self.fmt)
            )
            version = prompt.version
        else:
            shown = render(harmful) if self.fmt.output_format == "prompt" else self._show(harmful)
            text = override.format(prompt=shown)
            if "<benign_prompt>" not in override:
                text += "\n\n" + format_instructions(self.fmt) + " Reply with that one JSON object and nothing else."
            version = "config:benign_generation_prompt"
        config = (
            self.generator
            if attempt == 0
            else self.generator.model_copy(update={"cache_salt": f"look-alike attempt {attempt}"})
        )
        completion = await self.client.generate(
            text, config=config, schema=payload_schema(self.fmt), extract=self._extract_benign, prompt_version=version
        )
        return payload_messages(completion.parsed, self.fmt)

    def _masked(self, messages: list[Message]) -> list[Message]:
        if self.mask is None or self.topic is None:
            return messages
        mask, topic = self.mask, self.topic
        # The turns the look-alike is written from; a system prompt is the deployment's, never rewritten.
        return [
            m if m.role == "system" else m.model_copy(update={"content": topic.sub(lambda _: mask, m.content)})
            for m in messages
        ]

    def _extract_benign(self, text: str) -> Any:
        """The rewrite as JSON, or inside <benign_prompt> tags (the original configs' convention).
        A reply with neither is an error that gets re-asked, never used as the prompt itself."""
        tagged = _BENIGN_TAG.search(text)
        if tagged is None:
            return extract_json(text)
        inner = tagged.group(1).strip()
        if self.fmt.output_format == "prompt":
            try:
                data = json.loads(inner)
                if isinstance(data, dict) and "prompt" in data:
                    return data
            except json.JSONDecodeError:
                pass
            return {"prompt": inner}
        return extract_json(inner)
