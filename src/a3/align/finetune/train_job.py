"""Run one training job from its JSON file: ``python -m a3.align.finetune.train_job JOB.json``.

On several GPUs: ``accelerate launch --num_processes N -m a3.align.finetune.train_job JOB.json``
(A3 does this itself when ``--num-gpus`` is above 1).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from a3.align.finetune.trainer import RESULT_FILE, TrainJob, TrainResult, train
from a3.errors import A3Error

# `accelerate launch` from this interpreter: the `accelerate` script may not be on PATH (a venv not activated).
ACCELERATE_LAUNCH = [sys.executable, "-m", "accelerate.commands.launch"]


class TrainingFailed(A3Error):
    pass


def run_job(job: TrainJob, job_file: Path, num_gpus: int = 1) -> TrainResult:
    """Train in this process, or under accelerate across ``num_gpus`` GPUs."""
    job_file.parent.mkdir(parents=True, exist_ok=True)
    job_file.write_text(job.model_dump_json(indent=2))
    if num_gpus <= 1:
        return train(job)
    command = [*ACCELERATE_LAUNCH, "--num_processes", str(num_gpus), "-m", "a3.align.finetune.train_job", str(job_file)]
    completed = subprocess.run(command, env=os.environ.copy(), check=False)
    result = Path(job.output_dir) / RESULT_FILE
    if completed.returncode != 0 or not result.exists():
        raise TrainingFailed(f"training failed (exit {completed.returncode}): {' '.join(command)}")
    return TrainResult.model_validate_json(result.read_text())


def main() -> None:
    job = TrainJob.model_validate_json(Path(sys.argv[1]).read_text())
    print(train(job).model_dump_json())


if __name__ == "__main__":
    main()
