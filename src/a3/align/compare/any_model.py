"""``a3 evaluate``: any model (an API model, a served one, or a local adapter) answering the run's
validation and OOD queries, judged exactly as the target and every A3 iteration are.

Like the original comparison scripts, all validation queries are used and OOD queries are
subsampled (100 harmful and 100 benign by default, seeded), so frontier models cost little; the
chosen query ids are kept, and a re-run with other sampling settings is refused rather than mixed.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from a3.align import layout
from a3.align.measure.evaluation import Subject, evaluate_model
from a3.align.measure.judge import Judge, JudgeIdentity
from a3.align.measure.serving import base_weights, served_model
from a3.align.metrics import Metrics
from a3.align.records import Query
from a3.align.roles import Roles, resolve_roles
from a3.align.split import load_split
from a3.config import A3Config
from a3.config.schema import TargetModel
from a3.errors import UserInputError
from a3.llm import CallConfig, LLMClient
from a3.llm.naming import resolve_model
from a3.progress import Progress
from a3.store import RunDir, atomic_write_json, ledger_label, pin_settings


class EvaluateOptions(BaseModel):
    """Options of `a3 evaluate`: which model (or LoRA adapter) answers the run's sets, and how many OOD queries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = None  # any model string; None with ``adapter`` means the config's base weights
    adapter: Path | None = None  # a LoRA adapter folder on the target's base weights
    name: str | None = None  # the row's name in reports [default: the model string or the adapter folder]
    ood_sample: int | None = 100  # OOD queries of each kind (None: all)
    seed: int = 42
    use_vllm: bool | None = None  # for an adapter: vLLM when it is installed with a GPU


class EvaluationSettings(BaseModel):
    """What an evaluation's results were made with; a re-run with others is refused."""

    name: str
    model: str
    adapter: str | None
    ood_sample: int | None
    seed: int
    temperature: float | None
    max_tokens: int | None
    judge: JudgeIdentity  # the judge's identity (models, prompts, rules)


class EvaluationResult(EvaluationSettings):
    """``evaluations/<name>/results.json``."""

    queries: dict[str, list[str]]  # split -> the query ids measured
    validation: Metrics
    ood: Metrics


def evaluation_name(options: EvaluateOptions) -> str:
    if options.name:
        return options.name
    if options.adapter is not None:
        return f"adapter {options.adapter.resolve().name}"
    if options.model:
        return options.model
    raise UserInputError("--model or --adapter: say which model to evaluate")


def sample_ood(queries: list[Query], per_kind: int | None, seed: int) -> list[Query]:
    """Up to ``per_kind`` harmful and ``per_kind`` benign queries, a seeded random choice, in
    their original order."""
    if per_kind is None:
        return list(queries)
    rng = random.Random(seed)
    kept: set[str] = set()
    for kind in ("harmful", "benign"):
        ids = [q.id for q in queries if q.kind == kind]
        kept.update(ids if len(ids) <= per_kind else rng.sample(ids, per_kind))
    return [q for q in queries if q.id in kept]


def target_for(target_model: TargetModel, roles: Roles, options: EvaluateOptions) -> CallConfig:
    """A model sampled like the target (its temperature, token limit and timeout); an adapter is
    served exactly as stage 4 serves its iterations, on ``target_model``'s weights unless
    ``options.model`` names others."""
    if options.adapter is not None:
        if not (options.adapter / "adapter_config.json").exists():
            raise UserInputError(f"--adapter: {options.adapter} is not a LoRA adapter folder (no adapter_config.json)")
        base = Path(options.model) if options.model else base_weights(target_model)
        label = _slug(evaluation_name(options))
        return served_model(roles.evaluated_target, base, options.adapter, label, options.use_vllm)
    model, args = resolve_model(options.model or "", field="--model")
    return roles.target.model_copy(update={"model": model, "model_args": args})


async def evaluate_any(
    config: A3Config, run: RunDir, client: LLMClient, options: EvaluateOptions, progress: Progress | None = None
) -> EvaluationResult:
    """Validation and OOD metrics of one model, kept in ``evaluations/<name>/``."""
    name = evaluation_name(options)
    if not (run.path / layout.SPLIT_FILES["validation"]).exists():
        raise UserInputError(f"{run.path}: run `a3 split` first (there are no validation and OOD splits)")
    folder = f"{layout.EVALUATIONS}/{_slug(name)}"
    roles = resolve_roles(config)
    target = target_for(config.target_model, roles, options)
    judge = Judge(client, roles.judge)
    settings = EvaluationSettings(
        name=name,
        model=target.model,
        adapter=str(options.adapter) if options.adapter else None,
        ood_sample=options.ood_sample,
        seed=options.seed,
        temperature=target.temperature,
        max_tokens=target.max_tokens,
        judge=judge.identity(),
    )
    pin_settings(
        run.path / folder / layout.SETTINGS,
        settings.model_dump(mode="json"),
        f"{run.path / folder}: {name} was evaluated with other settings; "
        "pass --name to keep both, or delete the folder",
    )
    query_sets = {
        "validation": load_split(run, "validation"),
        "ood": sample_ood(load_split(run, "ood"), options.ood_sample, options.seed),
    }
    with ledger_label("evaluate"):
        metrics = await evaluate_model(
            run, Subject(client, target, "evaluated", name), judge, query_sets, folder, progress, name
        )
    client.release(target)
    result = EvaluationResult(
        **settings.model_dump(),
        queries={split: [q.id for q in queries] for split, queries in query_sets.items()},
        validation=metrics["validation"],
        ood=metrics["ood"],
    )
    atomic_write_json(run.path / folder / layout.EVALUATION_RESULTS, result.model_dump(mode="json"))
    return result


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"
