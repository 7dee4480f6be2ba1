"""The prepared GPU check: proves stage 4's GPU paths and measures them, in one run of a few minutes.

1. Training throughput, the original recipe against the candidate for A3's, on a randomly
   initialised model of Llama-3.1-8B's shape in bf16 with LoRA r 32 / alpha 128 on every
   projection, over the same synthetic examples (200-2,000 tokens, loss on the reply only). The
   original (a3-spec.md §1.9), which A3's trainer still follows on a GPU: micro-batches of 2
   padded to the longest, gradient accumulation 4, non-reentrant gradient checkpointing, AdamW.
   The candidate: padding-free micro-batches (examples packed into one row up to a token budget,
   positions restarting per example, so attention never crosses examples), no checkpointing,
   fused AdamW. Reported: non-padding tokens/s and peak memory of each, their ratio, and how far
   the packed loss is from the padded one on the same examples (exactness). The trainer adopts
   the candidate once these figures show it faster and exact on the GPU.
2. A3's real trainer code path on CUDA: one short job through the job file ``a3 finetune`` writes,
   in-process and under ``accelerate launch --num_processes 1``; the adapter saved, reloaded,
   generating.
3. Adapter evaluation throughput: batched greedy generation, 128 new tokens, with the adapter
   unmerged (peft) and merged into the weights: prompts/s.

    bash bench/gpu_check.sh                # on the GPU machine: installs the wheels taken along, then runs this
    python bench/gpu_check.py --dry-run    # the same code on the CPU with tiny shapes (tests/bench runs it)

Everything goes to one JSON file (``$OUT/gpu_check.json`` when OUT is set, else
bench/results/gpu_check.json, or ``--out``) and is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LLAMA_31_8B = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "rope_theta": 500000.0,
    "max_position_embeddings": 8192,
}
TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 512,
    "max_position_embeddings": 512,
}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class Plan:
    """How big each part of the check is: the GPU's sizes, or tiny ones for the dry run."""

    shape: dict
    examples: int  # training examples, the same for both recipes
    min_tokens: int
    max_tokens: int
    token_budget: int  # A3's recipe: tokens per packed micro-batch
    eval_prompts: int
    prompt_tokens: int
    new_tokens: int


GPU = Plan(
    LLAMA_31_8B,
    examples=96,
    min_tokens=200,
    max_tokens=2000,
    token_budget=8192,
    eval_prompts=64,
    prompt_tokens=256,
    new_tokens=128,
)
DRY = Plan(
    TINY, examples=12, min_tokens=20, max_tokens=200, token_budget=600, eval_prompts=4, prompt_tokens=16, new_tokens=8
)


