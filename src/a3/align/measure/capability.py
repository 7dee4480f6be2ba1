"""Capability benchmarks: multiple-choice files (MMLU-Pro or GPQA style) run as inspect_ai tasks.

Three row shapes are read, from JSONL or CSV:

- MMLU-Pro style: ``question``, ``options`` (list), ``answer`` (a letter) or ``answer_index``;
- GPQA style: ``Question``, ``Correct Answer``, ``Incorrect Answer 1..3`` (choices are shuffled
  with a per-question seed, so every model sees the same order);
- generic: ``question``, ``choices`` (list), ``answer`` (a letter or an index).

An API model answers through A3's model layer (``a3.llm.inspect_bridge``) and inspect's
``multiple_choice`` solver and ``choice`` scorer grade it; each run leaves an inspect eval log. A
model whose weights are here (local and hf targets, their adapters) is scored by the
log-likelihood of each choice instead (``a3.align.measure.loglik``), with its answers kept in a JSON file;
``capability.method`` chooses. A benchmark that fails to run is recorded as missing, never as 0%.
"""

from __future__ import annotations

import asyncio
import csv
import random
import string
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from a3.align.data_files import read_items
from a3.align.measure.loglik import weights_of
from a3.config.schema import Capability
from a3.errors import UserInputError
from a3.llm import CallConfig, LLMClient
from a3.store import JsonObject, atomic_write_json
from a3.store.hashing import file_sha256

LETTERS = string.ascii_uppercase


class Question(BaseModel):
    id: str
    question: str
    choices: list[str]
    answer: str  # a letter


class BenchmarkScore(BaseModel):
    """One model's score on one capability benchmark; a benchmark that failed is missing, never 0%."""

    name: str
    status: str  # "ok" or "error"
    accuracy: float | None = None
    correct: int = 0
    total: int = 0
    error: str | None = None
    log: str | None = None
    answers: dict[str, bool] | None = None  # question id -> answered correctly (scored by likelihood), for paired tests


class CapabilityScores(BaseModel):
    """One model's scores on every configured capability benchmark."""

    benchmarks: dict[str, BenchmarkScore]

    @property
    def overall(self) -> float | None:
        """Unweighted mean over benchmarks; None when any benchmark is missing."""
        values = [b.accuracy for b in self.benchmarks.values()]
        scores = [v for v in values if v is not None]
        if not values or len(scores) < len(values):
            return None
        return sum(scores) / len(scores)


def load_questions(path: str | Path, field: str = "capability.benchmarks") -> list[Question]:
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{field}: benchmark file {path} does not exist")
    rows = _read_rows(path, field)
    if not rows:
        raise UserInputError(f"{path}: no questions")
    return [_question(row, index, path) for index, row in enumerate(rows, start=1)]


def benchmark_fingerprint(files: dict[str, str]) -> JsonObject:
    """The files' content hashes (``files``: benchmark name -> file), so a changed file re-runs
    the evaluations."""
    return {name: file_sha256(Path(path)) if Path(path).is_file() else "missing" for name, path in files.items()}


def check_benchmark_files(capability: Capability) -> None:
    """Read every configured benchmark file, so that a missing or malformed one stops a stage
    before any model is trained (UserInputError naming the file, and the field where it is missing)."""
    for field, files in (("benchmarks", capability.benchmarks), ("sealed_benchmarks", capability.sealed_benchmarks)):
        for name, path in files.items():
            load_questions(path, f"capability.{field}.{name}")


async def evaluate_capability(
    client: LLMClient, model: CallConfig, capability: Capability, log_dir: Path, max_connections: int = 16
) -> CapabilityScores:
    """Every benchmark of the config on one model. A benchmark that errors is kept as missing."""
    scores = {}
    for name, path in capability.benchmarks.items():
        questions = load_questions(path, f"capability.benchmarks.{name}")
        if capability.limit and len(questions) > capability.limit:
            questions = random.Random(capability.seed).sample(questions, capability.limit)
        weights = weights_of(model) if capability.method != "generate" else None
        if capability.method == "loglik" and weights is None:
            raise UserInputError(
                f"capability.method: 'loglik' needs the model's weights here; {model.model} is served "
                "elsewhere (use 'generate' or 'auto')"
            )
        if weights is not None:
            scores[name] = await _score_by_likelihood(name, questions, *weights, log_dir)
        else:
            scores[name] = await _run_benchmark(client, model, name, questions, capability, log_dir, max_connections)
    return CapabilityScores(benchmarks=scores)


