"""Run one training job from its JSON file: ``python -m a3.align.finetune.train_job JOB.json``.

With ``--num-processes N`` (alias ``--num-gpus N``) above 1, A3 runs the same job as N
data-parallel processes through accelerate's torchrun launcher (``launch_command``):

    accelerate launch --multi_gpu --num_processes N --num_machines 1 \\
        --main_process_ip 127.0.0.1 --main_process_port PORT -m a3.align.finetune.train_job JOB.json

With CUDA that is one process per GPU (NCCL). Without it, the same command with
``ACCELERATE_USE_CPU=true`` makes every process train on the CPU, gradients all-reduced over gloo
on the loopback interface. ``--multi_gpu`` only picks accelerate's torchrun launcher, which starts
the N processes; the device is chosen inside each process. ``--cpu --num_processes N`` would not
do: in accelerate 1.15 its launcher starts one process unless MPI (``--mpirun_hostfile``) starts
the rest, so the job would silently train in one. The trainer records the world size it saw and
``run_job`` refuses a result from fewer processes than it launched.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from a3.align.finetune.trainer import RESULT_FILE, TrainJob, TrainResult, split_batch, train
from a3.errors import A3Error

# `accelerate launch` from this interpreter: the `accelerate` script may not be on PATH (a venv not activated).
ACCELERATE_LAUNCH = [sys.executable, "-m", "accelerate.commands.launch"]
MODULE = "a3.align.finetune.train_job"


class TrainingFailed(A3Error):
    pass


def run_job(job: TrainJob, job_file: Path, num_processes: int = 1) -> TrainResult:
    """Train in this process, or as ``num_processes`` data-parallel processes (one per GPU, or on the CPU)."""
    job_file.parent.mkdir(parents=True, exist_ok=True)
    job_file.write_text(job.model_dump_json(indent=2))
    result = Path(job.output_dir) / RESULT_FILE
    if result.exists():  # a finished job is not retrained, however many processes trained it
        return train(job)
    if num_processes <= 1:
        # A process of its own, so that the training's memory is the operating system's again the
        # moment it ends, rather than held by this one while the adapter is served and measured.
        command = [sys.executable, "-m", MODULE, str(job_file)]
        returncode = _run_logged(command, os.environ.copy(), job_file)
        if returncode != 0 or not result.exists():
            raise TrainingFailed(_failure(returncode, command, job_file))
        return TrainResult.model_validate_json(result.read_text())
    try:
        split_batch(job.batch_size, job.gradient_accumulation_steps, num_processes)
    except ValueError as exc:
        raise TrainingFailed(str(exc)) from None
    command, env = launch_command(job_file, num_processes)
    returncode = _run_logged(command, env, job_file)
    if returncode != 0 or not result.exists():
        raise TrainingFailed(_failure(returncode, command, job_file))
    trained = TrainResult.model_validate_json(result.read_text())
    if trained.world_size != num_processes:  # e.g. a launcher that started one process, not N
        raise TrainingFailed(f"{result}: trained by {trained.world_size} process(es), not the {num_processes} launched")
    return trained


def launch_command(job_file: Path, num_processes: int, port: int | None = None) -> tuple[list[str], dict[str, str]]:
    """The ``accelerate launch`` command and environment that train ``job_file`` as ``num_processes``
    data-parallel processes on this machine: one per GPU when CUDA is present, else on the CPU (gloo)."""
    import torch

    env = os.environ.copy()
    if torch.cuda.is_available():
        if torch.cuda.device_count() < num_processes:
            raise TrainingFailed(
                f"{num_processes} training processes need {num_processes} GPUs; {torch.cuda.device_count()} are visible"
            )
    else:
        env["ACCELERATE_USE_CPU"] = "true"  # each process: PartialState(cpu=True), a MULTI_CPU group over gloo
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # gloo's own connections stay on the loopback interface too
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        env.setdefault("OMP_NUM_THREADS", str(max(1, cores // num_processes)))  # torchrun would give each one thread
    command = [
        *ACCELERATE_LAUNCH,
        "--multi_gpu",
        "--num_processes",
        str(num_processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",  # the trainer sets bf16 itself where the GPU has it
        "--main_process_ip",
        "127.0.0.1",
        "--main_process_port",
        str(port or free_port()),
        "-m",
        MODULE,
        str(job_file),
    ]
    return command, env


def training_log(job_file: Path) -> Path:
    """Where the training processes' output goes: beside the job file (``job.log`` for ``job.json``)."""
    return job_file.with_suffix(".log")


def _run_logged(command: list[str], env: dict[str, str], job_file: Path) -> int:
    """Run ``command`` with its output in the job's log file, so that a failure can say why."""
    with training_log(job_file).open("w") as log:
        return subprocess.run(command, env=env, check=False, stdout=log, stderr=subprocess.STDOUT).returncode


def _failure(returncode: int, command: list[str], job_file: Path, lines: int = 20) -> str:
    """The failure's message: the command, its exit status and the end of its log."""
    log = training_log(job_file)
    tail = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
    return f"training failed (exit {returncode}): {' '.join(command)}\n" + "\n".join(
        [f"last lines of {log}:", *tail] if tail else [f"nothing written to {log}"]
    )


def free_port() -> int:
    """A port on 127.0.0.1 that no one listens on now, chosen by the kernel, so concurrent jobs on
    one machine do not all meet on accelerate's default 29500. Should another process take it
    before the rendezvous binds it, accelerate sees it in use and lets torchrun pick a free one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    job = TrainJob.model_validate_json(Path(sys.argv[1]).read_text())
    print(train(job).model_dump_json(), flush=True)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # A data-parallel process ends here, its result written and every peer past the final
        # barrier, without the interpreter's teardown: there, freeing DDP's reducer joins gloo's
        # threads while holding the GIL that one of them waits for (a deadlock CI saw), and a
        # process whose peer has gone can be aborted by gloo (SIGABRT, seen before that).
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
