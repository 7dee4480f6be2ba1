"""Peak memory and time of each stage of the demo, each stage in a process of its own.

Runs ``a3 run CONFIG --from S --until S`` for every stage in order (then ``a3 report``) on one run
directory and reads each process's peak resident set size from the kernel (``os.wait4``), with its
wall time. With ``--whole`` it also runs the stages as ``a3 run`` does, in one process, which is
what ``scripts/demo.sh`` does: its peak is the demo's.

    python bench/memory.py --run-dir runs/memory [--seed N] [--whole]
Writes bench/results/memory_demo.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ["generate", "split", "expected", "general", "finetune"]
DEMO_FLAGS = ["--num-rounds", "2", "--general-samples", "16"]  # as scripts/demo.sh runs it


def measured(command: list[str]) -> dict[str, float]:
    """Run ``command``; its wall seconds and peak RSS (MB), failing loudly on a non-zero exit."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    )
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit {os.waitstatus_to_exitcode(status)}")
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--seed", type=int, default=None, help="replication seed (a3 run --seed)")
    parser.add_argument("--whole", action="store_true", help="run the stages in one process, as the demo does")
    args = parser.parse_args()
    a3 = str(Path(sys.executable).parent / "a3")
    seed = ["--seed", str(args.seed)] if args.seed is not None else []
    base = [a3, "run", args.config, "--run-dir", args.run_dir, *DEMO_FLAGS, *seed]
    result: dict[str, object] = {
        "config": args.config,
        "run_dir": args.run_dir,
        "seed": args.seed,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    if args.whole:
        result["whole_run"] = measured(base)
    else:
        result["stages"] = {stage: measured([*base, "--from", stage, "--until", stage]) for stage in STAGES}
    result["report"] = measured([a3, "report", args.run_dir])
    out = ROOT / "bench" / "results" / "memory_demo.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
