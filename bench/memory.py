"""Peak memory and time of each stage of the demo, each stage in a process of its own.

Runs ``a3 run CONFIG --from S --until S`` for every stage in order (then ``a3 report``) on one run
directory and reads each process's peak resident set size from the kernel (``os.wait4``), with its
wall time. With ``--whole`` it also runs the stages as ``a3 run`` does, in one process, which is
what ``scripts/demo.sh`` does: its peak is the demo's. ``--target`` runs the same demo with another
target model (the config is copied with only ``target_model.model_name`` changed, into the run
directory), as issue #26 asks of the 0.5B model.

    python bench/memory.py --run-dir runs/memory [--seed N] [--whole]
        [--target local/qwen2.5-coder-0.5b] [--num-iterations N]
Writes bench/results/memory_demo.json (memory_demo_<target>.json with --target) and prints it.
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

import yaml

ROOT = Path(__file__).resolve().parent.parent
STAGES = ["generate", "split", "expected", "general", "finetune"]
DEMO_FLAGS = ["--num-rounds", "1", "--general-samples", "40"]  # as scripts/demo.sh runs it


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


def with_target(config: str, target: str, run_dir: Path) -> str:
    """A copy of ``config`` whose target is ``target``, written beside the run directory; its path.
    The config's relative paths are read from the repository root, where the stages run."""
    settings = yaml.safe_load((ROOT / config).read_text(encoding="utf-8"))
    settings["target_model"]["model_name"] = target
    path = ROOT / f"{run_dir}.config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--seed", type=int, default=None, help="replication seed (a3 run --seed)")
    parser.add_argument("--whole", action="store_true", help="run the stages in one process, as the demo does")
    parser.add_argument("--target", default=None, help="another target model string, e.g. local/qwen2.5-coder-0.5b")
    parser.add_argument("--num-iterations", type=int, default=None, help="finetuning iterations [the config's]")
    args = parser.parse_args()
    a3 = str(Path(sys.executable).parent / "a3")
    run_flags = ["--seed", str(args.seed)] if args.seed is not None else []
    if args.num_iterations is not None:
        run_flags += ["--num-iterations", str(args.num_iterations)]
    config = with_target(args.config, args.target, Path(args.run_dir)) if args.target else args.config
    base = [a3, "run", config, "--run-dir", args.run_dir, *DEMO_FLAGS, *run_flags]
    result: dict[str, object] = {
        "config": config,
        "target": args.target,
        "run_dir": args.run_dir,
        "seed": args.seed,
        "num_iterations": args.num_iterations,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    if args.whole:
        result["whole_run"] = measured(base)
    else:
        result["stages"] = {stage: measured([*base, "--from", stage, "--until", stage]) for stage in STAGES}
    result["report"] = measured([a3, "report", args.run_dir])
    suffix = "_" + args.target.replace("/", "_") if args.target else ""
    out = ROOT / "bench" / "results" / f"memory_demo{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
