"""``a3 defend dspy``: the whole defence, from the run's splits to measured rates.

Folder ``RUN/defences/dspy/<name>/``: ``settings.json`` (what it was made with; other settings
under the same name are refused), ``gepa/`` (GEPA's state, candidates and log), ``program.json``
(the optimised program's state, DSPy's ``dump_state``), ``optimized_prompt.json`` (its instructions, the system
message a query with the config's system prompt is sent with, every candidate with its validation
score, the metric calls made), ``eval/`` (responses and verdicts; the transcripts hold what the
target was sent) and ``results.json``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from a3.align import layout
from a3.align.compare.dspy.optimise import Budget, GepaOutcome, budget_for, run_gepa
from a3.align.compare.dspy.program import (
    SEED_PROMPT,
    JudgeMetric,
    NewInstruction,
    SavedProgram,
    balanced_sample,
    respond_program,
    to_example,
)
from a3.align.expected import expected_replies
from a3.align.measure.evaluation import Subject, evaluate_model
from a3.align.measure.judge import Judge
from a3.align.metrics import Metrics
from a3.align.records import TargetResponse
from a3.align.roles import Roles, resolve_roles
from a3.align.split import load_sealed_test, load_split
from a3.config import A3Config
from a3.config.schema import Dspy
from a3.errors import UserInputError
from a3.llm import LLMClient
from a3.llm.dspy_engine import LLMClientEngine, LoopBridge, StopProgram, dspy_lm
from a3.progress import Progress, SilentProgress
from a3.prompts import load_prompt
from a3.store import RunDir, atomic_write_json, ledger_label, pin_settings, read_json, read_records

Auto = Literal["light", "medium", "heavy"]
STAGE = "defend-dspy"


class DspyOptions(BaseModel):
    """Options of the DSPy prompt defence (`a3 defend dspy`).

    ``auto`` is GEPA's budget preset (light, medium, heavy), unless ``max_metric_calls`` gives an exact
    number of metric calls; ``max_train_samples`` caps the seeded training sample; ``name`` names the
    result folder (default: made from the options)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auto: Auto = "medium"
    max_train_samples: int | None = None
    max_metric_calls: int | None = None  # an exact GEPA budget instead of --auto
    name: str | None = None
    # GEPA compares candidates on a seeded sample of validation (None: all of it); the program
    # chosen is still measured on the whole split.
    max_val_samples: int | None = None

    @property
    def folder_name(self) -> str:
        if self.name:
            return self.name
        base = f"calls{self.max_metric_calls}" if self.max_metric_calls else self.auto
        return (
            base
            + (f"-train{self.max_train_samples}" if self.max_train_samples else "")
            + (f"-val{self.max_val_samples}" if self.max_val_samples else "")
        )


async def defend_dspy(
    config: A3Config, run: RunDir, client: LLMClient, options: DspyOptions, progress: Progress | None = None
) -> DspyResult:
    """Run (or resume) the DSPy + GEPA prompt defence and measure the optimised program.

    GEPA rewrites the program's instructions on training queries, scored by the run's judge, and compares
    candidates on validation; the best is measured on validation, OOD and the sealed test. Everything is
    kept under ``defences/dspy/<name>/``; calls go through ``client`` (cached, priced, capped)."""
    with ledger_label(STAGE):
        defence = _DspyDefence(
            resolve_roles(config),
            config.dspy,
            config.data_generation.max_concurrent,
            config.conversation_format.system_prompt,
            run,
            client,
            options,
            progress or SilentProgress(),
        )
        return await defence.defend()


def program_label(name: str) -> str:
    """How the report and the transcript logs name a DSPy program."""
    return f"GEPA, {name}"


