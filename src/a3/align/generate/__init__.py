"""Stage 1: hypotheses about what triggers the unsafe behaviour, harmful queries and benign
look-alikes for each, and the target measured on them."""

from a3.lazy import lazy_exports

# Each public name and the module it lives in: a submodule (the trainer under accelerate, say)
# imports only what it needs.
_HOMES = {
    "GenerateOptions": "a3.align.generate.stage",
    "GenerationData": "a3.align.generate.stage",
    "GenerationSummary": "a3.align.generate.stage",
    "HypothesisSummary": "a3.align.generate.stage",
    "run_generate": "a3.align.generate.stage",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _HOMES)
