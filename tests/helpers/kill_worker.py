"""A small stage used by the kill-and-resume test: it is SIGKILLed at random moments and re-run.

Each item costs one model call (the scripted backend appends one line to paid_calls.log per call,
which is what a provider would bill) and one append to items.jsonl. At the end the stage writes
summary.json atomically.
"""

import asyncio
import os
import sys

from pydantic import BaseModel

from a3.llm import CallConfig
from a3.store import RunDir, atomic_write_json
from a3.testing import ScriptedClient


class Item(BaseModel):
    id: int
    text: str


def main(run_path: str, n_items: int) -> None:
    run = RunDir(run_path)
    paid_log = os.path.join(run_path, "paid_calls.log")

    def respond(messages, config):
        fd = os.open(paid_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (messages[-1].content + "\n").encode())
        os.close(fd)
        return "answer to " + messages[-1].content

    client = ScriptedClient(respond, latency=0.05, run_dir=run, concurrency=8)
    items = run.log("items.jsonl", Item)
    config = CallConfig(model="scripted/worker")

    async def one(i: int) -> None:
        completion = await client.generate(f"item {i}", config=config)
        items.append(Item(id=i, text=completion.text))

    with run.stage("work", inputs={"n_items": n_items}) as stage:
        if stage.skipped:
            return
        asyncio.run(_gather([one(i) for i in range(n_items) if i not in items]))
        atomic_write_json(run.path / "summary.json", {"items": len(items)})
        stage.add_output("items.jsonl")
        stage.add_output("summary.json")


async def _gather(coroutines):
    await asyncio.gather(*coroutines)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
