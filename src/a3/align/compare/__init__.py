"""Other ways to the same goal, measured on the same sets: any model as it is, the fixed-ratio
SFT mix, the in-context defence and the DSPy prompt defence."""

from a3.align.compare.any_model import EvaluateOptions, EvaluationResult, evaluate_any
from a3.align.compare.dspy import DspyOptions, defend_dspy
from a3.align.compare.fixed_mix import FixedMixOptions, FixedMixResult, run_fixed_mix
from a3.align.compare.icl import IclOptions, IclSummary, defend_icl

__all__ = [
    "DspyOptions",
    "EvaluateOptions",
    "EvaluationResult",
    "FixedMixOptions",
    "FixedMixResult",
    "IclOptions",
    "IclSummary",
    "defend_dspy",
    "defend_icl",
    "evaluate_any",
    "run_fixed_mix",
]
