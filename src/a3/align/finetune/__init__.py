"""Stage 4: the finetuning agent, its training data, LoRA training and adapter serving."""

from a3.align.finetune.records import FinetuneSummary, IterationRecord, SavedDecision
from a3.align.finetune.stage import FinetuneOptions, run_finetune

__all__ = ["FinetuneOptions", "FinetuneSummary", "IterationRecord", "SavedDecision", "run_finetune"]
