"""Stage 4: the finetuning agent, its training data, LoRA training and adapter serving."""
