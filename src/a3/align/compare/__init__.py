"""Other ways to the same goal, measured on the same sets: any model as it is, the fixed-ratio
SFT mix, the in-context defence, the DSPy prompt defence and stage 4 under another planner."""

from a3.lazy import lazy_exports

# Each public name and the module it lives in: a submodule (the trainer under accelerate, say)
# imports only what it needs.
_HOMES = {
    "DspyOptions": "a3.align.compare.dspy",
    "EvaluateOptions": "a3.align.compare.any_model",
    "EvaluationResult": "a3.align.compare.any_model",
    "FixedMixOptions": "a3.align.compare.fixed_mix",
    "FixedMixResult": "a3.align.compare.fixed_mix",
    "IclOptions": "a3.align.compare.icl",
    "IclSummary": "a3.align.compare.icl",
    "compare_planner": "a3.align.compare.planners",
    "defend_dspy": "a3.align.compare.dspy",
    "defend_icl": "a3.align.compare.icl",
    "evaluate_any": "a3.align.compare.any_model",
    "run_fixed_mix": "a3.align.compare.fixed_mix",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _HOMES)
