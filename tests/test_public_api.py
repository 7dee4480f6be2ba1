"""Each package's public API, pinned: a name added, removed or renamed is a visible decision."""

import importlib
import subprocess
import sys

import pytest

PUBLIC = {
    "a3": ["__version__"],
    "a3.align": [
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
        "STAGES",
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
    ],
    "a3.align.measure": [
        "BenchmarkScore",
        "Candidate",
        "CapabilityScores",
        "Judge",
        "JudgeIdentity",
        "JudgeValidation",
        "Selection",
        "Subject",
        "base_weights",
        "check_judge_gate",
        "choose",
        "evaluate_capability",
        "evaluate_model",
        "pareto_front",
        "sample_target",
        "served_model",
        "validate_judge",
    ],
    "a3.align.generate": [
        "GenerateOptions",
        "GenerationData",
        "GenerationSummary",
        "HypothesisSummary",
        "run_generate",
    ],
    "a3.align.compare": [
        "DspyOptions",
        "EvaluateOptions",
        "EvaluationResult",
        "FixedMixOptions",
        "FixedMixResult",
        "IclOptions",
        "IclSummary",
        "compare_planner",
        "defend_dspy",
        "defend_icl",
        "evaluate_any",
        "run_fixed_mix",
    ],
    "a3.align.finetune": ["FinetuneOptions", "FinetuneSummary", "IterationRecord", "SavedDecision", "run_finetune"],
    "a3.config": ["A3Config", "ConfigError", "config_hash", "load_config", "load_model", "read_mapping"],
    "a3.store": [
        "JsonlLog",
        "LedgerEntry",
        "RunDir",
        "Stage",
        "StageManifest",
        "UsageTotals",
        "atomic_write_bytes",
        "atomic_write_json",
        "atomic_write_text",
        "canonical_json",
        "file_sha256",
        "ledger_label",
        "pin_settings",
        "read_json",
        "read_records",
        "sha256_of",
    ],
    "a3.report": [
        "ReportData",
        "Transcripts",
        "collect",
        "collect_transcripts",
        "inspect_view_command",
        "write_report",
    ],
    "a3.meta": [
        "Categorization",
        "CategorizeContext",
        "CategorizeOptions",
        "ClusterOptions",
        "Clusters",
        "LLMSettings",
        "MetaRunOptions",
        "MetaRunResult",
        "RunId",
        "RunRef",
        "SelectOptions",
        "Selection",
        "SummaryOptions",
        "SummaryReport",
        "TaskList",
        "build_report",
        "categorize_runs",
        "cluster_categories",
        "load_task_list",
        "read_categorization",
        "read_clusters",
        "run_meta",
        "select_runs",
        "summarize_runs",
        "task_list_document",
        "write_report",
        "write_sample_data",
        "write_task_list",
    ],
    "a3.llm": [
        "Backend",
        "BackendFactory",
        "BackendReply",
        "Budget",
        "BudgetExceededError",
        "CallConfig",
        "Completion",
        "InspectBackend",
        "LLMCallError",
        "LLMClient",
        "LLMError",
        "Message",
        "PROVIDERS",
        "PriceTable",
        "RetryPolicy",
        "StructuredOutputError",
        "TransientError",
        "UnknownPriceError",
        "Usage",
        "current_stage",
        "default_backend",
        "resolve_model",
    ],
    "a3.llm.local": [
        "AdapterMergeError",
        "CATALOG",
        "DEFAULT_MAX_TOKENS",
        "EngineBackend",
        "LocalModel",
        "LocalModelError",
        "MergedEngineFile",
        "TransformersBackend",
        "cache_root",
        "embedded_model_of",
        "engine_file",
        "gguf_file",
        "hf_folder",
        "is_installed",
        "local_backend",
        "lookup",
        "part_paths",
    ],
    "a3.testing": [
        "MetaWorld",
        "PlantedOracle",
        "ScriptedBackend",
        "ScriptedClient",
        "StubServer",
        "World",
        "build_tiny_gguf",
        "build_tiny_model",
        "hashing_embedder",
        "scripted_config",
        "synthetic_transcripts",
    ],
    "a3.prompts": ["Prompt", "load_prompt"],
    "a3.formatting": ["percent"],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_are_exactly_the_pinned_ones_and_all_resolve(package):
    module = importlib.import_module(package)
    assert sorted(module.__all__) == PUBLIC[package]
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert not missing, f"{package} exports names it cannot give: {missing}"


def test_the_test_doubles_and_the_meta_api_load_nothing_heavy_until_asked():
    probe = (
        "import sys, a3.testing, a3.meta; "
        "print(sorted(m for m in ('torch', 'transformers', 'numpy', 'pytest', 'a3.meta.select') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_the_trainer_loads_without_the_rest_of_a3():
    """On a GPU box with only the training stack, accelerate runs `python -m a3.align.finetune.train_job`."""
    probe = (
        "import sys, a3.align.finetune.train_job; "
        "print(sorted(m for m in ('inspect_ai', 'typer', 'rich', 'openai', 'a3.align.measure', 'a3.llm') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