class DspyResult(BaseModel):
    """``defences/dspy/<name>/results.json``: the optimised program, measured."""

    method: Literal["DSPy"] = "DSPy"
    name: str
    auto: str | None  # GEPA's budget preset, None for an exact number of metric calls
    budget: int
    metric_calls: int  # the metric calls GEPA made: never more than the budget (the metric refuses any beyond it)
    train_queries: int
    instructions: str
    seed_prompt_version: str
    # Replies taken whole: not in DSPy's field format, which the program does not ask for (before the
    # conversation adapter: replies that ignored the field format it asked for).
    unparsed_responses: int
    field_responses: int = 0  # replies in DSPy's field format anyway, their response field read
    validation: Metrics
    ood: Metrics
    test: Metrics


class GepaCandidate(BaseModel):
    """One instruction GEPA proposed, with its score on the validation queries it compared on."""

    instructions: str
    validation_score: float


class OptimisedPrompt(BaseModel):
    """``defences/dspy/<name>/optimized_prompt.json``: the instructions GEPA chose, the system message
    they make, the seed they started from, and every candidate it scored."""

    instructions: str
    system_message: str
    seed_instructions: str
    best_candidate: int
    candidates: list[GepaCandidate]
    metric_calls: int
    stopped_at_budget: bool = False  # absent from files written before the budget was exact


