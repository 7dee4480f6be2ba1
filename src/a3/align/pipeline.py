"""``a3 run``: stages 1-4 in order, each skipped when its manifest says it is done.

Stages: generate, split, expected, general (on-policy general data from the target, only when the
config names no general-data file), finetune. ``skip`` leaves stages out, ``start``/``stop``
bound the range; a stage whose predecessor is not done stops with a clear message.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from a3.align import layout
from a3.align.expected import ExpectedCounts, ExpectedOptions, run_expected
from a3.align.finetune.general_data import GeneralDataOptions, GeneralDataResult, generate_general_data
from a3.align.finetune.records import FinetuneSummary
from a3.align.finetune.stage import FinetuneOptions, run_finetune
from a3.align.generate.stage import GenerateOptions, GenerationSummary, run_generate
from a3.align.metrics import Metrics
from a3.align.roles import target_call_config
from a3.align.split import run_split
from a3.config import A3Config
from a3.errors import UserInputError
from a3.llm import LLMClient
from a3.progress import Progress, SilentProgress
from a3.store import RunDir

STAGES = ("generate", "split", "expected", "general", "finetune")
"""The stages of `a3 run`, in the order they run."""
GENERAL_STAGE = "general"


class RunOptions(BaseModel):
    """Options of `a3 run`: which stages run, and each stage's options.

    ``skip``, ``start`` and ``stop`` select stages by name (see ``STAGES``); ``general_samples`` is how many
    general prompts the target answers in the general stage; ``split_model`` overrides the OOD agent's model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skip: frozenset[str] = frozenset()
    start: str | None = None
    stop: str | None = None
    generate: GenerateOptions = GenerateOptions()
    expected: ExpectedOptions = ExpectedOptions()
    finetune: FinetuneOptions = FinetuneOptions()
    general_samples: int = 5000
    split_model: str | None = None


def selected_stages(options: RunOptions) -> list[str]:
    for name, value in (
        ("--skip", options.skip),
        ("--from", set() if options.start is None else {options.start}),
        ("--until", set() if options.stop is None else {options.stop}),
    ):
        unknown = sorted(set(value) - set(STAGES))
        if unknown:
            raise UserInputError(f"{name}: unknown stage(s) {unknown}; stages are {', '.join(STAGES)}")
    first = STAGES.index(options.start) if options.start else 0
    last = STAGES.index(options.stop) if options.stop else len(STAGES) - 1
    if first > last:
        raise UserInputError(f"--from {options.start} comes after --until {options.stop}")
    return [s for s in STAGES[first : last + 1] if s not in options.skip]


class PipelineResults(BaseModel):
    """What each stage that ran returned (None: the stage was not selected, or had nothing to do)."""

    generate: GenerationSummary | None = None
    split: dict[str, Metrics] | None = None
    expected: ExpectedCounts | None = None
    general: GeneralDataResult | None = None
    finetune: FinetuneSummary | None = None


async def run_pipeline(
    config: A3Config,
    run: RunDir,
    client: LLMClient,
    options: RunOptions = RunOptions(),
    progress: Progress | None = None,
) -> PipelineResults:
    """Run the selected stages in order; a finished stage is skipped, so the same call resumes a run."""
    progress = progress or SilentProgress()
    results = PipelineResults()
    for stage in selected_stages(options):
        if stage == "generate":
            results.generate = await run_generate(config, run, client, options.generate, progress)
        elif stage == "split":
            results.split = await run_split(config, run, client, model=options.split_model)
        elif stage == "expected":
            results.expected = await run_expected(config, run, client, options.expected, progress)
        elif stage == GENERAL_STAGE:
            results.general = await general_stage(config, run, client, options.general_samples, progress)
        else:
            results.finetune = await run_finetune(config, run, client, options.finetune, progress)
        client.release_all()  # the next stage loads what it needs: no model stays resident for nothing
    return results


async def general_stage(
    config: A3Config, run: RunDir, client: LLMClient, num_samples: int, progress: Progress | None = None
) -> GeneralDataResult | None:
    """The target's own answers to the bundled general prompts, unless the config names a file
    (then None, as when an earlier run made them)."""
    if config.paths.dolci_responses_file:
        return None
    target = target_call_config(config.target_model)  # the other roles may name models this stage never calls
    stage = run.stage(
        GENERAL_STAGE,
        inputs={"target": target.model_dump(), "num_samples": num_samples},
        models={"target": target.model},
    )
    output = run.path / layout.GENERAL_RESPONSES
    with stage:
        if stage.skipped:
            return None
        options = GeneralDataOptions(output=output, num_samples=num_samples, resume=True)
        summary = await generate_general_data(client, target, options, progress)
        stage.add_output(layout.GENERAL_RESPONSES)
    return summary
