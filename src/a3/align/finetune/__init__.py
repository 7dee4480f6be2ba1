"""Stage 4: the finetuning agent, its training data, LoRA training and adapter serving."""

from a3.lazy import lazy_exports

# Each public name and the module it lives in: a submodule (the trainer under accelerate, say)
# imports only what it needs.
_HOMES = {
    "FinetuneOptions": "a3.align.finetune.stage",
    "FinetuneSummary": "a3.align.finetune.records",
    "IterationRecord": "a3.align.finetune.records",
    "SavedDecision": "a3.align.finetune.records",
    "run_finetune": "a3.align.finetune.stage",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _HOMES)
