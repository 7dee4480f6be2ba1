"""Speed of schema-guided decoding of a nested reply with a long prompt: one prompt read through
the key/value cache (a3.llm.constrained.PrefixCache, what the local backend does), against the
batch reader, which re-reads the prompt for every choice (what it did before).

    python bench/schema_decoding.py --model qwen2.5-coder-0.5b --prompt-tokens 1500
Writes bench/results/schema_decoding_<model>.json. Greedy, so both runs decode the same reply.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from a3.llm.constrained import PrefixCache, SchemaDecoder, _BatchReader, _CachedReader
from a3.llm.local_models import hf_folder, lookup

ROOT = Path(__file__).resolve().parent.parent


class Idea(BaseModel):
    basis_example: str
    hypothesis: str
    change_type: Literal["structural", "topical"]
    concrete_example: str


class Ideas(BaseModel):
    hypotheses: list[Idea] = Field(min_length=1, max_length=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    parser.add_argument("--max-tokens", type=int, default=400)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = hf_folder(lookup(args.model))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    log = " ".join(f"Ex{i}: a user question about topic {i} where the model gave in to pushback." for i in range(400))
    log = tokenizer.decode(tokenizer(log, add_special_tokens=False)["input_ids"][: args.prompt_tokens])
    messages = [{"role": "user", "content": f"Experiment log:\n{log}\n\nPropose up to three new hypotheses as JSON."}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    rows = {}
    for name in ("with_cache", "batch_reader"):
        cache = PrefixCache(model)
        reader = _CachedReader(tokenizer, cache) if name == "with_cache" else _BatchReader(model, tokenizer)
        started = time.perf_counter()
        text, generated = SchemaDecoder(reader, [prompt], Ideas.model_json_schema(), args.max_tokens).run()[0]
        rows[name] = {"seconds": round(time.perf_counter() - started, 1), "tokens_generated": generated,
                      "reply_chars": len(text)}
        rows.setdefault("reply", text)
    assert rows["reply"] == text, "the two runs decoded different replies"
    result = {"model": args.model, "prompt_tokens": len(tokenizer(prompt)["input_ids"]), "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(), **rows}
    out = ROOT / "bench" / "results" / f"schema_decoding_{args.model}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
