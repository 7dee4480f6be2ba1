"""The alignment pipeline, read bottom-up like the tree: shared records, roles and metrics;
``measure`` (the judge, evaluation, capability, the choice among candidates); ``generate``
(stage 1); ``split``; ``expected``; ``finetune`` (stage 4); ``compare`` (baselines and
defences); ``pipeline`` on top. Paths in a run directory: ``layout``."""

from a3.align.compare.any_model import EvaluateOptions, EvaluationResult, evaluate_any
from a3.align.compare.dspy import DspyOptions, defend_dspy
from a3.align.compare.fixed_mix import FixedMixOptions, FixedMixResult, run_fixed_mix
from a3.align.compare.icl import IclOptions, IclSummary, defend_icl
from a3.align.expected import ExpectedCounts, ExpectedOptions, run_expected
from a3.align.finetune.records import FinetuneSummary, IterationRecord
from a3.align.finetune.stage import FinetuneOptions, run_finetune
from a3.align.generate.stage import GenerateOptions, GenerationSummary, run_generate
from a3.align.measure.evaluation import Subject, evaluate_model
from a3.align.measure.judge import Judge
from a3.align.metrics import Metrics, Rate, Rates, tally
from a3.align.pipeline import STAGES, PipelineResults, RunOptions, run_pipeline
from a3.align.records import Hypothesis, Query, TargetResponse, Verdict
from a3.align.runs import client_for, open_run
from a3.align.split import SplitAssignment, run_split

__all__ = [
    "STAGES",
    "DspyOptions",
    "EvaluateOptions",
    "EvaluationResult",
    "ExpectedCounts",
    "ExpectedOptions",
    "FinetuneOptions",
    "FinetuneSummary",
    "FixedMixOptions",
    "FixedMixResult",
    "GenerateOptions",
    "GenerationSummary",
    "Hypothesis",
    "IclOptions",
    "IclSummary",
    "IterationRecord",
    "Judge",
    "Metrics",
    "PipelineResults",
    "Query",
    "Rate",
    "Rates",
    "RunOptions",
    "SplitAssignment",
    "Subject",
    "TargetResponse",
    "Verdict",
    "client_for",
    "defend_dspy",
    "defend_icl",
    "evaluate_any",
    "evaluate_model",
    "open_run",
    "run_expected",
    "run_finetune",
    "run_fixed_mix",
    "run_generate",
    "run_pipeline",
    "run_split",
    "tally",
]
