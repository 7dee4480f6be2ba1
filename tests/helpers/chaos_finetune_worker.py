"""Stages 1-4 with on-policy general data, then the in-context defence, in a process of their own,
for the kill test: the scripted world, two finetuning iterations of the tiny model built in code
(real LoRA training, real generations), the scripted agent and judge, every paid call logged.

    python -m tests.helpers.chaos_finetune_worker RUN_DIR TINY_MODEL_DIR
"""

import asyncio
import sys
from pathlib import Path

from a3.align.compare.icl import IclOptions, defend_icl
from a3.align.finetune.stage import FinetuneOptions
from a3.align.generate.stage import GenerateOptions
from a3.align.pipeline import RunOptions, run_pipeline
from a3.config import A3Config
from a3.store import RunDir
from a3.testing import ScriptedClient
from tests.helpers.chaos import billed
from tests.helpers.chaos_align_worker import StatelessWorld
from tests.helpers.finetune_runs import Agent, finetune_config, make_script

CONCURRENCY = 4


def main(run_path: str, tiny: str) -> None:
    run = RunDir(run_path)
    Path(run_path).parent.mkdir(parents=True, exist_ok=True)  # the config's general-data file goes beside the run
    data = finetune_config(Path(run_path).parent, Path(tiny), iterations=2).model_dump(mode="json")
    data["paths"]["dolci_responses_file"] = None  # the general stage makes it, on policy
    config = A3Config.model_validate(data)
    respond = billed(make_script(StatelessWorld(conversation=False), Agent()), run_path)
    client = ScriptedClient(respond, latency=0.02, run_dir=run, concurrency=CONCURRENCY, real=("local/",))
    options = RunOptions(
        generate=GenerateOptions(num_rounds=3), general_samples=10, finetune=FinetuneOptions(use_vllm=False)
    )

    async def stages() -> None:
        await run_pipeline(config, run, client, options)
        await defend_icl(
            config, run, client, IclOptions(selection_method="random", num_iterations=2, num_icl_examples=3)
        )

    asyncio.run(stages())


if __name__ == "__main__":
    main(*sys.argv[1:3])