class _DspyDefence:
    def __init__(
        self,
        roles: Roles,
        settings: Dspy,
        threads: int,
        system_prompt: str | None,
        run: RunDir,
        client: LLMClient,
        options: DspyOptions,
        progress: Progress,
    ) -> None:
        """``threads``: DSPy's worker threads (the client's per-model concurrency); ``system_prompt``:
        the conversation format's fixed one, if any."""
        _require_dspy()
        self.settings, self.threads, self.system_prompt = settings, threads, system_prompt
        self.run, self.client, self.options, self.progress = run, client, options, progress
        self.folder = run.path / layout.DSPY / options.folder_name
        self.train = balanced_sample(load_split(run, "train"), options.max_train_samples, settings.seed)
        self.validation = load_split(run, "validation")
        self.gepa_validation = balanced_sample(self.validation, options.max_val_samples, settings.seed)
        if not self.train or not self.validation:
            raise UserInputError(
                f"{run.path}: the DSPy defence needs training and validation queries; run `a3 split` first"
            )
        self.judge = Judge(client, roles.judge)
        target = roles.target
        self.task = target.model_copy(update={"max_tokens": settings.max_tokens or target.max_tokens})
        self.reflection = roles.reflection
        self.seed_prompt = load_prompt(SEED_PROMPT)

    async def defend(self) -> DspyResult:
        compared_on = len(self.gepa_validation)
        budget = budget_for(self.options.auto, self.options.max_metric_calls, compared_on)
        if budget.metric_calls < compared_on:
            raise UserInputError(
                f"--max-metric-calls {budget.metric_calls}: GEPA first scores the seed instructions on each "
                f"of the {compared_on} validation queries it compares on; give at least {compared_on} "
                "(or fewer with --max-val-samples)"
            )
        pin_settings(
            self.folder / layout.SETTINGS,
            self._settings(budget),
            f"{self.folder}: this name was used with other settings; pass --name or delete the folder",
        )
        program = await self._optimised(budget)
        saved = SavedProgram(program)
        sets = {"validation": self.validation, "ood": load_split(self.run, "ood"), "test": load_sealed_test(self.run)}
        subject = Subject(
            self.client,
            self.task,
            "DSPy",
            program_label(self.options.folder_name),
            prepare=saved.prepare,
            response_text=saved.response,
        )
        metrics = await evaluate_model(
            self.run,
            subject,
            self.judge,
            sets,
            f"{layout.DSPY}/{self.options.folder_name}/eval",
            self.progress,
            "DSPy program",
        )
        responses = [
            r for r in read_records(self.folder / "eval" / layout.RESPONSES, TargetResponse) if r.status == "ok"
        ]
        fielded = sum(1 for r in responses if saved.in_fields(r.text))
        prompt = OptimisedPrompt.model_validate(read_json(self.folder / layout.DSPY_PROMPT))
        results = DspyResult(
            name=self.options.folder_name,
            auto=budget.auto,
            budget=budget.metric_calls,
            metric_calls=prompt.metric_calls,
            train_queries=len(self.train),
            instructions=saved.instructions,
            seed_prompt_version=self.seed_prompt.version,
            unparsed_responses=len(responses) - fielded,
            field_responses=fielded,
            validation=metrics["validation"],
            ood=metrics["ood"],
            test=metrics["test"],
        )
        atomic_write_json(self.folder / layout.DSPY_RESULTS, results.model_dump(mode="json"))
        return results

    def _settings(self, budget: Budget) -> dict[str, Any]:
        return {
            "auto": budget.auto,
            "metric_calls": budget.metric_calls,
            "seed": self.settings.seed,
            "target": self.task.model_dump(include={"model", "temperature", "max_tokens"}),
            "judge": self.judge.identity().model_dump(),
            "reflection": self.reflection.model,
            # the target's own conversation, instructions after its system prompt (not DSPy's field format)
            "adapter": "conversation",
            "seed_prompt": self.seed_prompt.version,
            "train": [q.id for q in self.train],
            "validation": [q.id for q in self.gepa_validation],
        }

    async def _optimised(self, budget: Budget) -> Any:
        """The optimised program: loaded when this folder already has it, else GEPA's result."""
        program_file = self.folder / "program.json"
        program = respond_program(self.seed_prompt.text.strip())
        if program_file.exists():
            program.load_state(read_json(program_file))
            return program
        bar = self.progress.task(f"DSPy (GEPA, {budget.auto or 'exact'} budget): metric calls", budget.metric_calls)
        bridge = LoopBridge(asyncio.get_running_loop(), STAGE)
        metric = JudgeMetric(
            self.judge,
            bridge,
            {q.id: q for q in [*self.train, *self.validation]},
            expected_replies(self.run) or {},
            budget=budget.metric_calls,
        )
        task_lm = dspy_lm(LLMClientEngine(self.client, self.task, bridge))
        reflection_lm = dspy_lm(
            LLMClientEngine(
                self.client, self.reflection, bridge, schema=NewInstruction, prompt_version="gepa-reflection"
            )
        )
        trainset, valset = [to_example(q) for q in self.train], [to_example(q) for q in self.gepa_validation]
        try:
            outcome = await asyncio.to_thread(
                run_gepa,
                program,
                metric,
                task_lm,
                reflection_lm,
                trainset,
                valset,
                budget,
                self.folder / "gepa",
                self.settings.seed,
                self.threads,
                bar,
            )
        except asyncio.CancelledError:  # Ctrl-C: DSPy's threads end at their next call, before GEPA saves anything more
            bridge.stop()
            raise
        except StopProgram as stop:  # the cost cap: GEPA's state is saved, a re-run resumes
            raise stop.error from None
        finally:
            bridge.stop()  # DSPy threads left over from an iteration cut at the budget make no more calls
        optimised = respond_program(outcome.candidates[outcome.best])
        self._save(optimised, outcome)
        return optimised

    def _save(self, program: Any, outcome: GepaOutcome) -> None:
        saved = SavedProgram(program)
        candidates = [
            GepaCandidate(instructions=c, validation_score=s)
            for c, s in zip(outcome.candidates, outcome.scores, strict=True)
        ]
        prompt = OptimisedPrompt(
            instructions=saved.instructions,
            # the system message of a query with the config's fixed system prompt (or of one without a
            # system prompt)
            system_message=saved.system_message(self.system_prompt),
            seed_instructions=self.seed_prompt.text.strip(),
            best_candidate=outcome.best,
            candidates=candidates,
            metric_calls=outcome.metric_calls,
            stopped_at_budget=outcome.stopped_at_budget,
        )
        atomic_write_json(self.folder / layout.DSPY_PROMPT, prompt.model_dump())
        # program.json last: its presence means the optimisation is done.
        atomic_write_json(self.folder / "program.json", program.dump_state())


def _require_dspy() -> None:
    try:
        import dspy  # noqa: F401
    except ImportError:
        raise UserInputError(
            "the DSPy defence needs DSPy: install it with `bash scripts/setup.sh --full` "
            "(dspy with --no-deps, so litellm stays out)"
        ) from None
