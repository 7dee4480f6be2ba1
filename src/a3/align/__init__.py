"""The alignment pipeline: hypotheses and data, splits, expected behaviours, finetuning, defences."""
