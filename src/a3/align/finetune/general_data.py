"""General instruction data mixed into training so the model keeps its general behaviour.

The file format is the original's "Dolci responses" file: a JSON list (or JSONL) of items, each
with ``messages``, a conversation that ends with the assistant's answer. Items whose messages
carry no text content (function-calling rows) are skipped and counted.

``generate_general_data`` makes such a file on-policy: it drops each source conversation's last
assistant turn and has a model (by default the target itself, as the paper describes) answer
it. The source rows are a seeded random sample, not the first N. Replies are appended to a keyed
log next to the output as they arrive, so ``--resume`` continues after a crash without paying for
any reply twice.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from a3.align.data_files import read_items
from a3.errors import UserInputError
from a3.llm import CallConfig, LLMCallError, LLMClient, Message
from a3.progress import Progress, SilentProgress
from a3.store import JsonlLog, atomic_write_json, sha256_of

BUNDLED_PROMPTS = "general_prompts.jsonl"


@dataclass(frozen=True)
class GeneralDataSet:
    examples: list[list[dict[str, str]]]  # conversations ending with the assistant's answer
    skipped: int  # items without text content


def load_general_data(path: str | Path, field: str = "paths.dolci_responses_file") -> GeneralDataSet:
    items = read_items(Path(path), field, ("data", "responses"))
    examples, skipped = [], 0
    for index, item in enumerate(items, start=1):
        messages = item.get("messages") if isinstance(item, dict) else None
        if not isinstance(messages, list) or not messages:
            raise UserInputError(f"{path}, item {index}: field 'messages' must be a non-empty list")
        if isinstance(item.get("response"), str) and messages[-1].get("role") != "assistant":
            messages = [*messages, {"role": "assistant", "content": item["response"]}]
        if any(not isinstance(m, dict) or not isinstance(m.get("content"), str) for m in messages):
            skipped += 1  # function-calling rows carry no text content
            continue
        if messages[-1].get("role") != "assistant":
            raise UserInputError(f"{path}, item {index}: the conversation must end with the assistant's answer")
        examples.append([{"role": m["role"], "content": m["content"]} for m in messages])
    return GeneralDataSet(examples, skipped)


def bundled_prompts_path() -> Path:
    """A small general-instruction prompt set written for A3 (used when no source is given)."""
    return Path(str(resources.files("a3.data").joinpath(BUNDLED_PROMPTS)))


class GeneralReply(BaseModel):
    """A line of the partial log beside the output, and an item of the output: a source conversation
    ending with the model's answer."""

    id: str  # the prompt's key (see ``_key``)
    messages: list[Message]
    model: str  # the model that answered


class GeneralDataResult(BaseModel):
    output: str
    written: int
    failed: int
    failures: list[str]  # the first 20, each "<prompt key>: <error>"
    model: str
    source: str


class GeneralDataOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Path | None = None  # Dolci-style rows; default: the bundled prompt set
    output: Path = Path("dolci_responses.json")
    num_samples: int = 5000
    max_workers: int = 100
    resume: bool = False
    seed: int = 42


async def generate_general_data(
    client: LLMClient, model: CallConfig, options: GeneralDataOptions, progress: Progress | None = None
) -> GeneralDataResult:
    source = options.source or bundled_prompts_path()
    rows = read_items(source, "--input", ("data", "responses"))
    found = [_prompt_of(row, index, source) for index, row in enumerate(rows, start=1)]
    prompts = [p for p in found if p is not None]
    chosen = sorted(random.Random(options.seed).sample(range(len(prompts)), min(options.num_samples, len(prompts))))
    partial = options.output.with_name(options.output.name + ".partial.jsonl")
    if not options.resume and (options.output.exists() or partial.exists()):
        raise UserInputError(
            f"{options.output} (or its partial log) exists: pass --resume to continue it, or choose another --output"
        )
    log = JsonlLog(partial, GeneralReply)
    task = (progress or SilentProgress()).task("general data: responses", len(chosen))
    task.advance(sum(1 for i in chosen if _key(prompts[i]) in log))
    semaphore = asyncio.Semaphore(options.max_workers)
    failures: list[str] = []

    async def one(messages: list[dict[str, str]]) -> None:
        key = _key(messages)
        if key in log:
            return
        async with semaphore:
            try:
                completion = await client.generate(messages, config=model.model_copy(update={"cache_salt": key}))
            except LLMCallError as exc:
                failures.append(f"{key}: {exc}")
                return
        log.append(
            GeneralReply(
                id=key,
                messages=[
                    *(Message.model_validate(m) for m in messages),
                    Message(role="assistant", content=completion.text),
                ],
                model=model.model,
            )
        )
        task.advance()

    await asyncio.gather(*(one(prompts[i]) for i in chosen))
    items = [log.get(_key(prompts[i])) for i in chosen]
    written = [item for item in items if item is not None]
    atomic_write_json(options.output, [item.model_dump(mode="json") for item in written])
    return GeneralDataResult(
        output=str(options.output),
        written=len(written),
        failed=len(failures),
        failures=failures[:20],
        model=model.model,
        source=str(source),
    )


def _prompt_of(row: Any, index: int, source: Path) -> list[dict[str, str]] | None:
    messages = row.get("messages") if isinstance(row, dict) else None
    if not isinstance(messages, list) or not messages:
        raise UserInputError(f"{source}, row {index}: field 'messages' must be a non-empty list")
    if any(not isinstance(m, dict) or not isinstance(m.get("content"), str) for m in messages):
        return None  # function-calling rows
    if messages[-1].get("role") == "assistant":
        messages = messages[:-1]  # the answer is regenerated
    if not messages or messages[-1].get("role") != "user":
        return None
    return [Message.model_validate({"role": m["role"], "content": m["content"]}).model_dump() for m in messages]


def _key(messages: list[dict[str, str]]) -> str:
    return sha256_of(messages)[:16]
