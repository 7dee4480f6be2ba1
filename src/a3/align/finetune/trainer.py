"""LoRA supervised finetuning with trl's SFTTrainer and peft.

Each example is stored as a conversational prompt-completion pair (the conversation, then the
target response), so trl computes the loss on the response tokens only, whatever the model's
chat template. LoRA goes on every attention and MLP projection. One ``TrainJob`` is a JSON file,
so the same function runs in-process (CPU, one GPU) or as N data-parallel processes under
``accelerate launch`` (one per GPU, or gloo on the CPU; see ``train_job``).

``batch_size`` x ``gradient_accumulation_steps`` is the job's global batch, whatever the number
of processes: N processes split it (``split_batch``), so one process and N train on the same
examples per optimizer step and the job's identity does not depend on N.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel

from a3.align.finetune.mixture import TrainingExample
from a3.progress import hide_checkpointing_deprecation
from a3.store import atomic_write_json

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RESULT_FILE = "train_result.json"
LOG_FILE = "train_log.json"  # the per-step loss curve and how the job was spread over processes


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
    world_size: int = 1  # data-parallel processes the trainer saw (its accelerator's, not the launcher's)
    per_device_batch: int | None = None  # micro-batch per process and accumulation steps after ``split_batch``
    accumulation: int | None = None


def split_batch(batch_size: int, accumulation: int, processes: int) -> tuple[int, int]:
    """The per-process micro-batch and accumulation steps that keep the global batch
    ``batch_size x accumulation`` on ``processes`` processes: the accumulation is divided when it
    can be (the micro-batch, hence memory per device, stays as asked), else the largest smaller
    micro-batch that divides it is taken. Raises ValueError when no split keeps it exactly."""
    total = batch_size * accumulation
    for micro in range(batch_size, 0, -1):
        if total % (micro * processes) == 0:
            return micro, total // (micro * processes)
    raise ValueError(
        f"batch size {batch_size} x accumulation {accumulation} = {total} examples per step cannot be "
        f"split evenly over {processes} processes; choose values whose product {processes} divides"
    )


def write_training_data(examples: list[TrainingExample], path: Path) -> None:
    """The examples as prompt-completion pairs, one JSON object per line (written atomically)."""
    from a3.store import atomic_write_text

    lines = [
        json.dumps(
            {
                "prompt": e.messages[:-1],
                "completion": e.messages[-1:],
                "source": e.source,
                "hypothesis_id": e.hypothesis_id,
            },
            ensure_ascii=False,
        )
        for e in examples
    ]
    atomic_write_text(path, "\n".join(lines) + "\n")


def train(job: TrainJob) -> TrainResult:
    """Train and save; a finished job's result file is returned as is (nothing re-trained)."""
    output = Path(job.output_dir)
    done = output / RESULT_FILE
    if done.exists():
        return TrainResult.model_validate_json(done.read_text())
    import torch
    from datasets import Dataset, disable_progress_bars, load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from transformers.utils import logging as transformers_logging
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    disable_progress_bars()  # per-step dataset bars; the stage's own progress bar covers the job
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers
    hide_checkpointing_deprecation()  # trl reads it while training
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(job.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(job.base_model, dtype=torch.bfloat16 if bf16 else torch.float32)
    dataset = load_dataset("json", data_files=job.data_file, split="train").select_columns(["prompt", "completion"])
    launched = int(os.environ.get("WORLD_SIZE", "1"))  # set by the launcher (torchrun) for every process
    micro, accumulation = split_batch(job.batch_size, job.gradient_accumulation_steps, launched)
    args = SFTConfig(
        output_dir=str(output / "checkpoints"),
        num_train_epochs=job.num_epochs,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=accumulation,
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
        ddp_find_unused_parameters=False,  # every LoRA (or full) weight takes part in every forward pass
    )
    peft_config = _lora_config(job, model) if job.lora else None
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config
    )
    trainer.remove_callback(PrinterCallback)  # A3 reports progress itself; per-step dicts would flood the console
    world = trainer.accelerator.num_processes
    if world != launched:  # e.g. a launcher that started one process per node, or a process group not formed
        raise RuntimeError(f"launched as {launched} processes but the trainer runs on {world}")
    tokenized: Dataset = trainer.train_dataset  # SFTTrainer's tokenized copy of ``dataset``
    tokens = sum(len(ids) for ids in tokenized["input_ids"]) * job.num_epochs
    started = time.perf_counter()
    outcome = trainer.train()
    seconds = time.perf_counter() - started
    result = TrainResult(
        output_dir=str(output),
        train_loss=outcome.training_loss,
        steps=outcome.global_step,
        examples=len(dataset),
        train_tokens=tokens,
        seconds=round(seconds, 3),
        tokens_per_s=round(tokens / seconds, 1) if seconds else 0.0,
        device="cuda" if cuda else "cpu",
        world_size=world,
        per_device_batch=micro,
        accumulation=accumulation,
    )
    if trainer.accelerator.is_main_process:
        # The model it was given, in peft's wrapper when training LoRA.
        trained = cast("PreTrainedModel | PeftModel", trainer.model)
        trained.save_pretrained(str(output))
        tokenizer.save_pretrained(output)
        steps = [entry for entry in trainer.state.log_history if "loss" in entry and "step" in entry]
        atomic_write_json(
            output / LOG_FILE,
            {
                "world_size": world,
                "backend": trainer.accelerator.state.backend,
                "per_device_batch": micro,
                "accumulation": accumulation,
                "global_batch": micro * accumulation * world,
                "steps": [{k: entry.get(k) for k in ("step", "loss", "grad_norm", "learning_rate")} for entry in steps],
            },
        )
        atomic_write_json(done, result.model_dump())  # last: its presence means the job is finished
    if trainer.accelerator.num_processes > 1:
        # No process leaves while another still writes or talks to the group (train_job's main
        # then ends each process without the interpreter's teardown; see there).
        trainer.accelerator.wait_for_everyone()
    return result


def _lora_config(job: TrainJob, model: Any) -> Any:
    from peft import LoraConfig

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS if t in present] or "all-linear"
    return LoraConfig(
        r=job.lora_r,
        lora_alpha=job.lora_alpha,
        lora_dropout=0.0,
        bias="none",
        task_type="CAUSAL_LM",
        target_modules=targets,
    )
