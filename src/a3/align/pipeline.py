"""``a3 run``: stages 1-4 in order, each skipped when its manifest says it is done.

Stages: generate, split, expected, general (on-policy general data from the target, only when the
config names no general-data file), finetune. ``skip`` leaves stages out, ``start``/``stop``
bound the range; a stage whose predecessor is not done stops with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from a3.align.expected import ExpectedOptions, expected
from a3.align.finetune.general_data import GeneralDataOptions, generate_general_data
from a3.align.finetune.stage import GENERAL_OUTPUT, FinetuneOptions, finetune
from a3.align.generate import GenerateOptions, generate
from a3.align.models import target_call_config
from a3.align.split import split
from a3.config import A3Config
from a3.errors import UserInputError
from a3.llm import LLMClient
from a3.progress import Progress, SilentProgress
from a3.store import RunDir

STAGES = ("generate", "split", "expected", "general", "finetune")
GENERAL_STAGE = "general"


@dataclass(frozen=True)
class RunOptions:
    skip: frozenset[str] = frozenset()
    start: str | None = None
    stop: str | None = None
    generate: GenerateOptions = GenerateOptions()
    expected: ExpectedOptions = ExpectedOptions()
    finetune: FinetuneOptions = FinetuneOptions()
    general_samples: int = 5000
    split_model: str | None = None


def selected_stages(options: RunOptions) -> list[str]:
    for name, value in (("--skip", options.skip), ("--from", {options.start} - {None}), ("--until", {options.stop} - {None})):
        unknown = sorted(set(value) - set(STAGES))
        if unknown:
            raise UserInputError(f"{name}: unknown stage(s) {unknown}; stages are {', '.join(STAGES)}")
    first = STAGES.index(options.start) if options.start else 0
    last = STAGES.index(options.stop) if options.stop else len(STAGES) - 1
    if first > last:
        raise UserInputError(f"--from {options.start} comes after --until {options.stop}")
    return [s for s in STAGES[first:last + 1] if s not in options.skip]


async def run_pipeline(config: A3Config, run: RunDir, client: LLMClient, options: RunOptions = RunOptions(),
                       progress: Progress | None = None) -> dict[str, Any]:
    progress = progress or SilentProgress()
    results: dict[str, Any] = {}
    for stage in selected_stages(options):
        if stage == "generate":
            results[stage] = await generate(config, run, client, options.generate, progress)
        elif stage == "split":
            results[stage] = await split(config, run, client, model=options.split_model)
        elif stage == "expected":
            results[stage] = await expected(config, run, client, options.expected, progress)
        elif stage == GENERAL_STAGE:
            results[stage] = await general_stage(config, run, client, options.general_samples, progress)
        else:
            results[stage] = await finetune(config, run, client, options.finetune, progress)
    return results


async def general_stage(config: A3Config, run: RunDir, client: LLMClient, num_samples: int,
                        progress: Progress | None = None) -> dict[str, Any]:
    """The target's own answers to the bundled general prompts, unless the config names a file."""
    if config.paths.dolci_responses_file:
        return {"skipped": f"paths.dolci_responses_file is set ({config.paths.dolci_responses_file})"}
    target = target_call_config(config.target_model)
    stage = run.stage(GENERAL_STAGE, inputs={"target": target.model_dump(), "num_samples": num_samples},
                      models={"target": target.model})
    output = run.path / GENERAL_OUTPUT
    with stage:
        if stage.skipped:
            return {"output": str(output), "skipped": "done before"}
        options = GeneralDataOptions(output=output, num_samples=num_samples, resume=True)
        summary = await generate_general_data(client, target, options, progress)
        stage.add_output(GENERAL_OUTPUT)
    return summary
