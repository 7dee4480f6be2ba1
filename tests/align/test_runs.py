"""Replicated runs: a --seed reaches every seeded part of the config and stays with its run."""

import json

import pytest

from a3.align import layout
from a3.align.runs import open_run, replication_seed
from a3.config import A3Config, load_config
from a3.errors import UserInputError
from a3.store import RunDir
from tests.paths import CONFIGS


def test_a_replication_seed_sets_the_generator_split_and_finetuning_seeds_and_survives_a_round_trip():
    config = load_config(CONFIGS / "demo.yaml")
    replicated = config.replicated(7)
    assert (
        replicated.replication_seed,
        replicated.hypothesis_generation.seed,
        replicated.splits.seed,
        replicated.finetune.seed,
    ) == (7, 7, 7, 7)
    assert config.splits.seed == 42 and config.hypothesis_generation.seed is None  # the original is untouched
    again = A3Config.model_validate(json.loads(replicated.model_dump_json()))
    assert again == replicated


def test_later_commands_keep_the_seed_a_run_was_made_with_and_refuse_another(tmp_path):
    config = load_config(CONFIGS / "demo.yaml")
    run_dir = tmp_path / "run"
    assert replication_seed(config, run_dir, 3) == 3  # a new run takes the seed asked for
    open_run(config.replicated(3), run_dir)
    assert replication_seed(config, run_dir, None) == 3  # a later command without --seed keeps it
    with pytest.raises(UserInputError, match="made with --seed 3, not --seed 4"):
        replication_seed(config, run_dir, 4)

    plain = tmp_path / "plain"
    open_run(config, plain)
    with RunDir(plain).stage("generate", inputs={}):  # a stage has run under the config's own seeds
        pass
    with pytest.raises(UserInputError, match="made with no --seed"):
        replication_seed(config, plain, 5)
    assert json.loads((plain / layout.CONFIG).read_text())["replication_seed"] is None
