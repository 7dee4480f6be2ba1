"""Reading an alignment run directory into the facts its report shows.

Everything comes from files the stages wrote (config, stage manifests, splits, summaries, the
cost ledger, the judge's verdicts); a stage that has not run yet is simply absent from the report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from a3 import __version__
from a3.errors import UserInputError
from a3.align.judge_validation import JudgeValidation, load_validation
from a3.llm.local import CATALOG
from a3.stats import PairedComparison, paired_comparison
from a3.store import read_json, read_records
from a3.store.ledger import read_ledger

SPLITS = ("train", "validation", "ood", "test")
STAGE_ORDER = ("generate", "split", "expected", "general", "finetune")


@dataclass(frozen=True)
class Point:
    """One model measured on one split: a row of the comparison and a dot on the Pareto plot."""

    method: str  # "base", "A3", "fixed mixing", ...
    name: str  # "base model", "iteration 3", "dolci15_harmful50_benign50"
    split: str  # "validation" or "ood"
    sfr: float | None
    fpr: float | None
    highlight: bool = False  # the chosen iteration


@dataclass(frozen=True)
class JudgeCheck:
    description: str  # how the run's judge decides, per kind
    validation: JudgeValidation | None
    current: bool  # the validation was made for the judge this run's config describes


@dataclass
class ReportData:
    run: Path
    created_at: str
    a3_version: str
    attack: dict[str, str]
    models: dict[str, str]  # role -> model string
    model_versions: dict[str, str]  # local model -> weights sha256
    prompt_versions: dict[str, str]
    stages: list[dict[str, Any]]
    hypotheses: list[dict[str, Any]]
    split_sizes: dict[str, dict[str, int]]
    split_by: str  # how stage 2 split the data: "hypothesis" or "query"
    iterations: list[dict[str, Any]]
    selection: dict[str, Any]
    comparison: list[dict[str, Any]]  # per method/model: validation and OOD rates, test where measured
    points: list[Point]
    test: dict[str, Any] | None
    costs: dict[str, Any]
    judge: dict[str, int]
    judge_check: JudgeCheck | None = None  # the judge's validation against labels, and whether it holds for this run
    paired_test: dict[str, PairedComparison] = field(default_factory=dict)  # kind -> base vs chosen on the sealed test
    dropped: dict[str, int] = field(default_factory=dict)  # queries the quality gate refused, by reason
    notes: list[str] = field(default_factory=list)
    defences: list[dict[str, Any]] = field(default_factory=list)  # what each prompt defence put before the target


def collect(run_dir: str | Path) -> ReportData:
    run = Path(run_dir)
    if not (run / "stages").is_dir():
        raise UserInputError(f"{run}: not a run directory (no stages/ folder); give the folder `a3 run` wrote")
    manifests = {p.stem: _read(p) for p in sorted((run / "stages").glob("*.json"))}
    if not set(manifests) & set(STAGE_ORDER):
        raise UserInputError(f"{run}: no alignment stage has run here (stages: {', '.join(sorted(manifests)) or 'none'}); "
                             "a meta-analysis run has its report from `a3 meta report`")
    config = _read(run / "config.json") or {}
    assignment = _read(run / "splits" / "split_assignment.json") or {}
    split_of: dict[str, str] = {}
    for name in SPLITS:  # by query, an in-distribution hypothesis is in train, validation and test
        for h in assignment.get(name, []):
            split_of[h] = f"{split_of[h]}, {name}" if h in split_of else name
    finetune = _read(run / "finetune" / "summary.json") or {}
    iterations = read_records(run / "finetune" / "iterations.jsonl", key="iteration")
    selection = {**finetune.get("selection", {}), "fallbacks": finetune.get("fallbacks") or {}}
    baseline = _read(run / "splits" / "baseline.json") or {}
    test = _test_results(run)
    comparison, points = _comparison(run, baseline, iterations, selection, test)
    models = _models(config, manifests)
    return ReportData(
        run=run,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        a3_version=__version__,
        attack={"name": config.get("attack", {}).get("name", run.name), "description": config.get("attack", {}).get("description", "")},
        models=models,
        model_versions={m: CATALOG[m.split("/", 1)[1]].sha256 for m in models.values()
                        if m.startswith("local/") and m.split("/", 1)[1] in CATALOG},
        prompt_versions={k: v for m in manifests.values() for k, v in (m.get("prompt_versions") or {}).items()},
        stages=[_stage_row(name, manifests[name]) for name in sorted(manifests, key=_stage_order)],
        hypotheses=_hypotheses(run, split_of),
        split_sizes=_split_sizes(run, assignment),
        split_by=assignment.get("by", "hypothesis"),
        iterations=[_iteration_row(i, selection) for i in iterations],
        selection=selection,
        comparison=comparison,
        defences=_defences(run),
        points=points,
        test=test,
        costs=_costs(run),
        judge=_judge_validity(run),
        judge_check=_judge_check(run, config),
        paired_test=_paired_test(run, test),
        dropped=((_read(run / "generation" / "summary.json") or {}).get("dropped") or {}),
    )


def _read(path: Path) -> Any:
    return read_json(path) if path.exists() else None


def _stage_order(name: str) -> int:
    return STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER)


def _models(config: dict[str, Any], manifests: dict[str, Any]) -> dict[str, str]:
    models = {role: model for m in manifests.values() for role, model in (m.get("models") or {}).items()}
    for role, section in (("target", "target_model"), ("judge", "judge_model")):
        name = (config.get(section) or {}).get("model_name")
        if name and role not in models:
            models[role] = name
    return models


def _stage_row(name: str, manifest: dict[str, Any]) -> dict[str, Any]:
    usage = manifest.get("usage") or {}
    return {"stage": name, "status": manifest.get("status"), "finished_at": manifest.get("finished_at"),
            "duration_s": manifest.get("duration_s"), "calls": usage.get("calls", 0), "cost_usd": usage.get("cost_usd", 0.0)}


def _hypotheses(run: Path, split_of: dict[str, str]) -> list[dict[str, Any]]:
    summary = _read(run / "generation" / "summary.json") or {}
    rows = []
    for h in summary.get("hypotheses", []):
        rows.append({"id": h["id"], "round": h.get("round"), "change_type": h.get("change_type"), "basis": h.get("basis_example"),
                     "split": split_of.get(h["id"], "—"), "text": h.get("hypothesis", ""), "sfr": h.get("sfr"), "fpr": h.get("fpr"),
                     "harmful": h.get("harmful", {}).get("judged", 0), "benign": h.get("benign", {}).get("judged", 0)})
    return rows


def _split_sizes(run: Path, assignment: dict[str, Any]) -> dict[str, dict[str, int]]:
    files = {"train": "training_split.json", "validation": "validation_split.json", "ood": "ood_split.json",
             "test": "sealed/test_split.json"}
    sizes = {}
    for name, file in files.items():
        split = _read(run / "splits" / file)
        if split is None:
            continue
        kinds = [q["kind"] for q in split.get("queries", [])]
        sizes[name] = {"hypotheses": len(assignment.get(name, split.get("hypotheses", []))),
                       "harmful": kinds.count("harmful"), "benign": kinds.count("benign")}
    return sizes


def _iteration_row(record: dict[str, Any], selection: dict[str, Any]) -> dict[str, Any]:
    plan = record.get("plan", {})
    capability = record.get("capability") or {}
    return {
        "iteration": record["iteration"],
        "learning_rate": plan.get("learning_rate"), "lora_r": plan.get("lora_r"), "lora_alpha": plan.get("lora_alpha"),
        "num_epochs": plan.get("num_epochs"), "general_pct": plan.get("general_data_percentage"),
        "examples": (record.get("counts") or {}).get("total"),
        "train_loss": (record.get("train") or {}).get("train_loss"),
        "val_sfr": _rate(record, "validation", "sfr"), "val_fpr": _rate(record, "validation", "fpr"),
        "ood_sfr": _rate(record, "ood", "sfr"), "ood_fpr": _rate(record, "ood", "fpr"),
        "capability": {name: score.get("accuracy") for name, score in capability.items() if isinstance(score, dict)},
        "capability_drop": record.get("capability_drop"),
        "on_front": record["iteration"] in selection.get("pareto_front", []),
        "chosen": record["iteration"] == selection.get("chosen"),
        "clamps": record.get("clamps", []),
    }


def _rate(record: dict[str, Any], split: str, rate: str) -> float | None:
    return (record.get(split) or {}).get(rate)


def _test_results(run: Path) -> dict[str, Any] | None:
    chosen = _read(run / "finetune" / "sealed" / "test_results.json")
    if chosen is None:
        return None
    base = _read(run / "splits" / "sealed" / "test_baseline.json") or {}
    return {"iteration": chosen["iteration"], "sfr": chosen["test"]["sfr"], "fpr": chosen["test"]["fpr"],
            "base_sfr": base.get("sfr"), "base_fpr": base.get("fpr"), "metrics": chosen["test"], "base_metrics": base}


def _comparison(run: Path, baseline: dict[str, Any], iterations: list[dict[str, Any]], selection: dict[str, Any],
                test: dict[str, Any] | None) -> tuple[list[dict[str, Any]], list[Point]]:
    """Every measured model, each with its validation and OOD rates (and test where measured)."""
    rows: list[dict[str, Any]] = []
    if baseline:
        rows.append({"method": "base", "name": "base model", "validation": baseline.get("validation", {}),
                     "ood": baseline.get("ood", {}), "test": test["base_metrics"] if test else None})
    for record in iterations:
        chosen = record["iteration"] == selection.get("chosen")
        rows.append({"method": "A3", "name": f"iteration {record['iteration']}", "validation": record.get("validation") or {},
                     "ood": record.get("ood") or {}, "chosen": chosen,
                     "test": test["metrics"] if test and chosen else None})
    for record in read_records(run / "baselines" / "fixed-mix" / "results.jsonl", key="name"):
        rows.append({"method": "fixed mixing", "name": record["name"], "validation": record.get("validation") or {},
                     "ood": record.get("ood") or {}, "test": record.get("test")})
    for path in sorted((run / "defences" / "icl").glob("*/summary.json")):
        summary = read_json(path)
        chosen = next((r for r in summary["iterations"] if r["iteration"] == summary["selection"]["chosen"]), None)
        if chosen is not None:
            rows.append({"method": "ICL", "name": f"{summary['method']}, trial {summary['trial']}: iteration {chosen['iteration']}",
                         "validation": chosen["validation"], "ood": chosen["ood"], "test": summary.get("test")})
    for path in sorted((run / "defences" / "dspy").glob("*/results.json")):
        record = read_json(path)
        rows.append({"method": "DSPy", "name": f"GEPA, {record['name']}", "validation": record["validation"],
                     "ood": record["ood"], "test": record.get("test")})
    for path in sorted((run / "evaluations").glob("*/results.json")):
        record = read_json(path)
        rows.append({"method": "evaluated", "name": record["name"], "validation": record.get("validation") or {},
                     "ood": record.get("ood") or {}, "test": None})
    points = [Point(row["method"], row["name"], split, row[split].get("sfr"), row[split].get("fpr"), bool(row.get("chosen")))
              for row in rows for split in ("validation", "ood", "test") if row.get(split)]
    return rows, points


def _defences(run: Path) -> list[dict[str, Any]]:
    """The prompt each DSPy program was optimised to, and the examples of each ICL trial's chosen iteration."""
    found = []
    for path in sorted((run / "defences" / "dspy").glob("*/results.json")):
        record = read_json(path)
        prompt = _read(path.parent / "optimized_prompt.json") or {}
        found.append({"method": "DSPy", "name": record["name"], "budget": record["budget"], "metric_calls": record["metric_calls"],
                      "candidates": len(prompt.get("candidates", [])), "unparsed": record["unparsed_responses"],
                      "instructions": record["instructions"]})
    for path in sorted((run / "defences" / "icl").glob("*/summary.json")):
        summary = read_json(path)
        chosen = summary["selection"]["chosen"]
        selection = _read(path.parent / f"iter-{chosen:02d}" / "selection.json") if chosen else None
        if selection is not None:
            found.append({"method": "ICL", "name": f"{summary['method']}, trial {summary['trial']}", "iteration": chosen,
                          "examples": selection["example_ids"], "reasoning": selection["reasoning"]})
    return found


