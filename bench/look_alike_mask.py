"""Does masking the topic's words help the demo's look-alike writer? One first draft per harmful
query of a finished demo run, written by the bundled 0.5B generator through stage 1's own writer,
shown the request as it is and with every match of ``data_generation.topic_regex`` masked; each
draft goes through stage 1's quality gate (against the run's kept harmful queries and the drafts
kept before it), and the reasons are counted.

    python bench/look_alike_mask.py --run-dir runs/demo-seed-2 [--queries 80] [--mask '[...]']
Writes bench/results/look_alike_mask.json and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def drafts(run_dir: Path, count: int, mask: str | None) -> dict[str, object]:
    from a3.align.conversation import seed_messages
    from a3.align.generate.payloads import without_system_prompt
    from a3.align.generate.quality import QualityGate, query_text
    from a3.align.generate.queries import QueryWriter
    from a3.align.generate.settings import GenerationSettings
    from a3.align.records import Query
    from a3.align.roles import resolve_roles
    from a3.config import A3Config, load_config
    from a3.llm import LLMCallError, LLMClient, StructuredOutputError

    raw = load_config(ROOT / "configs/demo.yaml").model_dump(mode="json")
    raw["data_generation"]["look_alike_mask"] = mask
    config = A3Config.model_validate(raw)
    settings = GenerationSettings.of(config)
    client = LLMClient(None, concurrency=settings.data_generation.max_concurrent)
    writer = QueryWriter(settings, client, resolve_roles(config).generator)
    lines = (run_dir / "generation/queries.jsonl").read_text().splitlines()
    queries = [Query.model_validate_json(line) for line in lines if line.strip()]
    harmful = [q for q in queries if q.kind == "harmful"][:count]
    gate = QualityGate(
        query_text(seed_messages(settings.seed_example)), settings.data_generation.topic_regex, mask=mask
    )
    for query in queries:
        if query.kind == "harmful":
            gate.keep(query_text(query.messages), "harmful")

    async def one(query: Query) -> str | None:
        shown = without_system_prompt(query.messages, settings.conversation_format)
        try:
            return query_text(await writer.benign(shown, 0))
        except (LLMCallError, StructuredOutputError):
            return None

    texts = await asyncio.gather(*(one(q) for q in harmful))
    client.close()
    reasons: Counter[str] = Counter()
    examples = []
    for query, text in zip(harmful, texts, strict=True):
        if text is None:
            reason: str | None = "no valid reply"
        else:
            reason = gate.reason_to_drop(text, "benign", query_text(query.messages))
            if reason is None:
                gate.keep(text, "benign")
        reasons[reason or "kept"] += 1
        if len(examples) < 12:
            examples.append({"harmful": query_text(query.messages), "draft": text, "dropped": reason})
    return {"mask": mask, "drafts": len(harmful), "reasons": dict(reasons), "examples": examples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="a finished demo run (its stage 1)")
    parser.add_argument("--queries", type=int, default=80)
    parser.add_argument("--mask", default="[...]")
    args = parser.parse_args()
    result = {
        "machine": platform.processor() or platform.machine(),
        "run_dir": str(args.run_dir),
        "variants": [asyncio.run(drafts(args.run_dir, args.queries, mask)) for mask in (None, args.mask)],
    }
    out = ROOT / "bench/results/look_alike_mask.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