def main() -> None:
    parser = argparse.ArgumentParser(description="The prepared GPU check (see the module docstring).")
    parser.add_argument("--dry-run", action="store_true", help="the same code on the CPU with tiny shapes")
    parser.add_argument(
        "--out", type=Path, help="the JSON file [default: $OUT/gpu_check.json or bench/results/gpu_check.json]"
    )
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: throughput, job, eval")
    args = parser.parse_args()
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --dry-run for the CPU version")
    plan, device = (DRY, "cpu") if args.dry_run else (GPU, "cuda")
    skip = set(filter(None, args.skip.split(",")))
    report: dict = {
        "dry_run": args.dry_run,
        "device": _device_name(device),
        "python": platform.python_version(),
        "versions": _versions(),
        "plan": asdict(plan),
    }
    started = time.perf_counter()
    for part, run in (
        ("throughput", lambda: throughput(plan, device)),
        ("job", lambda: job_path(device)),
        ("eval", lambda: eval_throughput(plan, device)),
    ):
        if part in skip:
            continue
        t = time.perf_counter()
        try:
            report[part] = run()
        except Exception as exc:  # one part failing must not cost the others' figures
            report[part] = {"error": f"{type(exc).__name__}: {exc}"}
        report[part]["seconds"] = round(time.perf_counter() - t, 1)
        _release(device)
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = (
        args.out
        or (Path(os.environ["OUT"]) if os.environ.get("OUT") else ROOT / "bench" / "results") / "gpu_check.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if any("error" in report[p] for p in ("throughput", "job", "eval") if p in report):
        sys.exit(1)


# -- 1. training throughput --------------------------------------------------------------------


def throughput(plan: Plan, device: str) -> dict:
    import torch

    model = lora_model(random_model(plan.shape, device))
    data = synthetic_examples(plan, seed=0)
    exact = packed_vs_padded_loss(model, data[:4], device)
    results = {"original": _timed(original_recipe, model, data, device, plan, fused=False)}
    while True:  # the candidate's token budget: halved until a micro-batch fits in memory
        try:
            results["candidate"] = {
                **_timed(candidate_recipe, model, data, device, plan, fused=device == "cuda"),
                "token_budget": plan.token_budget,
            }
            break
        except torch.cuda.OutOfMemoryError:
            _release(device)
            if plan.token_budget <= plan.max_tokens:
                raise
            plan = replace(plan, token_budget=plan.token_budget // 2)
    return {
        **results,
        "speedup": round(results["candidate"]["tokens_per_s"] / results["original"]["tokens_per_s"], 2),
        "loss_packed_vs_padded": exact,
        "examples": len(data),
        "goal_speedup": 1.5,
    }


def _timed(recipe, model, data, device: str, plan: Plan, fused: bool) -> dict:  # noqa: ANN001
    import torch

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=fused)
    recipe(model, data[:2], optimizer, device, plan)  # warm-up: kernels chosen, memory pools grown
    _release(device)
    _sync(device)
    start = time.perf_counter()
    tokens = recipe(model, data, optimizer, device, plan)
    _sync(device)
    seconds = time.perf_counter() - start
    return {
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "peak_memory_gb": _peak_gb(device),
    }


def random_model(shape: dict, device: str):  # noqa: ANN201 - a transformers model
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    config = LlamaConfig(**shape, tie_word_embeddings=False, attn_implementation="sdpa")
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    model.config.use_cache = False
    return model


def lora_model(model):  # noqa: ANN001, ANN201
    from peft import LoraConfig, get_peft_model

    return get_peft_model(
        model, LoraConfig(r=32, lora_alpha=128, lora_dropout=0.0, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
    )


def synthetic_examples(plan: Plan, seed: int) -> list[tuple[list[int], int]]:
    """(token ids, prompt length): lengths log-normal around the middle of the range, clipped to it;
    the last 40% of each example is the reply the loss is taken on."""
    rng = random.Random(seed)
    mid = math.sqrt(plan.min_tokens * plan.max_tokens)
    examples = []
    for _ in range(plan.examples):
        n = int(min(plan.max_tokens, max(plan.min_tokens, rng.lognormvariate(math.log(mid), 0.6))))
        ids = [rng.randrange(3, plan.shape["vocab_size"]) for _ in range(n)]
        examples.append((ids, int(n * 0.6)))
    return examples


def _labels(ids: list[int], prompt: int) -> list[int]:
    return [-100] * prompt + ids[prompt:]


def original_recipe(model, data, optimizer, device: str, plan: Plan) -> int:  # noqa: ANN001
    """Micro-batches of 2 padded to the longest, 4 accumulated per step, non-reentrant checkpointing."""
    import torch

    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    tokens = 0
    for step, start in enumerate(range(0, len(data), 2)):
        batch = data[start : start + 2]
        longest = max(len(ids) for ids, _ in batch)
        ids = torch.tensor([ids + [0] * (longest - len(ids)) for ids, _ in batch], device=device)
        mask = torch.tensor([[1] * len(i) + [0] * (longest - len(i)) for i, _ in batch], device=device)
        labels = torch.tensor([_labels(i, p) + [-100] * (longest - len(i)) for i, p in batch], device=device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss / 4
        loss.backward()
        if step % 4 == 3 or start + 2 >= len(data):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        tokens += sum(len(i) for i, _ in batch)
    model.gradient_checkpointing_disable()
    model.disable_input_require_grads()
    return tokens


def packed_batches(data, budget: int) -> list[list[tuple[list[int], int]]]:  # noqa: ANN001
    """Consecutive examples packed until the next one would pass the token budget."""
    batches, current, size = [], [], 0
    for ids, prompt in data:
        if current and size + len(ids) > budget:
            batches.append(current)
            current, size = [], 0
        current.append((ids, prompt))
        size += len(ids)
    return batches + ([current] if current else [])


def packed_inputs(batch, device: str) -> dict:  # noqa: ANN001
    """One row with no padding: positions restart at each example, which is how transformers tells
    packed sequences apart and keeps attention within each."""
    import torch

    ids = [t for i, _ in batch for t in i]
    positions = [p for i, _ in batch for p in range(len(i))]
    labels = [t for i, p in batch for t in ([-100] + _labels(i, p)[1:])]  # no loss across an example boundary
    return {
        "input_ids": torch.tensor([ids], device=device),
        "position_ids": torch.tensor([positions], device=device),
        "labels": torch.tensor([labels], device=device),
    }


def candidate_recipe(model, data, optimizer, device: str, plan: Plan) -> int:  # noqa: ANN001
    """Padding-free packed micro-batches up to the token budget, no checkpointing, one step per
    micro-batch (a micro-batch already holds several examples)."""
    import torch

    tokens = 0
    for batch in packed_batches(data, plan.token_budget):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model(**packed_inputs(batch, device)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += sum(len(i) for i, _ in batch)
    return tokens


def packed_vs_padded_loss(model, data, device: str) -> dict:  # noqa: ANN001
    """The loss over the same examples, packed in one row and padded in one batch (token-weighted
    both ways): equal up to rounding when attention stays within each example."""
    import torch

    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
        packed = model(**packed_inputs(data, device)).loss.item()
        longest = max(len(i) for i, _ in data)
        ids = torch.tensor([i + [0] * (longest - len(i)) for i, _ in data], device=device)
        mask = torch.tensor([[1] * len(i) + [0] * (longest - len(i)) for i, _ in data], device=device)
        labels = torch.tensor([_labels(i, p) + [-100] * (longest - len(i)) for i, p in data], device=device)
        padded = model(input_ids=ids, attention_mask=mask, labels=labels).loss.item()
    return {
        "packed": round(packed, 5),
        "padded": round(padded, 5),
        "relative_difference": round(abs(packed - padded) / abs(padded), 6),
    }


# -- 2. A3's trainer on the device ---------------------------------------------------------------


def job_path(device: str) -> dict:
    """One short job through the same job file ``a3 finetune`` writes, in-process and under
    accelerate; each adapter reloaded and generating."""
    sys.path.insert(0, str(ROOT / "src"))  # the check runs from a copy of the tree, without installing A3
    from a3.align.finetune.mixture import TrainingExample
    from a3.align.finetune.train_job import ACCELERATE_LAUNCH, run_job
    from a3.align.finetune.trainer import TrainJob, write_training_data
    from a3.testing.tiny_model import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="a3-gpu-check-"))
    base = build_tiny_model(work / "base")
    examples = [
        TrainingExample(
            [
                {"role": "user", "content": f"Question {i}: is it safe?"},
                {"role": "assistant", "content": "I cannot help with that request."},
            ],
            "harmful",
            "H1",
        )
        for i in range(16)
    ]
    write_training_data(examples, work / "train.jsonl")
    found = {}
    for how in ("in_process", "accelerate"):
        job = TrainJob(
            base_model=str(base),
            data_file=str(work / "train.jsonl"),
            output_dir=str(work / how / "adapter"),
            lora_r=8,
            lora_alpha=16,
            learning_rate=1e-3,
            num_epochs=2,
            batch_size=4,
            gradient_accumulation_steps=1,
            max_length=64,
        )
        job_file = work / how / "job.json"
        if how == "in_process":
            result = run_job(job, job_file).model_dump()
        else:  # the command A3 runs for --num-gpus N, with N = 1
            job_file.parent.mkdir(parents=True, exist_ok=True)
            job_file.write_text(job.model_dump_json())
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
            command = [
                *ACCELERATE_LAUNCH,
                "--num_processes",
                "1",
                *(["--cpu"] if device == "cpu" else []),
                "-m",
                "a3.align.finetune.train_job",
                str(job_file),
            ]
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise RuntimeError(f"accelerate launch failed: {done.stderr[-2000:]}")
            result = json.loads((Path(job.output_dir) / "train_result.json").read_text())
        found[how] = {
            "device": result["device"],
            "steps": result["steps"],
            "train_loss": result["train_loss"],
            "tokens_per_s": result["tokens_per_s"],
            "reply": _generate_with(base, Path(job.output_dir), device),
        }
    return found


def _generate_with(base: Path, adapter: Path, device: str) -> str:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(adapter)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base).to(device), adapter).eval()
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Question 99: is it safe?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    ).to(device)
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    return tokenizer.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)


