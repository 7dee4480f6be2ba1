"""The data-parallel training path, proved on the CPU: the same job trained by one process and by
two processes under ``accelerate launch`` (gloo) gives the same loss curve and adapters that
generate the same greedy replies. No GPU needed; on N GPUs the same command runs one process per GPU.

Tolerances, set from measurement (tiny model, 16 examples, global batch 8, 20 optimizer steps,
float32 on the CPU). The two runs see the same examples in the same micro-batches at every step;
what differs is arithmetic order: DDP all-reduces (sums) each process's gradient of its half of
the step, where one process accumulates all four micro-batches into one buffer, and float32
addition is not associative. Measured: per-step loss differences up to 1.4e-6 (loss ~5), adapter
weights up to 1.3e-6 apart (largest weight 0.2), logits along the greedy replies up to 1.5e-5
apart, replies identical on 6 of 6 prompts. The bounds below are about 70x those figures: room for
another CPU's kernels, far below what one example too many or a different order would do (that
moves the loss by ~1e-2 at the first step that differs).
"""

import json
import time
from pathlib import Path

import pytest

from a3.align.finetune.mixture import TrainingExample
from a3.align.finetune.train_job import TrainingFailed, launch_command, run_job
from a3.align.finetune.trainer import LOG_FILE, RESULT_FILE, TrainJob, TrainResult, split_batch, write_training_data

LOSS_TOL = 1e-4  # per step, absolute; measured max 1.4e-6
WEIGHT_TOL = 1e-4  # adapter weights, absolute; measured max 1.3e-6
LOGIT_TOL = 1e-3  # logits along a greedy reply, absolute; measured max 1.5e-5
REPLIES = [
    "I cannot help with that request.",
    "Sure, here is a helpful answer.",
    "Paris is the capital of France.",
    "You are right, thank you.",
]
PROMPTS = [f"Question {i}: what about item {i * 7 % 13}?" for i in range(4)] + [
    "Is it safe?",
    "What is the capital of France?",
]
NEW_TOKENS = 12


def _job(base: Path, work: Path, name: str) -> TrainJob:
    return TrainJob(
        base_model=str(base),
        data_file=str(work / "train.jsonl"),
        output_dir=str(work / name / "adapter"),
        lora_r=8,
        lora_alpha=16,
        learning_rate=1e-2,
        num_epochs=10,
        batch_size=2,
        gradient_accumulation_steps=4,
        max_length=64,
    )


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    """The same job, one process in-process and two processes under accelerate; each result, log and wall time."""
    import torch

    work = tmp_path_factory.mktemp("distributed")
    # 16 examples: a multiple of micro-batch x processes, so no process pads its last batch (see README).
    examples = [
        TrainingExample(
            [
                {"role": "user", "content": f"Question {i}: what about item {i * 7 % 13}?"},
                {"role": "assistant", "content": REPLIES[i % 4]},
            ],
            "harmful",
            "H1",
        )
        for i in range(16)
    ]
    write_training_data(examples, work / "train.jsonl")
    runs = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # as each of the two processes has on two cores; the in-process run otherwise competes with itself
    try:
        for processes in (1, 2):
            job = _job(tiny, work, f"p{processes}")
            started = time.perf_counter()
            result = run_job(job, work / f"p{processes}" / "job.json", processes)
            wall = time.perf_counter() - started
            log = json.loads((Path(job.output_dir) / LOG_FILE).read_text())
            runs[processes] = {"result": result, "log": log, "wall_s": round(wall, 1), "adapter": Path(job.output_dir)}
    finally:
        torch.set_num_threads(threads)
    return tiny, runs


@pytest.mark.slow
def test_two_processes_really_train_data_parallel_with_the_same_global_batch(trained):
    _, runs = trained
    one, two = runs[1], runs[2]
    # The world size the trainer itself saw: a launcher that fell back to one process fails here.
    assert one["result"].world_size == one["log"]["world_size"] == 1
    assert two["result"].world_size == two["log"]["world_size"] == 2
    assert two["log"]["backend"] == "gloo" and two["result"].device == "cpu"
    # Batch 2 x accumulation 4 on one process; batch 2 x accumulation 2 on each of two: 8 examples per step either way.
    assert (one["log"]["per_device_batch"], one["log"]["accumulation"]) == (2, 4)
    assert (two["log"]["per_device_batch"], two["log"]["accumulation"]) == (2, 2)
    assert one["log"]["global_batch"] == two["log"]["global_batch"] == 8
    assert one["result"].steps == two["result"].steps == 20  # 16 examples / 8 per step x 10 epochs
    assert one["result"].train_tokens == two["result"].train_tokens


