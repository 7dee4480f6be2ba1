"""Reading a task list from step 1: ours, or any of the three shapes the original accepted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a3.errors import UserInputError
from a3.meta.runs import DEFAULT_PERTURBATION_MODEL, RunId, sanitise


@dataclass(frozen=True)
class RunRef:
    """A run and where its files are: the run tree root, or a benchmark example folder."""

    run: RunId
    base_dir: Path
    benchmark_example_dir: Path | None = None


@dataclass(frozen=True)
class TaskList:
    path: Path
    metadata: dict[str, Any]
    runs: list[RunRef]


def load_task_list(
    path: str | Path,
    *,
    agent: str | None = None,
    perturbation_model: str | None = None,
    refinement_model_filter: str | None = None,
    base_dir: str | Path | None = None,
) -> TaskList:
    """Flags override the task list's metadata; the metadata is used when a flag is not given."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{path}: task list not found") from None
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read the task list: {exc}") from None
    meta = data.get("metadata", {}) if isinstance(data, dict) else {}
    agent = agent or meta.get("agent")
    perturbation_model = perturbation_model or meta.get("perturbation_model") or DEFAULT_PERTURBATION_MODEL
    root = _root(path, base_dir, meta)
    wanted = sanitise(refinement_model_filter) if refinement_model_filter else None

    try:
        refs = _refs(data, path, root, agent, perturbation_model, wanted)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserInputError(f"{path}: not a valid task list: {exc}") from None
    seen: set[RunId] = set()
    unique = []
    for ref in refs:
        if (wanted is None or ref.run.refinement_model == wanted) and ref.run not in seen:
            seen.add(ref.run)
            unique.append(ref)
    return TaskList(path=path, metadata=meta, runs=unique)


def _refs(data: Any, path: Path, root: Path, agent: str | None, perturbation_model: str, wanted: str | None) -> list[RunRef]:
    refs: list[RunRef] = []
    if isinstance(data, dict) and "task_details_by_refinement_model" in data:
        for model, details in data["task_details_by_refinement_model"].items():
            for detail in details:
                if "run_id" in detail:
                    run = RunId.parse(detail["run_id"])
                else:
                    run = RunId(detail["domain"], detail["task_id"], perturbation_model, detail["perturbed_id"], model, _need(agent, path))
                example = detail.get("benchmark_example_dir")
                refs.append(RunRef(run, root, Path(example) if example else None))
    elif isinstance(data, dict) and "task_lists_by_refinement_model" in data:
        for model, specs in data["task_lists_by_refinement_model"].items():
            refs += [RunRef(_from_spec(spec, model, perturbation_model, _need(agent, path), path), root) for spec in specs]
    elif isinstance(data, dict) and "task_list" in data:
        if wanted is None:
            raise UserInputError(f"{path}: a flat 'task_list' names no refinement model; pass --refinement_model_filter")
        refs = [RunRef(_from_spec(spec, wanted, perturbation_model, _need(agent, path), path), root) for spec in data["task_list"]]
    else:
        raise UserInputError(f"{path}: not a task list (expected task_details_by_refinement_model, task_lists_by_refinement_model or task_list)")
    return refs


def _root(path: Path, base_dir: str | Path | None, meta: dict[str, Any]) -> Path:
    if base_dir is not None:
        return Path(base_dir).resolve()
    recorded = meta.get("base_dir")
    if recorded:
        candidate = Path(recorded)
        # The original recorded base_dir relative to where step 1 ran, which is where it wrote the list.
        return candidate if candidate.is_absolute() else (path.parent / candidate).resolve()
    return (path.parent / "perturbed_queries").resolve()


def _need(agent: str | None, path: Path) -> str:
    if not agent:
        raise UserInputError(f"{path}: the task list does not name its agent; pass --agent")
    return agent


def _from_spec(spec: str, model: str, perturbation_model: str, agent: str, path: Path) -> RunId:
    parts = spec.split(":")
    if len(parts) != 3:
        raise UserInputError(f"{path}: task spec {spec!r} is not 'domain:task_id:perturbed_id'")
    return RunId(parts[0], parts[1], perturbation_model, parts[2], model, agent)
