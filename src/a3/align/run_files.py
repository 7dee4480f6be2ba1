"""The typed reader of an alignment run folder: each file the stages write, as its record type.

What a stage has not written yet is None (or empty); a file this version cannot read raises
pydantic's ValidationError, which the caller turns into an error naming the run. The report reads
a run only through here."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from a3.align import layout
from a3.align.compare.any_model import EvaluationResult
from a3.align.compare.dspy.defence import DspyResult, OptimisedPrompt
from a3.align.compare.fixed_mix import FixedMixRecord
from a3.align.compare.icl import IclSelection, IclSummary, trial_folder
from a3.align.finetune.records import ChosenTest, FinetuneSummary, IterationRecord
from a3.align.generate.stage import GenerationSummary
from a3.align.measure.judge_validation import JudgeValidation, load_validation
from a3.align.metrics import Metrics
from a3.align.records import Query, TargetResponse, Verdict
from a3.align.split import SplitAssignment, SplitFile, load_assignment, load_baseline, read_split
from a3.config import A3Config
from a3.store import RunDir, StageManifest, read_json, read_records

M = TypeVar("M", bound=BaseModel)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _AttackOutline(_Lenient):
    name: str | None = None
    description: str = ""


class _ModelOutline(_Lenient):
    model_name: str | None = None


class _FinetuneOutline(_Lenient):
    planner: str = "agent"


class ConfigOutline(_Lenient):
    """What a report shows of a run's config, read from the config of any A3 version (fields this
    version does not know are ignored, so an older run still shows its attack and models)."""

    attack: _AttackOutline = _AttackOutline()
    target_model: _ModelOutline = _ModelOutline()
    judge_model: _ModelOutline = _ModelOutline()
    finetune: _FinetuneOutline = _FinetuneOutline()


SPLITS = ("train", "validation", "ood", "test")


class RunFiles:
    """An alignment run folder's files, read as their records."""

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self.path = run.path

    def config(self) -> A3Config | None:
        """The config the run was opened with; None when absent or when this version cannot read it."""
        try:
            return self._model(A3Config, layout.CONFIG)
        except ValidationError:
            return None

    def config_outline(self) -> ConfigOutline:
        """The attack, the models and the planner the config names, whichever version wrote it."""
        try:
            return self._model(ConfigOutline, layout.CONFIG) or ConfigOutline()
        except ValidationError:
            return ConfigOutline()

    def manifests(self) -> dict[str, StageManifest]:
        return {m.stage: m for m in self.run.manifests()}

    def assignment(self) -> SplitAssignment | None:
        return load_assignment(self.run)

    def split(self, name: str) -> SplitFile | None:
        return read_split(self.run, name)

    def splits(self) -> dict[str, SplitFile | None]:
        return {name: self.split(name) for name in SPLITS}

    def baseline(self) -> dict[str, Metrics] | None:
        """The untouched target's metrics per split (stage 2)."""
        return load_baseline(self.run) if (self.path / layout.BASELINE).exists() else None

    def test_baseline(self) -> Metrics | None:
        return self._model(Metrics, layout.TEST_BASELINE)

    def generation(self) -> GenerationSummary | None:
        return self._model(GenerationSummary, layout.GENERATION_SUMMARY)

    def queries(self) -> list[Query]:
        return read_records(self.path / layout.QUERIES, Query)

    def verdicts(self, folder: str) -> list[Verdict]:
        """The verdicts in ``folder`` (relative to the run): stage 1's, or an evaluation's."""
        return read_records(self.path / folder / layout.VERDICTS, Verdict)

    def responses(self, folder: str) -> list[TargetResponse]:
        """The target's replies in ``folder`` (relative to the run)."""
        return read_records(self.path / folder / layout.RESPONSES, TargetResponse)

    def verdict_folders(self) -> list[str]:
        """Every folder holding verdicts, relative to the run, in path order."""
        return sorted(str(p.parent.relative_to(self.path)) for p in self.path.rglob(layout.VERDICTS))

    def finetune_summary(self, where: layout.LoopFolder = layout.STAGE4) -> FinetuneSummary | None:
        return self._model(FinetuneSummary, where.summary)

    def iterations(self, where: layout.LoopFolder = layout.STAGE4) -> list[IterationRecord]:
        return read_records(self.path / where.iterations, IterationRecord, key="iteration")

    def chosen_test(self, where: layout.LoopFolder = layout.STAGE4) -> ChosenTest | None:
        """The chosen iteration measured on the sealed test (with the noise floor)."""
        return self._model(ChosenTest, where.test_results)

    def has_chosen_test(self, where: layout.LoopFolder = layout.STAGE4) -> bool:
        """Whether the loop's chosen iteration has been measured on the sealed test."""
        return (self.path / where.test_results).is_file()

    def planner_names(self) -> list[str]:
        """The planners whose loop was compared with stage 4's and has finished."""
        return [p.parent.name for p in sorted((self.path / layout.PLANNERS).glob("*/summary.json"))]

    def fixed_mix(self) -> list[FixedMixRecord]:
        return read_records(self.path / layout.FIXED_MIX_RESULTS, FixedMixRecord, key="name")

    def icl_summaries(self) -> list[IclSummary]:
        paths = sorted((self.path / layout.ICL).glob(f"*/{layout.ICL_SUMMARY}"))
        return [IclSummary.model_validate(read_json(p)) for p in paths]

    def icl_selection(self, summary: IclSummary, iteration: int) -> IclSelection | None:
        """The examples an ICL trial's iteration showed the target, with the agent's reasoning."""
        folder = layout.iteration_dir(iteration, trial_folder(summary.method, summary.trial))
        return self._model(IclSelection, f"{folder}/{layout.SELECTION}")

    def dspy_programs(self) -> list[tuple[DspyResult, OptimisedPrompt | None]]:
        """Each optimised DSPy program's results, with the prompt GEPA found (and its candidates)."""
        found = []
        for path in sorted((self.path / layout.DSPY).glob(f"*/{layout.DSPY_RESULTS}")):
            prompt = path.parent / layout.DSPY_PROMPT
            found.append(
                (
                    DspyResult.model_validate(read_json(path)),
                    OptimisedPrompt.model_validate(read_json(prompt)) if prompt.exists() else None,
                )
            )
        return found

    def evaluations(self) -> list[EvaluationResult]:
        """The models measured with `a3 evaluate`."""
        paths = sorted((self.path / layout.EVALUATIONS).glob(f"*/{layout.EVALUATION_RESULTS}"))
        return [EvaluationResult.model_validate(read_json(p)) for p in paths]

    def judge_validation(self) -> JudgeValidation | None:
        return load_validation(self.run)

    def _model(self, model: type[M], relative: str) -> M | None:
        path = self.path / relative
        return model.model_validate(read_json(path)) if path.exists() else None