@pytest.mark.slow
def test_one_and_two_processes_give_the_same_loss_curve(trained):
    _, runs = trained
    curves = [[step["loss"] for step in runs[n]["log"]["steps"]] for n in (1, 2)]
    assert (
        [s["step"] for s in runs[1]["log"]["steps"]]
        == [s["step"] for s in runs[2]["log"]["steps"]]
        == list(range(1, 21))
    )
    assert curves[0][0] - curves[0][-1] > 0.5  # it learned: the comparison is not of two flat lines
    differences = [abs(a - b) for a, b in zip(*curves, strict=False)]
    print(
        f"\nmax loss difference {max(differences):.2e}; wall: 1 process {runs[1]['wall_s']} s, "
        f"2 processes {runs[2]['wall_s']} s"
    )
    assert max(differences) < LOSS_TOL
    assert runs[1]["result"].train_loss == pytest.approx(runs[2]["result"].train_loss, abs=LOSS_TOL)


@pytest.mark.slow
def test_the_two_adapters_match_and_generate_the_same_greedy_replies(trained):
    import torch
    from safetensors.torch import load_file

    base, runs = trained
    weights = [load_file(str(runs[n]["adapter"] / "adapter_model.safetensors")) for n in (1, 2)]
    assert weights[0].keys() == weights[1].keys()
    weight_difference = max((weights[0][k] - weights[1][k]).abs().max().item() for k in weights[0])
    assert weight_difference < WEIGHT_TOL

    replies = {
        name: _greedy(base, adapter)
        for name, adapter in (("base", None), (1, runs[1]["adapter"]), (2, runs[2]["adapter"]))
    }
    # Training changed the replies.
    assert sum(a != b for a, b in zip(replies["base"], replies[1], strict=False)) >= len(PROMPTS) // 2
    same, logit_difference = 0, 0.0
    for (text1, ids1, scores1), (text2, ids2, scores2) in zip(replies[1], replies[2], strict=False):
        if ids1 == ids2:
            same += 1
            logit_difference = max(
                logit_difference,
                *(
                    (a - b)[torch.isfinite(a) & torch.isfinite(b)].abs().max().item()
                    for a, b in zip(scores1, scores2, strict=False)
                ),
            )
            assert logit_difference < LOGIT_TOL
        else:  # allowed only where greedy decoding met a near-tie that float noise can flip
            at = next(i for i, (a, b) in zip(ids1, ids2, strict=False) if a != b)
            top = scores1[at].topk(2).values
            assert (top[0] - top[1]).item() < LOGIT_TOL, f"{text1!r} != {text2!r}"
    print(
        f"\ngreedy replies identical: {same}/{len(PROMPTS)}; max adapter weight difference {weight_difference:.1e}, "
        f"max logit difference {logit_difference:.1e}"
    )


