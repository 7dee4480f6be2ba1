"""`a3 meta run` in a process of its own, for the kill test: scripted models that answer after a
short latency and log every paid call, the hashing embedder, small batches so there are many
waves and checkpoints to be killed between.

    python -m tests.helpers.chaos_meta_worker WORK_DIR RUN_TREE METHOD
"""

import asyncio
import sys
from pathlib import Path

from a3.meta.categorize.stage import CategorizeOptions
from a3.meta.cluster import ClusterOptions
from a3.meta.pipeline import MetaRunOptions, run_meta
from a3.meta.select import SelectOptions
from a3.meta.synthetic.sample_data import AGENT
from a3.store import RunDir
from a3.testing import ScriptedClient
from a3.testing.embedders import hashing_embedder
from a3.testing.scripted_meta import MetaWorld
from tests.helpers.chaos import billed

CONCURRENCY = 4


def main(work: str, tree: str, method: str) -> None:
    run = RunDir(work)
    world = MetaWorld()
    respond = billed(world, work)
    # The latency, not the CPU, sets how long a run takes (about 8 s), so the kills land mid-run on any machine.
    client = ScriptedClient(respond, latency=0.25, run_dir=run, concurrency=CONCURRENCY)
    options = MetaRunOptions(
        select=SelectOptions(agent=AGENT, base_dir=Path(tree)),
        categorize=CategorizeOptions(
            method=method, initial_batch_size=4, iterative_batch_size=2, parallel_batches=2, merge_every=1
        ),
        cluster=ClusterOptions(max_categories_per_call=3),
    )
    asyncio.run(run_meta(options, run, client, embedder=hashing_embedder()))


if __name__ == "__main__":
    main(*sys.argv[1:4])
