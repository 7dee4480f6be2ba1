"""The hard planted benchmark's generator: wordings that share few words, runs rewritten wholesale,
labels read back, and the benchmark layout readable as the public benchmark is."""

import itertools
import json

import numpy as np

from a3.meta.select import SelectOptions, select_runs
from a3.meta.synthetic.planted_hard import MECHANISMS, cue_overlap, jaccard, load_hard_labels, write_hard_planted_runs


def test_the_hard_planted_generator_rewrites_wholesale(tmp_path):
    for mechanism in MECHANISMS:
        assert cue_overlap(mechanism) < 0.1, mechanism.key  # the phrasings of one mechanism share few words
    info = write_hard_planted_runs(tmp_path / "tree", runs=66, seed=3)
    assert {len(v) for v in info.labels.values()} == {1, 2}  # some runs carry two mechanisms
    instructions = {}
    for path in info.runs_dir.rglob("perturbed_query_*.json"):
        if "iterative_refinement" not in str(path):
            data = json.loads(path.read_text())
            instructions[data["id"]] = data["perturbed_instruction"]
    by_mechanism = {}
    for run, keys in info.labels.items():
        by_mechanism.setdefault(keys[0], []).append(instructions[run.split("/")[3]])
    overlaps = [jaccard(a, b) for texts in by_mechanism.values() for a, b in itertools.combinations(texts, 2)]
    assert np.mean(overlaps) < 0.15 and max(len(set(t)) for t in by_mechanism.values()) > 1
    lengths = [len(t.split()) for t in instructions.values()]
    assert max(lengths) > 2 * min(lengths)  # short and long instructions
    assert load_hard_labels(info.labels_path) == info.labels
    bench = write_hard_planted_runs(tmp_path / "bench", runs=22, seed=3, layout="benchmark")
    selected = [
        r
        for agent in bench.agents
        for r in select_runs(SelectOptions(agent=agent, benchmark_dir=bench.runs_dir)).task_list().runs
    ]
    assert sorted(str(r.run) for r in selected) == sorted(bench.labels)  # readable as the public benchmark is