def _costs(run: Path) -> dict[str, Any]:
    """Calls, tokens and dollars from the ledger, per stage and per model."""
    by_stage: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_model: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for entry in read_ledger(run / "ledger.jsonl"):
        for table, key in ((by_stage, entry.get("stage") or "—"), (by_model, entry.get("model") or "—")):
            row = table[key]
            row["calls"] += 1
            row["cached"] += bool(entry.get("cached"))
            row["input_tokens"] += entry.get("input_tokens") or 0
            row["output_tokens"] += entry.get("output_tokens") or 0
            row["cost_usd"] += entry.get("cost_usd") or 0.0
    total = sum(row["cost_usd"] for row in by_stage.values())
    return {"by_stage": {k: dict(v) for k, v in by_stage.items()}, "by_model": {k: dict(v) for k, v in by_model.items()},
            "total_usd": total}


def _judge_check(run: Path, config: dict[str, Any]) -> JudgeCheck | None:
    from a3.align.judge import config_judge_identity, describe_judge
    from a3.config import A3Config
    from a3.store import RunDir

    try:
        parsed = A3Config.model_validate(config)
    except ValueError:
        return None  # a config this version cannot read: the report says nothing rather than guess
    validation = load_validation(RunDir(run))
    current = validation is not None and validation.judge == config_judge_identity(parsed)
    return JudgeCheck(description=describe_judge(parsed), validation=validation, current=current)


