"""Stages 1-3 with scripted models, for tests of the stages that come after them."""

import json

from a3.align.expected import run_expected
from a3.align.generate.stage import GenerateOptions, run_generate
from a3.align.split import run_split
from a3.config import A3Config
from a3.testing.scripted_world import scripted_config
from tests.paths import CONFIGS


def make_config(name="nesting-jailbreak.json", **kw) -> A3Config:
    return A3Config.model_validate(scripted_config(json.loads((CONFIGS / name).read_text()), **kw))


async def run_all(config, run, client, rounds=3):
    """Stages 1-3 in order; their results."""
    summary = await run_generate(config, run, client, GenerateOptions(num_rounds=rounds))
    baseline = await run_split(config, run, client)
    counts = await run_expected(config, run, client)
    return summary, baseline, counts
