#!/usr/bin/env bash
# Sets up .venv and runs what A3 can do offline today: validates the example configs, lists the
# model backends usable here, and runs the model layer's fan-out benchmark against the local stub
# server. (This becomes the full alignment + meta-analysis demo once those stages exist.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
for config in configs/*.json; do
  .venv/bin/a3 check "$config"
done
.venv/bin/a3 models
.venv/bin/python bench/llm_fanout.py --calls 1000 --latency 0.2 --concurrency 64 \
  --out bench/results/llm_fanout.json
echo "Benchmark results: bench/results/llm_fanout.json"
