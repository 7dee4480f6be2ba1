"""Stages 1-3, then the DSPy + GEPA prompt defence, in a process of their own, for the kill test:
every model scripted (DspyWorld over the stateless scripted world), every paid call logged.

    python -m tests.helpers.chaos_dspy_worker RUN_DIR
"""

import asyncio
import sys

from a3.align.compare.dspy import DspyOptions, defend_dspy
from a3.store import RunDir
from a3.testing import ScriptedClient
from tests.helpers.align_runs import make_config, run_all
from tests.helpers.chaos import billed
from tests.helpers.chaos_align_worker import StatelessWorld
from tests.helpers.dspy_world import BUDGET, DspyWorld

CONCURRENCY = 4


def main(run_path: str) -> None:
    config = make_config()
    run = RunDir(run_path)
    world = DspyWorld()
    world.world = StatelessWorld(conversation=False)
    client = ScriptedClient(billed(world, run_path), latency=0.1, run_dir=run, concurrency=CONCURRENCY)

    async def stages() -> None:
        await run_all(config, run, client)
        await defend_dspy(config, run, client, DspyOptions(max_metric_calls=BUDGET, max_train_samples=6))

    asyncio.run(stages())


if __name__ == "__main__":
    main(sys.argv[1])
