"""Peak memory and time of each stage of the demo, each stage in a process of its own.

Runs ``a3 run CONFIG --from S --until S`` for every stage in order (then ``a3 report``) on one run
directory and reads each process's peak resident set size from the kernel (``os.wait4``), with its
wall time. With ``--whole`` it also runs the stages as ``a3 run`` does, in one process, which is
what ``scripts/demo.sh`` does: its peak is the demo's. ``--target`` runs the same demo with another
target model (the config is copied with only ``target_model.model_name`` changed, into the run
directory), as issue #26 asks of the 0.5B model.

``--growth 1 2 4`` measures how the cost grows with the number of hypotheses instead: stages 1-3
(and with ``--growth-finetune`` the general data and one finetuning iteration) on the demo with
10, 20 and 40 starting hypotheses (the demo's ten, then ``bench/data/growth_hypotheses.yaml``),
each size in a fresh run directory ``RUN_DIR-xN``. Each hypothesis gets two harmful queries (its
example and one variation) and their look-alikes instead of the demo's 25, so that the three sizes
fit in about 50 minutes (2026-12-07: 545, 681 and 1,579 s of stages); the per-hypothesis work is the
demo's, only less of it.

    python bench/memory.py --run-dir runs/memory [--seed N] [--whole]
        [--target local/qwen2.5-coder-0.5b] [--num-iterations N]
    python bench/memory.py --run-dir runs/growth --growth 1 2 4 [--growth-finetune]
Writes bench/results/memory_demo.json (memory_demo_<target>.json with --target,
stage_growth.json with --growth) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
STAGES = ["generate", "split", "expected", "general", "finetune"]
DEMO_FLAGS = ["--num-rounds", "1", "--general-samples", "40"]  # as scripts/demo.sh runs it
GROWTH_HYPOTHESES = ROOT / "bench" / "data" / "growth_hypotheses.yaml"


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


def derived_config(config: str, run_dir: Path, edit: Callable[[dict[str, Any]], None]) -> str:
    """A copy of ``config`` changed by ``edit``, written beside the run directory; its path.
    The config's relative paths are read from the repository root, where the stages run."""
    settings = yaml.safe_load((ROOT / config).read_text(encoding="utf-8"))
    edit(settings)
    path = ROOT / f"{run_dir}.config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return str(path)


def with_target(config: str, target: str, run_dir: Path) -> str:
    """A copy of ``config`` whose target is ``target``; its path."""

    def edit(settings: dict[str, Any]) -> None:
        settings["target_model"]["model_name"] = target

    return derived_config(config, run_dir, edit)


def with_hypotheses(config: str, scale: int, run_dir: Path) -> str:
    """A copy of ``config`` with ``scale`` times its starting hypotheses and two harmful queries each; its path."""

    def edit(settings: dict[str, Any]) -> None:
        generation = settings["hypothesis_generation"]
        count = scale * len(generation["starting_hypotheses"])
        extra = yaml.safe_load(GROWTH_HYPOTHESES.read_text(encoding="utf-8"))
        hypotheses = (generation["starting_hypotheses"] + extra)[:count]
        if len(hypotheses) < count:
            raise SystemExit(f"{GROWTH_HYPOTHESES}: {len(hypotheses)} hypotheses in all, {count} needed for {scale}x")
        generation["starting_hypotheses"] = hypotheses
        generation["max_variations_per_example"] = 1
        settings["data_generation"]["num_variations"] = 1

    return derived_config(config, run_dir, edit)


def growth(args: argparse.Namespace, a3: str, run_flags: list[str]) -> dict[str, object]:
    """Stages 1-3 (and optionally one finetuning iteration) at each hypothesis scale; times, peaks and ratios.
    Each size needs a fresh run directory: a finished stage would be skipped and timed at a second."""
    stages = STAGES if args.growth_finetune else STAGES[:3]
    flags = [*run_flags, "--num-iterations", "1"] if args.growth_finetune else run_flags
    sizes: dict[str, dict[str, Any]] = {}
    for scale in args.growth:
        run_dir = Path(f"{args.run_dir}-x{scale}")
        if (ROOT / run_dir).exists():
            raise SystemExit(f"{run_dir} exists: --growth measures fresh run directories; remove it or pick --run-dir")
        config = with_hypotheses(args.config, scale, run_dir)
        base = [a3, "run", config, "--run-dir", str(run_dir), *DEMO_FLAGS, *flags]
        measures = {stage: measured([*base, "--from", stage, "--until", stage]) for stage in stages}
        queries = len((ROOT / run_dir / "generation" / "queries.jsonl").read_text(encoding="utf-8").splitlines())
        sizes[f"{scale}x"] = {"run_dir": str(run_dir), "queries": queries, "stages": measures}
        print(json.dumps({f"{scale}x": sizes[f"{scale}x"]}), flush=True)
    smallest, largest = f"{min(args.growth)}x", f"{max(args.growth)}x"

    def seconds(size: str, names: list[str]) -> float:
        return float(sum(sizes[size]["stages"][name]["seconds"] for name in names))

    def ratio(names: list[str]) -> float | None:
        before = seconds(smallest, names)
        return round(seconds(largest, names) / before, 2) if before else None

    groups = {name: [name] for name in stages} | {"stages 1-3": STAGES[:3]}
    return {
        "sizes": sizes,
        f"time ratio {largest} / {smallest}": {name: ratio(names) for name, names in groups.items()},
        f"query ratio {largest} / {smallest}": round(sizes[largest]["queries"] / sizes[smallest]["queries"], 2),
        "seconds per kept query, stages 1-3": {
            size: round(seconds(size, STAGES[:3]) / max(1, sizes[size]["queries"]), 2) for size in sizes
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--seed", type=int, default=None, help="replication seed (a3 run --seed)")
    parser.add_argument("--whole", action="store_true", help="run the stages in one process, as the demo does")
    parser.add_argument("--target", default=None, help="another target model string, e.g. local/qwen2.5-coder-0.5b")
    parser.add_argument("--num-iterations", type=int, default=None, help="finetuning iterations [the config's]")
    parser.add_argument("--growth", type=int, nargs="+", help="hypothesis scales to measure stages 1-3 at, e.g. 1 2 4")
    parser.add_argument("--growth-finetune", action="store_true", help="with --growth: also one finetuning iteration")
    args = parser.parse_args()
    if args.growth and (args.whole or args.target or (args.growth_finetune and args.num_iterations)):
        parser.error("--growth runs the stages one by one on the demo's target with one iteration at most")
    if args.growth and min(args.growth) < 1:
        parser.error("--growth scales are whole numbers from 1")
    if args.growth_finetune and not args.growth:
        parser.error("--growth-finetune goes with --growth")
    a3 = str(Path(sys.executable).parent / "a3")
    run_flags = ["--seed", str(args.seed)] if args.seed is not None else []
    if args.num_iterations is not None:
        run_flags += ["--num-iterations", str(args.num_iterations)]
    config = with_target(args.config, args.target, Path(args.run_dir)) if args.target else args.config
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    if args.growth:
        result = {"config": args.config, "seed": args.seed, "machine": machine, **growth(args, a3, run_flags)}
        (ROOT / "bench" / "results" / "stage_growth.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return
    base = [a3, "run", config, "--run-dir", args.run_dir, *DEMO_FLAGS, *run_flags]
    result = {
        "config": config,
        "target": args.target,
        "run_dir": args.run_dir,
        "seed": args.seed,
        "num_iterations": args.num_iterations,
        "machine": machine,
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
