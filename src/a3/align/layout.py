"""Where everything lives in an alignment run directory: one place for each path.

Paths are relative to the run directory (``RunDir.path``), as ``RunDir.log`` and stage outputs
take them. The stages that write a file and the report that reads it both import its path from
here, so a file cannot move for one and not the other. The names and folders are the original's
where it had them (``training_split.json``, ``expected_behaviors.json``, ``experiment_log``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SplitName = Literal["train", "validation", "ood"]

CONFIG = "config.json"  # the resolved config the run was opened with

# Files every evaluation folder holds (stage 1 too): one keyed record per query.
RESPONSES = "responses.jsonl"
VERDICTS = "verdicts.jsonl"
SETTINGS = "settings.json"  # what a folder's records were made with; a change is refused
TRANSCRIPTS = "transcripts.eval"  # the same records as an inspect eval log, for `inspect view`

# Stage 1: hypotheses, queries, the target's replies and the judge's verdicts.
GENERATION = "generation"
GENERATION_SETTINGS = f"{GENERATION}/{SETTINGS}"
GENERATION_SUMMARY = f"{GENERATION}/summary.json"
HYPOTHESES = f"{GENERATION}/hypotheses.jsonl"
SCENARIOS = f"{GENERATION}/scenarios.jsonl"
QUERIES = f"{GENERATION}/queries.jsonl"
GENERATION_RESPONSES = f"{GENERATION}/{RESPONSES}"
GENERATION_VERDICTS = f"{GENERATION}/{VERDICTS}"
FAILURES = f"{GENERATION}/failures.jsonl"
GENERATION_TRANSCRIPTS = f"{GENERATION}/{TRANSCRIPTS}"
DROPPED = f"{GENERATION}/dropped.jsonl"  # queries the quality gate refused, with the reason
EXPERIMENT_LOG = "experiment_log.jsonl"
EXPERIMENT_LOG_MARKDOWN = "experiment_log.md"

# Stage 2: the splits, the sealed test set, and the base model's rates on each.
SPLITS = "splits"
SPLIT_FILES: dict[str, str] = {
    "train": f"{SPLITS}/training_split.json",
    "validation": f"{SPLITS}/validation_split.json",
    "ood": f"{SPLITS}/ood_split.json",
}
SEALED_TEST = f"{SPLITS}/sealed/test_split.json"
SPLIT_ASSIGNMENT = f"{SPLITS}/split_assignment.json"
BASELINE = f"{SPLITS}/baseline.json"
TEST_BASELINE = f"{SPLITS}/sealed/test_baseline.json"

# Stage 3 and the on-policy general data.
EXPECTED = "expected/expected_behaviors.json"
GENERAL_RESPONSES = "general/general_responses.json"


def expected_responses(input_hash: str) -> str:
    """Stage 3's per-query log, one per set of inputs so a changed prompt starts a fresh one."""
    return f"expected/responses-{input_hash[:16]}.jsonl"


# Stage 4: the finetuning iterations and the chosen adapter's sealed test.
FINETUNE = "finetune"


def iteration_name(iteration: int) -> str:
    return f"iter-{iteration:02d}"


def iteration_dir(iteration: int, parent: str = FINETUNE) -> str:
    """``finetune/iter-03``; an ICL trial numbers its iterations the same way under its own folder."""
    return f"{parent}/{iteration_name(iteration)}"


@dataclass(frozen=True)
class LoopFolder:
    """Where one run of the finetuning loop keeps its files: stage 4's own (``finetune``), or a
    planner comparison's (``baselines/planners/<planner>``), laid out alike."""

    root: str = FINETUNE

    @property
    def settings(self) -> str:
        return f"{self.root}/{SETTINGS}"

    @property
    def summary(self) -> str:
        return f"{self.root}/summary.json"

    @property
    def iterations(self) -> str:
        return f"{self.root}/iterations.jsonl"

    @property
    def test_results(self) -> str:
        return f"{self.root}/sealed/test_results.json"

    @property
    def test_eval(self) -> str:
        return f"{self.root}/sealed/test_eval"

    @property
    def sealed_capability(self) -> str:
        """The sealed benchmarks' answers: ``chosen`` (the chosen adapter) and ``base`` folders."""
        return f"{self.root}/sealed/capability"

    @property
    def sealed_choice(self) -> str:
        """What the sealed test's results were made for (the chosen iteration, the sealed files)."""
        return f"{self.root}/sealed/chosen.json"

    @property
    def base_again(self) -> str:
        """The base model measured a second time on the sealed test: the instrument's noise floor."""
        return f"{self.root}/sealed/base_again"

    def iteration_dir(self, iteration: int) -> str:
        return iteration_dir(iteration, self.root)

    def served_name(self, iteration: int) -> str:
        """The name an iteration's adapter is served under (``local/<name>``)."""
        prefix = "" if self.root == FINETUNE else self.root.rsplit("/", 1)[-1].replace("+", "-") + "-"
        return prefix + iteration_name(iteration)


STAGE4 = LoopFolder()
FINETUNE_SETTINGS = STAGE4.settings
FINETUNE_SUMMARY = STAGE4.summary
ITERATIONS = STAGE4.iterations
TEST_RESULTS = STAGE4.test_results
TEST_EVAL = STAGE4.test_eval
TEST_BASE_AGAIN = STAGE4.base_again
PLANNERS = "baselines/planners"  # one LoopFolder per planner compared with stage 4's


def planner_folder(planner: str) -> LoopFolder:
    return LoopFolder(f"{PLANNERS}/{planner}")


# The judge checked against labels (`a3 judge validate`).
JUDGE = "judge"
JUDGE_VALIDATION = f"{JUDGE}/validation.json"

# Comparisons: the fixed-ratio baseline, the two prompt defences, any model as it is.
FIXED_MIX = "baselines/fixed-mix"
FIXED_MIX_RESULTS = f"{FIXED_MIX}/results.jsonl"
FIXED_MIX_CONFIGS = f"{FIXED_MIX}/all_configs.json"
ICL = "defences/icl"
ICL_SUMMARY = "summary.json"  # in each trial's folder
DSPY = "defences/dspy"
DSPY_RESULTS = "results.json"  # in each program's folder
DSPY_PROMPT = "optimized_prompt.json"
EVALUATIONS = "evaluations"
EVALUATION_RESULTS = "results.json"  # in each evaluated model's folder
SELECTION = "selection.json"  # an ICL iteration's chosen examples

# The run report.
REPORT = "report"
