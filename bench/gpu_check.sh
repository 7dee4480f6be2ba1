#!/usr/bin/env bash
# On the lent GPU machine (PyTorch, transformers, peft and accelerate; no network): install the
# wheels taken along (bench/.gpu-wheels.tar.xz, made beforehand by bench/gpu_wheels.sh), then run
# the check. A3 itself is not installed: the check puts src/ on the path.
#   bash bench/gpu_check.sh              the whole check (a few minutes on an H200; JSON in $OUT)
#   bash bench/gpu_check.sh --dry-run    the same code on the CPU with tiny shapes
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
site=""
if [ -f bench/.gpu-wheels.tar.xz ] && ! "$python" -c "import trl, datasets, pydantic" 2>/dev/null; then
  # Installed into a folder of its own (the machine's Python may refuse changes), first on the path.
  work=$(mktemp -d) site="$(mktemp -d)/site"
  tar -C "$work" -xJf bench/.gpu-wheels.tar.xz
  for unpacked in "$work"/*/; do  # each folder is one wheel's contents: zip it back into that wheel
    name=$(basename "$unpacked")
    (cd "$unpacked" && "$python" -m zipfile -c "$work/$name.whl" .)
  done
  "$python" -m pip install -q --no-index --no-deps --target "$site" "$work"/*.whl
  rm -rf "$work"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$PWD/src${site:+:$site}${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" bench/gpu_check.py "$@"
