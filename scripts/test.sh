#!/usr/bin/env bash
# Sets up .venv with the test tools, the training and embedding stacks and the embedded models,
# then runs the whole test suite offline (the local_models tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --full --models
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest -q "$@"
