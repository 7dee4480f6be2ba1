"""Stages 1-3 (generate, split, expected) in a process of their own, for the kill test: the scripted
world answering after a short latency, every paid call logged.

    python -m tests.helpers.chaos_align_worker RUN_DIR
"""

import asyncio
import re
import sys

from a3.store import RunDir
from a3.testing import ScriptedClient
from a3.testing.scripted_world import World
from tests.helpers.align_runs import make_config, run_all
from tests.helpers.chaos import billed

CONCURRENCY = 4


class StatelessWorld(World):
    """The scripted world with hypothesis numbers read from the prompt (the hypotheses it already
    shows), not counted in memory: a restarted process numbers new hypotheses as the first did."""

    def generator(self, messages, salt=None):
        text = messages[0].content if messages[0].role == "user" else messages[-1].content
        if text.startswith("Task: propose new hypotheses"):
            self.proposed = max((int(n) for n in re.findall(r"hyp-(\d+)", text)), default=0)
        return super().generator(messages, salt)


def main(run_path: str) -> None:
    config = make_config()
    run = RunDir(run_path)
    world = StatelessWorld(conversation=config.conversation_format.output_format == "conversation")
    client = ScriptedClient(billed(world, run_path), latency=0.3, run_dir=run, concurrency=CONCURRENCY)
    asyncio.run(run_all(config, run, client))


if __name__ == "__main__":
    main(sys.argv[1])
