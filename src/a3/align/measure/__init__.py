"""Measuring models: the LLM judge, SFR/FPR over query sets, capability benchmarks, the choice
among candidates, and serving a trained adapter for measurement."""

from a3.align.measure.capability import BenchmarkScore, CapabilityScores, evaluate_capability
from a3.align.measure.evaluation import Subject, evaluate_model
from a3.align.measure.judge import Judge, sample_target
from a3.align.measure.judge_validation import JudgeValidation, validate_judge
from a3.align.measure.selection import Candidate, Selection, choose, pareto_front
from a3.align.measure.serving import base_weights, served_model

__all__ = [
    "BenchmarkScore",
    "Candidate",
    "CapabilityScores",
    "Judge",
    "JudgeValidation",
    "Selection",
    "Subject",
    "base_weights",
    "choose",
    "evaluate_capability",
    "evaluate_model",
    "pareto_front",
    "sample_target",
    "served_model",
    "validate_judge",
]