def _paired_test(run: Path, test: dict[str, Any] | None) -> dict[str, PairedComparison]:
    """Base model and chosen adapter on the same sealed test queries, per kind, for a paired test."""
    if test is None:
        return {}
    queries = (_read(run / "splits" / "sealed" / "test_split.json") or {}).get("queries", [])
    base = {r["id"]: r for r in read_records(run / "generation" / "verdicts.jsonl")}
    chosen = {r["id"]: r for r in read_records(run / "finetune" / "sealed" / "test_eval" / "verdicts.jsonl")}
    result = {}
    for kind in ("harmful", "benign"):
        pairs = [(base[q["id"]]["flagged"], chosen[q["id"]]["flagged"]) for q in queries
                 if q["kind"] == kind and base.get(q["id"], {}).get("status") == "ok"
                 and chosen.get(q["id"], {}).get("status") == "ok"]
        if pairs:
            result[kind] = paired_comparison([b for b, _ in pairs], [a for _, a in pairs])
    return result


def _judge_validity(run: Path) -> dict[str, int]:
    """How many judge verdicts validated (at all, and at the first try) among those asked of the judge."""
    counts = {"asked": 0, "valid": 0, "first_try": 0}
    for path in run.rglob("verdicts.jsonl"):
        for verdict in read_records(path):
            if verdict.get("status") == "target_error":
                continue  # nothing was asked of the judge
            counts["asked"] += 1
            if verdict.get("status") == "ok":
                counts["valid"] += 1
                counts["first_try"] += verdict.get("repairs", 0) == 0
    return counts
