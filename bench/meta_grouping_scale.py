"""Meta-analysis at scale without a model: select the successful runs, read their files, and group them
by their instructions with the bundled MiniLM embedder (the embed method's grouping, as
`a3 meta categorize` does it before any model names a group).

Runs come from the hard planted benchmark (instructions composed afresh for each run). Each size is
measured in a fresh process, so its peak resident memory is that of select + grouping (and the
imports), not of writing the data:

    python bench/meta_grouping_scale.py --runs 1000 10000
Writes bench/results/meta_grouping_scale.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(runs_dir: Path, agent: str) -> dict[str, float | int]:
    """Select and group the runs under ``runs_dir`` (in this process); times and peak memory."""
    from a3.meta.categorize.embed import run_texts
    from a3.meta.categorize.grouping import group_mechanisms
    from a3.meta.categorize.pregroup import minilm_embedder
    from a3.meta.select import SelectOptions, select_runs
    from a3.meta.summarize import build_prompt

    embed = minilm_embedder()
    started = time.perf_counter()
    refs = select_runs(SelectOptions(agent=agent, base_dir=runs_dir)).task_list().runs
    selected = time.perf_counter()
    texts = [run_texts(str(ref.run), build_prompt(ref)[2]) for ref in refs]
    read = time.perf_counter()
    found = group_mechanisms(texts, embed)
    grouped = time.perf_counter()
    return {
        "runs": len(refs),
        "select_s": round(selected - started, 2),
        "read_files_s": round(read - selected, 2),
        "grouping_s": round(grouped - read, 2),
        "total_s": round(grouped - started, 2),
        "groups": found.grouping.k,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process: a runs folder
    parser.add_argument("--agent", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "meta_grouping_scale.json")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.agent)))
        return
    from a3.meta.synthetic.planted_hard import write_hard_planted_runs

    results = []
    for n in args.runs:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            info = write_hard_planted_runs(Path(tmp) / "data", runs=n, seed=0, agents=("agent-a",))
            written = time.perf_counter() - started
            child = subprocess.run(  # faulthandler: a crash in native code says where
                [sys.executable, "-X", "faulthandler", __file__, "--measure", str(info.runs_dir), "--agent", "agent-a"],
                capture_output=True,
                text=True,
            )
            if child.returncode != 0:
                trace = child.stderr.split("\nExtension modules:")[0]  # faulthandler's stack, not its module list
                result = {"runs": n, "failed": f"exit {child.returncode}", "stderr_tail": trace[-3000:]}
            else:
                result = {"write_data_s": round(written, 1), **json.loads(child.stdout.strip().splitlines()[-1])}
        print(json.dumps(result), flush=True)
        results.append(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": "2 cores, no GPU", "sizes": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
