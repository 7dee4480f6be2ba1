"""The pipeline's own stage: on-policy general data from the target alone."""

from a3.align.pipeline import general_stage
from a3.store import RunDir
from a3.testing import ScriptedClient
from a3.testing.scripted_world import TARGET
from tests.helpers.align_runs import make_config


async def test_general_data_needs_only_the_target(tmp_path):
    """The stage calls the target only, so a judge this machine cannot reach does not stop it."""
    config = make_config()
    unreachable = config.judge_model.model_copy(update={"model_name": "mystery-7b"})
    config = config.model_copy(update={"judge_model": unreachable})
    run = RunDir(tmp_path / "run")
    client = ScriptedClient(lambda messages, call: f"an answer to {messages[-1].content}", run_dir=run)
    summary = await general_stage(config, run, client, num_samples=3)
    assert summary is not None and summary.written == 3
    assert {call.model for _, call in client.calls} == {TARGET}
