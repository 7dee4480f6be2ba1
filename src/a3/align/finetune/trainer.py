"""LoRA supervised finetuning with trl's SFTTrainer and peft.

Each example is stored as a conversational prompt-completion pair (the conversation, then the
target response), so trl computes the loss on the response tokens only, whatever the model's
chat template. LoRA goes on every attention and MLP projection. One ``TrainJob`` is a JSON file,
so the same function runs in-process (CPU, one GPU) or under ``accelerate launch`` on several
GPUs (``python -m a3.align.finetune.train_job JOB.json``).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from a3.align.finetune.mixture import TrainingExample
from a3.store import atomic_write_json

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RESULT_FILE = "train_result.json"


class TrainJob(BaseModel):
    base_model: str  # a folder (or hub name when online)
    data_file: str  # JSONL of {"prompt": [...], "completion": [...]}
    output_dir: str
    lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    learning_rate: float = 1e-5
    num_epochs: int = 1
    batch_size: int = 2
    gradient_accumulation_steps: int = 4
    max_length: int = 2048
    seed: int = 42


class TrainResult(BaseModel):
    output_dir: str  # the adapter (LoRA) or the full model
    train_loss: float | None
    steps: int
    examples: int
    train_tokens: int  # tokens seen (prompt + completion, all epochs)
    seconds: float
    tokens_per_s: float
    device: str


def write_training_data(examples: list[TrainingExample], path: Path) -> None:
    """The examples as prompt-completion pairs, one JSON object per line (written atomically)."""
    from a3.store import atomic_write_text

    lines = [json.dumps({"prompt": e.messages[:-1], "completion": e.messages[-1:], "source": e.source,
                         "hypothesis_id": e.hypothesis_id}, ensure_ascii=False) for e in examples]
    atomic_write_text(path, "\n".join(lines) + "\n")


def train(job: TrainJob) -> TrainResult:
    """Train and save; a finished job's result file is returned as is (nothing re-trained)."""
    output = Path(job.output_dir)
    done = output / RESULT_FILE
    if done.exists():
        return TrainResult.model_validate_json(done.read_text())
    import torch
    from datasets import disable_progress_bars, load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from transformers.utils import logging as transformers_logging
    from trl import SFTConfig, SFTTrainer

    disable_progress_bars()  # per-step dataset bars; the stage's own progress bar covers the job
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)  # raised inside trl
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(job.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(job.base_model, dtype=torch.bfloat16 if bf16 else torch.float32)
    dataset = load_dataset("json", data_files=job.data_file, split="train").select_columns(["prompt", "completion"])
    args = SFTConfig(
        output_dir=str(output / "checkpoints"),
        num_train_epochs=job.num_epochs,
        per_device_train_batch_size=job.batch_size,
        gradient_accumulation_steps=job.gradient_accumulation_steps,
        learning_rate=job.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.1,  # a fraction below 1 is a share of the steps
        max_grad_norm=1.0,
        max_length=job.max_length,
        completion_only_loss=True,
        bf16=bf16,
        use_cpu=not cuda,
        activation_checkpointing=cuda,  # saves GPU memory; on the CPU it only costs time
        activation_checkpointing_kwargs={"use_reentrant": False} if cuda else None,
        save_strategy="no",
        logging_steps=1,
        log_level="warning",
        disable_tqdm=True,
        report_to="none",
        seed=job.seed,
        data_seed=job.seed,
        dataloader_num_workers=0,
    )
    peft_config = _lora_config(job, model) if job.lora else None
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config)
    trainer.remove_callback(PrinterCallback)  # A3 reports progress itself; per-step dicts would flood the console
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"]) * job.num_epochs
    started = time.perf_counter()
    outcome = trainer.train()
    seconds = time.perf_counter() - started
    if trainer.accelerator.is_main_process:
        trainer.model.save_pretrained(output)
        tokenizer.save_pretrained(output)
    result = TrainResult(
        output_dir=str(output), train_loss=outcome.training_loss, steps=outcome.global_step, examples=len(dataset),
        train_tokens=tokens, seconds=round(seconds, 3), tokens_per_s=round(tokens / seconds, 1) if seconds else 0.0,
        device="cuda" if cuda else "cpu",
    )
    if trainer.accelerator.is_main_process:
        atomic_write_json(done, result.model_dump())
    return result


def _lora_config(job: TrainJob, model: Any) -> Any:
    from peft import LoraConfig

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS if t in present] or "all-linear"
    return LoraConfig(r=job.lora_r, lora_alpha=job.lora_alpha, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                      target_modules=targets)
