"""Measuring models: the LLM judge, SFR/FPR over query sets, capability benchmarks, the choice
among candidates, and serving a trained adapter for measurement."""

from a3.lazy import lazy_exports

# Each public name and the module it lives in: a submodule (the trainer under accelerate, say)
# imports only what it needs.
_HOMES = {
    "BenchmarkScore": "a3.align.measure.capability",
    "Candidate": "a3.align.measure.selection",
    "CapabilityScores": "a3.align.measure.capability",
    "Judge": "a3.align.measure.judge",
    "JudgeIdentity": "a3.align.measure.judge",
    "JudgeValidation": "a3.align.measure.judge_validation",
    "Selection": "a3.align.measure.selection",
    "Subject": "a3.align.measure.evaluation",
    "base_weights": "a3.align.measure.serving",
    "check_judge_gate": "a3.align.measure.judge_validation",
    "choose": "a3.align.measure.selection",
    "evaluate_capability": "a3.align.measure.capability",
    "evaluate_model": "a3.align.measure.evaluation",
    "pareto_front": "a3.align.measure.selection",
    "sample_target": "a3.align.measure.judge",
    "served_model": "a3.align.measure.serving",
    "validate_judge": "a3.align.measure.judge_validation",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _HOMES)
