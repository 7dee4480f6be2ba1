"""Stage 1: hypotheses about what triggers the unsafe behaviour, harmful queries and benign
look-alikes for each, and the target measured on them."""

from a3.align.generate.stage import GenerateOptions, GenerationData, GenerationSummary, HypothesisSummary, run_generate

__all__ = ["GenerateOptions", "GenerationData", "GenerationSummary", "HypothesisSummary", "run_generate"]
