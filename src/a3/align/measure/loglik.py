"""Multiple-choice scoring by log-likelihood, for targets whose weights are here.

As lm-evaluation-harness scores MMLU-style tasks for base models: each choice is a continuation
of "Question: ...\\nAnswer:", and the model's answer is the choice with the highest
log-probability per character of its text (the harness's acc_norm). A small model that cannot be
relied on to write "ANSWER: B" still ranks answers, so its capability is measured rather than
scored 0 by construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from a3.llm import CallConfig


def weights_of(model: CallConfig) -> tuple[Path, Path | None] | None:
    """The Hugging Face folder (and LoRA adapter) behind a served model string, when the weights
    are on this machine: an embedded ``local/<name>``, a ``local/…`` or ``hf/…`` with
    ``model_path``. None for an API model."""
    args = model.model_args
    adapter = Path(args["adapter_path"]) if args.get("adapter_path") else None
    if model.model.startswith(("local/", "hf/")) and args.get("model_path"):
        return Path(args["model_path"]), adapter
    if model.model.startswith("local/"):
        from a3.llm.local import hf_folder, lookup

        return hf_folder(lookup(model.model.removeprefix("local/"))), adapter
    return None


def choose_by_likelihood(
    folder: Path, adapter: Path | None, questions: list[tuple[str, list[str]]]
) -> list[list[float]]:
    """For each (question, choices): the length-normalised log-likelihood of every choice."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    from a3.llm.local.transformers_backend import inference_dtype
    from a3.progress import hide_checkpointing_deprecation, no_library_bars

    # A3's own progress says what is happening.
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with no_library_bars():
        model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=inference_dtype("auto"))
    if adapter is not None:
        from peft import PeftModel

        hide_checkpointing_deprecation()  # peft reads it while loading the adapter
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    model.eval()
    scores = []
    with torch.inference_mode():
        for question, choices in questions:
            context = tokenizer(f"Question: {question}\nAnswer:", add_special_tokens=False)["input_ids"]
            continuations = [tokenizer(f" {choice}", add_special_tokens=False)["input_ids"] for choice in choices]
            width = len(context) + max(len(c) for c in continuations)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
            ids = torch.full((len(choices), width), pad, dtype=torch.long)
            mask = torch.zeros((len(choices), width), dtype=torch.long)
            for row, continuation in enumerate(continuations):
                sequence = context + continuation
                ids[row, : len(sequence)] = torch.tensor(sequence)
                mask[row, : len(sequence)] = 1
            logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            row_scores = []
            for row, (choice, continuation) in enumerate(zip(choices, continuations, strict=False)):
                positions = range(len(context), len(context) + len(continuation))
                total = sum(float(logprobs[row, p - 1, ids[row, p]]) for p in positions)
                row_scores.append(total / max(1, len(choice)))
            scores.append(row_scores)
    return scores