async def _score_by_likelihood(
    name: str, questions: list[Question], folder: Path, adapter: Path | None, log_dir: Path
) -> BenchmarkScore:
    from a3.align.measure.loglik import choose_by_likelihood

    try:
        scores = await asyncio.to_thread(
            choose_by_likelihood, folder, adapter, [(q.question, q.choices) for q in questions]
        )
    except Exception as exc:  # noqa: BLE001 - a benchmark failure is recorded, not fatal
        return BenchmarkScore(name=name, status="error", error=f"{type(exc).__name__}: {exc}")
    answers = [LETTERS[max(range(len(row)), key=row.__getitem__)] for row in scores]
    correct = sum(answer == q.answer for answer, q in zip(answers, questions, strict=False))
    log = log_dir / f"{name}_loglik.json"
    atomic_write_json(
        log,
        {
            "method": "loglik",
            "weights": str(folder),
            "adapter": str(adapter) if adapter else None,
            "questions": [
                {"id": q.id, "answer": q.answer, "chosen": a, "scores": [round(s, 4) for s in row]}
                for q, a, row in zip(questions, answers, scores, strict=False)
            ],
        },
    )
    return BenchmarkScore(
        name=name,
        status="ok",
        accuracy=correct / len(questions),
        correct=correct,
        total=len(questions),
        log=str(log),
        answers={q.id: a == q.answer for q, a in zip(questions, answers, strict=False)},
    )


async def _run_benchmark(
    client: LLMClient,
    model: CallConfig,
    name: str,
    questions: list[Question],
    capability: Capability,
    log_dir: Path,
    max_connections: int,
) -> BenchmarkScore:
    from inspect_ai import Task, eval_async
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.scorer import choice
    from inspect_ai.solver import multiple_choice
    from inspect_ai.util._display import init_display_type

    from a3.llm.inspect_bridge import inspect_model, release

    init_display_type("none")  # A3 shows its own progress; inspect's console display would interleave
    dataset = MemoryDataset([Sample(id=q.id, input=q.question, choices=q.choices, target=q.answer) for q in questions])
    task = Task(dataset=dataset, solver=multiple_choice(), scorer=choice(), name=name)
    call = model.model_copy(update={"temperature": 0.0, "max_tokens": capability.max_tokens})
    inspect = inspect_model(client, call, max_connections)
    try:
        logs = await eval_async(
            task,
            model=inspect,
            log_dir=str(log_dir),
            log_format="json",
            fail_on_error=False,
            max_connections=max_connections,
        )
    except Exception as exc:  # noqa: BLE001 - a benchmark failure is recorded, not fatal
        return BenchmarkScore(name=name, status="error", error=f"{type(exc).__name__}: {exc}")
    finally:
        release(inspect)
    log = logs[0]
    samples = log.samples or []
    scored = [s for s in samples if s.error is None and s.scores]
    if log.status != "success" or not scored:
        error = (
            str(log.error.message) if log.error else f"{len(samples) - len(scored)} of {len(samples)} samples failed"
        )
        return BenchmarkScore(name=name, status="error", error=error, log=log.location)
    correct = sum(1 for s in scored if s.scores and next(iter(s.scores.values())).value == "C")
    return BenchmarkScore(
        name=name, status="ok", accuracy=correct / len(scored), correct=correct, total=len(scored), log=log.location
    )


def _read_rows(path: Path, field: str) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    if path.suffix not in (".jsonl", ".json"):
        raise UserInputError(f"{field}: {path} should be .jsonl, .json or .csv")
    return read_items(path, field, ("questions",))


def _question(row: dict[str, Any], index: int, path: Path) -> Question:
    where = f"{path}, question {index}"
    qid = str(row.get("question_id") or row.get("id") or index)
    if "Correct Answer" in row:  # GPQA style
        wrong = [row[k] for k in sorted(row) if k.startswith("Incorrect Answer") and row[k]]
        choices = [row["Correct Answer"], *wrong]
        random.Random(f"{qid}:{row['Question']}").shuffle(choices)
        return Question(
            id=qid,
            question=row["Question"].strip(),
            choices=[c.strip() for c in choices],
            answer=LETTERS[choices.index(row["Correct Answer"])],
        )
    question = row.get("question")
    options = row.get("options", row.get("choices"))
    if not isinstance(question, str) or not question.strip():
        raise UserInputError(f"{where}: field 'question' is missing or empty")
    if not isinstance(options, list) or len(options) < 2:
        raise UserInputError(f"{where}: field 'options' (or 'choices') must list at least two answers")
    answer = row.get("answer")
    if "answer_index" in row:
        position: int | None = int(row["answer_index"])
    elif isinstance(answer, int):
        position = int(answer)
    else:
        position = None
    if position is not None:
        if not 0 <= position < len(options):
            raise UserInputError(f"{where}: answer index {position} is out of range")
        letter = LETTERS[position]
    elif isinstance(answer, str) and answer.strip().upper() in LETTERS[: len(options)]:
        letter = answer.strip().upper()
    else:
        raise UserInputError(f"{where}: field 'answer' must be a letter A-{LETTERS[len(options) - 1]} or an index")
    return Question(id=qid, question=question.strip(), choices=[str(c) for c in options], answer=letter)
