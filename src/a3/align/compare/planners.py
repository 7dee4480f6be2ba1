"""Planners compared on the same budget: stage 4's loop run again by another planner.

Stage 4 trains the iterations its configured planner chooses (``finetune.planner``). To know
whether an LLM agent plans better than a classical search, or the two together, the same loop
runs with each other planner on the same data, the same number of iterations and the same
selection rule, in ``baselines/planners/<planner>``; its chosen adapter is measured on the same
sealed test. The report sets every planner's iterations and choice side by side.
"""

from __future__ import annotations

from typing import get_args

from a3.align import layout
from a3.align.finetune.records import FinetuneSummary
from a3.align.finetune.stage import FinetuneOptions, run_loop
from a3.config import A3Config
from a3.config.schema import Planner
from a3.errors import UserInputError
from a3.llm import LLMClient
from a3.progress import Progress
from a3.store import RunDir, read_json

PLANNERS: tuple[str, ...] = get_args(Planner)


def planner_method(planner: str) -> str:
    """How transcripts and the report name the models of a planner comparison."""
    return f"A3 ({planner} planner)"


async def compare_planner(
    config: A3Config,
    run: RunDir,
    client: LLMClient,
    planner: str,
    options: FinetuneOptions = FinetuneOptions(),
    progress: Progress | None = None,
) -> FinetuneSummary:
    """Run the finetuning loop with ``planner`` in its own folder; resumable like stage 4."""
    if planner not in PLANNERS:
        raise UserInputError(f"--planner: {planner!r} is not one of {', '.join(PLANNERS)}")
    if planner == config.finetune.planner:
        raise UserInputError(
            f"--planner: {planner} is the planner stage 4 already uses (finetune.planner); compare another"
        )
    planned = config.model_copy(update={"finetune": config.finetune.model_copy(update={"planner": planner})})
    if options.num_iterations is None:  # the same budget as stage 4 had, when it has run
        stage4 = run.path / layout.FINETUNE_SUMMARY
        if stage4.is_file():
            trained = len(FinetuneSummary.model_validate(read_json(stage4)).iterations)
            options = options.model_copy(update={"num_iterations": trained})
    return await run_loop(
        planned,
        run,
        client,
        options,
        progress,
        layout.planner_folder(planner),
        f"planner-{planner}",
        planner_method(planner),
    )