def _greedy(base: Path, adapter: Path | None) -> list[tuple[str, list[int], list]]:
    """Each prompt's greedy reply (NEW_TOKENS tokens, end-of-turn suppressed so every reply has
    content to compare), its token ids and the logits at each step."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    found = []
    for prompt in PROMPTS:
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.no_grad():
            out = model.generate(
                **inputs,
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
            )
        ids = out.sequences[0, inputs["input_ids"].shape[1] :].tolist()
        found.append((tokenizer.decode(ids), ids, [s[0] for s in out.scores]))
    return found


# -- the launch itself, without training -------------------------------------------------------------


def test_the_batch_split_keeps_the_global_batch():
    assert split_batch(2, 4, 1) == (2, 4)
    assert split_batch(2, 4, 2) == (2, 2)  # the accumulation is divided: memory per device as asked
    assert split_batch(2, 4, 4) == (2, 1)
    assert split_batch(2, 1, 2) == (1, 1)  # else a smaller micro-batch
    assert split_batch(2, 3, 2) == (1, 3)
    for batch, accumulation, processes in ((2, 4, 8), (4, 3, 3), (8, 8, 16)):
        micro, steps = split_batch(batch, accumulation, processes)
        assert micro * steps * processes == batch * accumulation
    with pytest.raises(ValueError, match="cannot be split evenly"):
        split_batch(3, 1, 2)


def test_the_cpu_launch_is_torchrun_over_gloo_on_the_loopback(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("GLOO_SOCKET_IFNAME", raising=False)
    command, env = launch_command(tmp_path / "job.json", 2)
    # `--cpu --num_processes 2` would start one process in accelerate 1.15 (see train_job); the torchrun
    # launcher starts two.
    assert "--cpu" not in command and "--multi_gpu" in command
    assert command[command.index("--num_processes") + 1] == "2"
    assert command[command.index("--main_process_ip") + 1] == "127.0.0.1"
    assert (
        env["ACCELERATE_USE_CPU"] == "true" and env["GLOO_SOCKET_IFNAME"] == "lo" and int(env["OMP_NUM_THREADS"]) >= 1
    )
    assert command[-3:] == ["-m", "a3.align.finetune.train_job", str(tmp_path / "job.json")]
    ports = {launch_command(tmp_path / "job.json", 2)[0][command.index("--main_process_port") + 1] for _ in range(5)}
    assert len(ports) > 1  # each launch its own free port, not accelerate's fixed 29500


def test_the_gpu_launch_needs_a_gpu_per_process(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    command, env = launch_command(tmp_path / "job.json", 4)
    assert "--multi_gpu" in command and "ACCELERATE_USE_CPU" not in env  # one process per GPU (NCCL)
    with pytest.raises(TrainingFailed, match="8 training processes need 8 GPUs; 4 are visible"):
        launch_command(tmp_path / "job.json", 8)


def test_a_launch_that_trained_in_one_process_is_refused(monkeypatch, tmp_path):
    """The guard behind the slow tests: a result whose trainer saw fewer processes than launched fails the job."""
    job = TrainJob(base_model="unused", data_file="unused", output_dir=str(tmp_path / "adapter"))

    def one_process(command, env, check, stdout, stderr):  # what `accelerate launch --cpu --num_processes 2` amounts to
        Path(job.output_dir).mkdir(parents=True)
        result = TrainResult(
            output_dir=job.output_dir,
            train_loss=1.0,
            steps=1,
            examples=1,
            train_tokens=1,
            seconds=1.0,
            tokens_per_s=1.0,
            device="cpu",
            world_size=1,
        )
        (Path(job.output_dir) / RESULT_FILE).write_text(result.model_dump_json())
        return type("Completed", (), {"returncode": 0})()

    monkeypatch.setattr("a3.align.finetune.train_job.subprocess.run", one_process)
    with pytest.raises(TrainingFailed, match="trained by 1 process"):
        run_job(job, tmp_path / "job.json", 2)


def test_a_failed_training_says_why_with_the_end_of_its_log(tmp_path):
    """The trainer's output goes to job.log beside the job file; the error carries its last lines."""
    job = TrainJob(base_model=str(tmp_path / "no-such-model"), data_file="unused", output_dir=str(tmp_path / "out"))
    with pytest.raises(TrainingFailed) as failure:
        run_job(job, tmp_path / "job.json")
    message = str(failure.value)
    assert "training failed (exit 1)" in message and f"last lines of {tmp_path / 'job.log'}:" in message
    assert "no-such-model" in message.split("last lines of", 1)[1]  # the trainer's complaint, not only the exit
    assert not (tmp_path / "out" / RESULT_FILE).exists()


def test_a_global_batch_that_cannot_be_split_fails_before_launching(monkeypatch, tmp_path):
    monkeypatch.setattr("a3.align.finetune.train_job.subprocess.run", lambda *a, **k: pytest.fail("launched"))
    job = TrainJob(
        base_model="unused",
        data_file="unused",
        output_dir=str(tmp_path / "adapter"),
        batch_size=3,
        gradient_accumulation_steps=1,
    )
    with pytest.raises(TrainingFailed, match="cannot be split evenly over 2 processes"):
        run_job(job, tmp_path / "job.json", 2)


@pytest.mark.parametrize("flag", ["--num-processes", "--num-gpus"])
def test_num_processes_and_its_alias_num_gpus_reach_the_finetuning_stage(monkeypatch, tmp_path, flag):
    from typer.testing import CliRunner

    from a3.cli.main import app

    seen = []

    class Session:
        config = run = client = None

        @staticmethod
        def work(job):
            return job(None)

    monkeypatch.setattr("a3.cli.stages_cmd.open_session", lambda *a, **k: Session())
    monkeypatch.setattr("a3.cli.stages_cmd.print_finetune", lambda summary: None)
    monkeypatch.setattr(
        "a3.align.finetune.stage.run_finetune", lambda config, run, client, options, bars: seen.append(options.num_gpus)
    )
    result = CliRunner().invoke(app, ["finetune", "--run-dir", str(tmp_path / "run"), flag, "2"])
    assert result.exit_code == 0, result.output
    monkeypatch.setattr("a3.cli.run_cmd.open_session", lambda *a, **k: Session())
    monkeypatch.setattr(
        "a3.align.pipeline.run_pipeline",
        lambda config, run, client, options, bars: (
            seen.append(options.finetune.num_gpus) or type("Results", (), {"finetune": None})()
        ),
    )
    result = CliRunner().invoke(app, ["run", "--run-dir", str(tmp_path / "run"), flag, "2"])
    assert result.exit_code == 0, result.output
    assert seen == [2, 2]
