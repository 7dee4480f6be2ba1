"""Stages 1-3 (generate, split, expected) in a process of their own, for the kill test: the scripted
world answering after a short latency, every paid call logged.

    python -m tests.helpers.chaos_align_worker RUN_DIR
"""

import asyncio
import json
import re
import sys
from pathlib import Path

from a3.align.expected import expected
from a3.align.generate import GenerateOptions, generate
from a3.align.split import split
from a3.config import A3Config
from a3.llm import ScriptedClient
from a3.store import RunDir
from tests.helpers.chaos import billed
from tests.helpers.scripted_world import World, scripted_config

CONCURRENCY = 4
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "nesting-jailbreak.json"


class StatelessWorld(World):
    """The scripted world with hypothesis numbers read from the prompt (the hypotheses it already
    shows), not counted in memory: a restarted process numbers new hypotheses as the first did."""

    def generator(self, messages):
        text = messages[0].content if messages[0].role == "user" else messages[-1].content
        if text.startswith("Task: propose new hypotheses"):
            self.proposed = max((int(n) for n in re.findall(r"hyp-(\d+)", text)), default=0)
        return super().generator(messages)


def main(run_path: str) -> None:
    config = A3Config.model_validate(scripted_config(json.loads(CONFIG.read_text())))
    run = RunDir(run_path)
    world = StatelessWorld(conversation=config.conversation_format.output_format == "conversation")
    respond = billed(world, run_path)
    client = ScriptedClient(respond, latency=0.3, run_dir=run, concurrency=CONCURRENCY)

    async def stages() -> None:
        await generate(config, run, client, GenerateOptions(num_rounds=3))
        await split(config, run, client)
        await expected(config, run, client)

    asyncio.run(stages())


if __name__ == "__main__":
    main(sys.argv[1])