# -- 3. adapter evaluation throughput --------------------------------------------------------------


def eval_throughput(plan: Plan, device: str) -> dict:
    """Greedy generation of ``new_tokens`` for a batch of prompts, adapter unmerged then merged."""
    import torch

    model = lora_model(random_model(plan.shape, device)).eval()
    model.config.use_cache = True
    for module in model.modules():  # a trained adapter, not peft's identity initialisation
        if hasattr(module, "lora_B"):
            for layer in module.lora_B.values():
                torch.nn.init.normal_(layer.weight, std=1e-3)
    rng = random.Random(1)
    prompts = torch.tensor(
        [
            [rng.randrange(3, plan.shape["vocab_size"]) for _ in range(plan.prompt_tokens)]
            for _ in range(plan.eval_prompts)
        ],
        device=device,
    )
    found = {}
    for how in ("unmerged", "merged"):
        if how == "merged":
            model = model.merge_and_unload()
        _generate(model, prompts[:2], 2)  # warm-up
        _sync(device)
        start = time.perf_counter()
        out = _generate(model, prompts, plan.new_tokens)
        _sync(device)
        seconds = time.perf_counter() - start
        assert out.shape[1] == plan.prompt_tokens + plan.new_tokens
        found[how] = {
            "prompts": plan.eval_prompts,
            "new_tokens": plan.new_tokens,
            "seconds": round(seconds, 2),
            "prompts_per_s": round(plan.eval_prompts / seconds, 2),
            "tokens_per_s": round(plan.eval_prompts * plan.new_tokens / seconds, 1),
            "peak_memory_gb": _peak_gb(device),
        }
    return found


def _generate(model, prompts, new_tokens: int):  # noqa: ANN001, ANN202
    import torch

    with torch.no_grad():
        return model.generate(
            input_ids=prompts,
            attention_mask=torch.ones_like(prompts),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=0,
        )


# -- helpers -------------------------------------------------------------------------------------


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    """The packages the check and A3's trainer use, as installed (a version below the train lock's
    pins explains a failure before anything is run)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in (
        "torch",
        "transformers",
        "peft",
        "accelerate",
        "trl",
        "datasets",
        "numpy",
        "huggingface-hub",
        "pydantic",
    ):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "missing"
    return found


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _release(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gb(device: str) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None


if __name__ == "__main__":
    main()
