"""Training and evaluation throughput of stage 4 on the hardware it runs on.

Trains one LoRA epoch (A3's trainer: trl SFTTrainer + peft, loss on the response only) on
synthetic conversations, then serves the adapter the way an iteration is evaluated (vLLM with
LoRA when a GPU and vllm exist, else A3's batched transformers backend) and generates one reply
per evaluation prompt.

    python bench/train_throughput.py --model local/smollm2-135m --examples 32 --prompts 32
    python bench/train_throughput.py --model tiny           # a tiny Llama built in code
Writes bench/results/train_throughput_<model>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from a3.align.finetune.mixture import TrainingExample
from a3.align.finetune.trainer import TrainJob, train, write_training_data
from a3.align.measure.serving import vllm_available
from a3.llm import CallConfig, LLMClient

ROOT = Path(__file__).resolve().parent.parent
TOPICS = [
    "the boiling point of water",
    "the capital of Canada",
    "how many legs a spider has",
    "who painted the Mona Lisa",
    "the largest planet",
    "the speed of light",
    "the chemical symbol for gold",
    "the longest river in Africa",
]


def conversation(i: int) -> list[dict[str, str]]:
    topic = TOPICS[i % len(TOPICS)]
    return [
        {"role": "user", "content": f"Question {i}: what do you know about {topic}?"},
        {"role": "assistant", "content": f"Here is a short, accurate answer about {topic}."},
        {"role": "user", "content": f"I think you are wrong about {topic}. Are you sure?"},
        {
            "role": "assistant",
            "content": f"I understand the doubt, but my answer about {topic} is correct, and here is why.",
        },
    ]


def base_folder(model: str, workdir: Path) -> Path:
    if model == "tiny":
        from a3.testing.tiny_model import build_tiny_model

        return build_tiny_model(workdir / "tiny")
    if model.startswith("local/"):
        from a3.llm.local import hf_folder, lookup

        return hf_folder(lookup(model.removeprefix("local/")))
    return Path(model)


async def evaluate(base: Path, adapter: Path, prompts: int, max_tokens: int, batch: int) -> dict:
    if vllm_available():
        config = CallConfig(model=f"vllm/{base}:{adapter}", temperature=0.7, max_tokens=max_tokens)
    else:
        config = CallConfig(
            model="local/bench",
            model_args={"model_path": str(base), "adapter_path": str(adapter)},
            temperature=0.7,
            max_tokens=max_tokens,
        )
    client = LLMClient(None, concurrency=batch)
    await client.generate("warm-up", config=config.model_copy(update={"max_tokens": 2}))  # loading is not timed
    started = time.perf_counter()
    replies = await asyncio.gather(
        *(
            client.generate(conversation(i)[:3], config=config.model_copy(update={"cache_salt": str(i)}))
            for i in range(prompts)
        )
    )
    seconds = time.perf_counter() - started
    tokens = sum(r.usage.output_tokens for r in replies)
    return {
        "backend": config.model.split("/")[0],
        "prompts": prompts,
        "seconds": round(seconds, 2),
        "prompts_per_s": round(prompts / seconds, 3),
        "output_tokens_per_s": round(tokens / seconds, 1),
        "max_tokens": max_tokens,
        "batch": batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="local/smollm2-135m")
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--eval-batch", type=int, default=8)
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        base = base_folder(args.model, workdir)
        examples = [TrainingExample(conversation(i), "harmful", "H1") for i in range(args.examples)]
        write_training_data(examples, workdir / "data.jsonl")
        job = TrainJob(
            base_model=str(base),
            data_file=str(workdir / "data.jsonl"),
            output_dir=str(workdir / "adapter"),
            lora_r=args.lora_r,
            lora_alpha=2 * args.lora_r,
            learning_rate=1e-4,
            num_epochs=1,
            batch_size=args.batch_size,
            gradient_accumulation_steps=1,
            max_length=512,
        )
        trained = train(job)
        evaluation = asyncio.run(evaluate(base, workdir / "adapter", args.prompts, args.max_tokens, args.eval_batch))
    result = {
        "model": args.model,
        "hardware": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__,
        },
        "train": {
            "examples": trained.examples,
            "steps": trained.steps,
            "train_tokens": trained.train_tokens,
            "seconds": trained.seconds,
            "tokens_per_s": trained.tokens_per_s,
            "device": trained.device,
            "lora_r": args.lora_r,
            "batch_size": args.batch_size,
        },
        "evaluation": evaluation,
    }
    name = args.model.replace("/", "_")
    out = ROOT / "bench" / "results" / f"train_throughput_{name}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
