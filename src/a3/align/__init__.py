"""The alignment pipeline, read bottom-up like the tree: shared records, roles and metrics;
``measure`` (the judge, evaluation, capability, the choice among candidates); ``generate``
(stage 1); ``split``; ``expected``; ``finetune`` (stage 4); ``compare`` (baselines and
defences); ``pipeline`` on top. Paths in a run directory: ``layout``."""

from a3.lazy import lazy_exports

# Each public name and the module it lives in: a submodule (the trainer under accelerate, say)
# imports only what it needs.
_HOMES = {
    "DspyOptions": "a3.align.compare.dspy",
    "EvaluateOptions": "a3.align.compare.any_model",
    "EvaluationResult": "a3.align.compare.any_model",
    "ExpectedCounts": "a3.align.expected",
    "ExpectedOptions": "a3.align.expected",
    "FinetuneOptions": "a3.align.finetune.stage",
    "FinetuneSummary": "a3.align.finetune.records",
    "FixedMixOptions": "a3.align.compare.fixed_mix",
    "FixedMixResult": "a3.align.compare.fixed_mix",
    "GenerateOptions": "a3.align.generate.stage",
    "GenerationSummary": "a3.align.generate.stage",
    "Hypothesis": "a3.align.records",
    "IclOptions": "a3.align.compare.icl",
    "IclSummary": "a3.align.compare.icl",
    "IterationRecord": "a3.align.finetune.records",
    "JudgeSpec": "a3.align.roles",
    "Judge": "a3.align.measure.judge",
    "Metrics": "a3.align.metrics",
    "PipelineResults": "a3.align.pipeline",
    "Query": "a3.align.records",
    "Rate": "a3.align.metrics",
    "Rates": "a3.align.metrics",
    "Roles": "a3.align.roles",
    "RunFiles": "a3.align.run_files",
    "RunOptions": "a3.align.pipeline",
    "STAGES": "a3.align.pipeline",
    "SplitAssignment": "a3.align.split",
    "Subject": "a3.align.measure.evaluation",
    "TargetResponse": "a3.align.records",
    "Verdict": "a3.align.records",
    "client_for": "a3.align.runs",
    "defend_dspy": "a3.align.compare.dspy",
    "defend_icl": "a3.align.compare.icl",
    "evaluate_any": "a3.align.compare.any_model",
    "evaluate_model": "a3.align.measure.evaluation",
    "open_run": "a3.align.runs",
    "resolve_roles": "a3.align.roles",
    "run_expected": "a3.align.expected",
    "run_finetune": "a3.align.finetune.stage",
    "run_fixed_mix": "a3.align.compare.fixed_mix",
    "run_generate": "a3.align.generate.stage",
    "run_pipeline": "a3.align.pipeline",
    "run_split": "a3.align.split",
    "tally": "a3.align.metrics",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _HOMES)
