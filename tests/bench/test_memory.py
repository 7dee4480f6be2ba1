"""The cost-growth benchmark's configs (bench/memory.py --growth): valid A3 configs with 1x, 2x and 4x
the demo's starting hypotheses, all distinct, none of whose examples already holds the secret."""

import re

import pytest

from a3.align.generate.quality import QualityGate
from a3.config import load_config
from tests.helpers.scripts import load_script
from tests.paths import ROOT


def load_bench():
    return load_script(ROOT / "bench" / "memory.py")


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_growth_configs_scale_the_hypotheses(tmp_path, scale):
    bench = load_bench()
    path = bench.with_hypotheses("configs/demo.yaml", scale, tmp_path / f"growth-x{scale}")
    config = load_config(path)
    demo = load_config(ROOT / "configs" / "demo.yaml")
    hypotheses = config.hypothesis_generation.starting_hypotheses
    demos = demo.hypothesis_generation.starting_hypotheses
    assert len(hypotheses) == scale * len(demos)
    assert len({h.hypothesis for h in hypotheses}) == len(hypotheses)
    assert hypotheses[: len(demos)] == demos
    secret = re.compile(demo.judge_rules.harmful.regex, re.I)
    assert not [h.example for h in hypotheses if secret.search(h.example)]
    # Every example passes stage 1's gate as a harmful query, so each hypothesis keeps its two.
    gate = QualityGate(demo.seed_example.evaluator_prompt, demo.data_generation.topic_regex)
    assert {h.example: gate.reason_to_drop(h.example, "harmful") for h in hypotheses} == {
        h.example: None for h in hypotheses
    }
    assert config.data_generation.num_variations == 1
    assert config.hypothesis_generation.max_variations_per_example == 1


def test_growth_beyond_the_written_hypotheses_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="growth_hypotheses.yaml"):
        load_bench().with_hypotheses("configs/demo.yaml", 5, tmp_path / "growth-x5")
