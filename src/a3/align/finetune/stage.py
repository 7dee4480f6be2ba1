"""Stage 4, ``a3 finetune``: iterations of agent-chosen LoRA SFT, each evaluated and kept.

Per iteration, under ``finetune/iter-NN/``: the agent's decision (with clamps), the drawn
training set, the adapter, validation and OOD responses and verdicts, capability scores. The
iteration's record is appended to ``finetune/iterations.jsonl`` and to the experiment log only
when all of that exists, so a crash repeats at most the unfinished part of one iteration (the
decision is saved, a finished training is not redone, judged responses are not re-judged).
After the last iteration the final model is chosen on validation (see ``selection``) and only
then is it measured on the sealed test split.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from a3.align import layout
from a3.align.expected import STAGE as EXPECTED_STAGE
from a3.align.expected import load_expected
from a3.align.explog import ExperimentLog
from a3.align.finetune.agent import PROMPT, AgentContext, decide
from a3.align.finetune.decisions import TrainingPlan, fallback_plan, first_plan
from a3.align.finetune.general_data import GeneralDataSet, load_general_data
from a3.align.finetune.jobs import job_key, weights_fingerprint
from a3.align.finetune.mixture import TrainingSet, training_budget, weighted_training_set
from a3.align.finetune.records import (
    ChosenTest,
    FinetuneSummary,
    IterationRecord,
    IterationRow,
    SavedDecision,
    iteration_label,
)
from a3.align.finetune.search import PlanSpace, score, suggest
from a3.align.finetune.settings import LoopSettings
from a3.align.finetune.train_job import run_job
from a3.align.finetune.trainer import TrainJob, write_training_data
from a3.align.measure.capability import (
    BenchmarkScore,
    CapabilityScores,
    benchmark_fingerprint,
    check_benchmark_files,
    evaluate_capability,
)
from a3.align.measure.evaluation import Subject, evaluate_model
from a3.align.measure.judge import Judge
from a3.align.measure.noise import NoiseFloor, noise_floor
from a3.align.measure.paired import candidate_tests
from a3.align.measure.selection import CandidateTests, Selection, choose
from a3.align.measure.serving import base_weights, served_model
from a3.align.metrics import Metrics
from a3.align.records import Kind, Query, TargetResponse, Verdict
from a3.align.roles import Roles, resolve_roles
from a3.align.split import (
    SplitFile,
    load_assignment,
    load_baseline,
    load_sealed_test,
    load_split,
    read_split,
    sealed_hypotheses,
)
from a3.config import A3Config
from a3.config.schema import Paths
from a3.errors import UserInputError
from a3.llm import CallConfig, LLMClient, StructuredOutputError
from a3.progress import Progress, SilentProgress
from a3.prompts import load_prompt
from a3.store import JsonObject, RunDir, atomic_write_json, file_sha256, pin_settings, read_json, sha256_of

STAGE = "finetune"
_SEARCH_ATTEMPTS = 20  # draws of the plan search before it gives up finding a job not yet trained
Scores = dict[str, BenchmarkScore]


class FinetuneOptions(BaseModel):
    """The original's step-4 flags; None means the config's ``finetune`` section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_iterations: int | None = None
    max_epochs: int | None = None
    batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    disable_benchmark_eval: bool = False
    agent_model: str | None = None
    num_gpus: int = 1
    log_token_budget: int = 6000
    use_vllm: bool | None = None  # None: when a GPU and vllm are present


async def run_finetune(
    config: A3Config,
    run: RunDir,
    client: LLMClient,
    options: FinetuneOptions = FinetuneOptions(),
    progress: Progress | None = None,
) -> FinetuneSummary:
    """Stage 4: the iterations the configured planner chooses, the final choice, its sealed test."""
    return await run_loop(config, run, client, options, progress, layout.STAGE4, STAGE, "A3")


async def run_loop(
    config: A3Config,
    run: RunDir,
    client: LLMClient,
    options: FinetuneOptions,
    progress: Progress | None,
    where: layout.LoopFolder,
    stage_name: str,
    method: str,
) -> FinetuneSummary:
    """The finetuning loop in ``where`` as the stage ``stage_name``, resumable; ``method`` names
    its models in transcripts and the report (stage 4 is "A3")."""
    expected_manifest = run.manifest(EXPECTED_STAGE)
    if expected_manifest is None or expected_manifest.status != "done":
        raise UserInputError(f"{run.path}: run `a3 expected` first (stage 'expected' is not done)")
    settings = LoopSettings.of(
        config,
        iterations=options.num_iterations,
        max_epochs=options.max_epochs,
        batch_size=options.batch_size,
        grad_accum=options.gradient_accumulation_steps,
        disable_benchmarks=options.disable_benchmark_eval,
    )
    roles = resolve_roles(config, agent_model=options.agent_model)
    general_path = general_data_path(config.paths, run)
    identity: JsonObject = {  # everything an existing iteration's results depend on (not the number of iterations)
        "expected": expected_manifest.input_hash,
        "finetune": settings.finetune.model_dump(exclude={"num_iterations"}),
        "capability": settings.capability_identity() if settings.benchmarks else None,
        "benchmark_files": benchmark_fingerprint(settings.capability.benchmarks) if settings.benchmarks else None,
        "general_data": file_sha256(general_path) if general_path else None,
        "max_epochs": settings.max_epochs,
        "batch_size": settings.batch_size,
        "grad_accum": settings.grad_accum,
        "agent": roles.agent.model,
        "judge": {  # the config's fields that decide verdicts, as they were always hashed here
            "judge_model": config.judge_model.model_dump(),
            "judge_rules": config.judge_rules.model_dump(),
            "judge_prompts": config.judge_prompts.model_dump(),
        },
        "target": config.target_model.model_dump(),
        "log_token_budget": options.log_token_budget,
    }
    if settings.benchmarks or settings.sealed:
        check_benchmark_files(config.capability)
    path = run.path / where.settings
    pin_settings(
        path,
        {"identity": sha256_of(identity)},
        f"{path}: this folder's finetuning iterations were made with other settings (config, flags or data); "
        f"use another --run-dir, or delete the {where.root} folder to start over",
    )
    inputs: JsonObject = {"identity": identity, "iterations": settings.iterations}
    if settings.sealed:  # only then, so that runs made before sealed benchmarks keep their hash
        inputs["sealed_benchmarks"] = _sealed_fingerprint(settings)
    stage = run.stage(
        stage_name,
        inputs=inputs,
        prompt_versions={PROMPT: load_prompt(PROMPT).version},
        models={"agent": roles.agent.model},
    )
    with stage:
        if not stage.skipped:
            loop = _Loop(
                roles, run, client, options, settings, general_path, progress or SilentProgress(), where, method
            )
            await loop.execute()
            stage.add_output(where.summary)
    return FinetuneSummary.model_validate(read_json(run.path / where.summary))


def general_data_path(paths: Paths, run: RunDir) -> Path | None:
    """The configured general-data file, else the run's own on-policy file, else none."""
    if paths.dolci_responses_file:
        path = Path(paths.dolci_responses_file)
        if not path.is_file():
            raise UserInputError(f"paths.dolci_responses_file: {path} does not exist")
        return path
    own = run.path / layout.GENERAL_RESPONSES
    return own if own.is_file() else None


class _Loop:
    """The finetuning loop in ``where``: stage 4's own, whose iterations go to the experiment log
    and whose end measures the noise floor, or a planner comparison's (``method`` names its models)."""

    def __init__(
        self,
        roles: Roles,
        run: RunDir,
        client: LLMClient,
        options: FinetuneOptions,
        settings: LoopSettings,
        general_path: Path | None,
        progress: Progress,
        where: layout.LoopFolder = layout.STAGE4,
        method: str = "A3",
    ) -> None:
        self.run, self.client, self.options, self.settings = run, client, options, settings
        self.agent, self.progress, self.where, self.method = roles.agent, progress, where, method
        self.evaluated_target = roles.evaluated_target
        self.own_stage = where == layout.STAGE4
        self.general = load_general_data(general_path) if general_path else GeneralDataSet([], 0)
        self.records = run.log(where.iterations, IterationRecord, key="iteration")
        self.log = ExperimentLog(run)
        assignment = load_assignment(run)
        assert assignment is not None  # stage 3, which this stage needs, needs the split
        self.assignment = assignment
        self.expected = load_expected(run) or []
        self.budget = training_budget(self.expected, settings.finetune.training_budget)
        self.eval_sets = {"validation": load_split(run, "validation"), "ood": load_split(run, "ood")}
        self.base = base_weights(settings.target_model)
        self.base_fingerprint = weights_fingerprint(self.base)
        self.space = PlanSpace(
            list(self.assignment.train),
            settings.max_epochs,
            settings.finetune.learning_rate_range,
            shared_weights=settings.finetune.search_weights == "shared",
        )
        self.base_validation = _base_verdicts(read_split(run, "validation"))
        self.judge = Judge(client, roles.judge)

    async def execute(self) -> None:
        # The base model's capability is measured once per run, whichever loop asks first.
        baseline = await self._capability(None, "baseline", self.run.path / layout.FINETUNE / "capability_baseline")
        if baseline is not None and self.own_stage:
            self.log.add_capability_baseline(baseline)
        task = self.progress.task(f"{self.where.root}: iterations", self.settings.iterations)
        for iteration in range(1, self.settings.iterations + 1):
            if iteration not in self.records:
                await self._iteration(iteration, baseline)
            task.advance()
        if self.own_stage:
            self.log.write_markdown()
        await self._finish(baseline)

    def iterations(self) -> list[IterationRecord]:
        return list(self.records)

    async def _iteration(self, iteration: int, baseline: Scores | None) -> None:
        folder = self.run.path / self.where.iteration_dir(iteration)
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        decision = await self._decision(iteration, folder, baseline)
        seconds["decision"] = time.perf_counter() - started
        plan = decision.plan
        training_set, job, key = self._job(plan, folder)
        repeated = self._trained_jobs().get(key)
        if repeated is not None:  # decisions are checked for this; a decision.json from elsewhere is not
            raise UserInputError(
                f"{folder / 'decision.json'}: its plan trains the job of iteration {repeated} again; "
                "delete the file to plan this iteration anew"
            )
        write_training_data(training_set.examples, folder / "train_data.jsonl")
        result = await asyncio.to_thread(run_job, job, folder / "job.json", self.options.num_gpus)
        seconds["train"] = result.seconds  # the training's own time, also when a resume found it finished
        served = served_model(
            self.evaluated_target,
            self.base,
            folder / "adapter",
            self.where.served_name(iteration),
            self.options.use_vllm,
        )
        started = time.perf_counter()
        metrics = await evaluate_model(
            self.run,
            Subject(self.client, served, self.method, iteration_label(iteration)),
            self.judge,
            self.eval_sets,
            f"{self.where.iteration_dir(iteration)}/eval",
            self.progress,
            f"{self.method}: iteration {iteration}",
        )
        seconds["evaluation"] = time.perf_counter() - started
        started = time.perf_counter()
        capability = await self._capability(served, f"iteration {iteration}", folder / "capability")
        seconds["capability"] = time.perf_counter() - started
        self.client.release(served)
        drop = _drop(baseline, capability)
        record = IterationRecord(
            iteration=iteration,
            based_on=decision.based_on,
            plan=plan,
            reasoning=decision.reasoning,
            clamps=decision.clamps,
            fallback=decision.fallback,
            planner=decision.planner,
            job=key,
            counts=training_set.counts,
            train=result,
            adapter=str((folder / "adapter").relative_to(self.run.path)),
            model=served.model,
            validation=metrics["validation"],
            ood=metrics["ood"],
            capability=capability,
            capability_drop=drop,
            tests=self._tests(iteration, baseline, capability, drop),
            seconds={name: round(value, 1) for name, value in seconds.items()},
        )
        self.records.append(record)
        if self.own_stage:
            self.log.add_iteration(record)

    def _job(self, plan: TrainingPlan, folder: Path) -> tuple[TrainingSet, TrainJob, str]:
        """What ``plan`` trains in ``folder``, and the job's identity (see ``jobs``)."""
        training_set = weighted_training_set(
            self.expected, plan, self.general.examples, self.budget, self.settings.finetune.seed
        )
        job = TrainJob(
            base_model=str(self.base),
            data_file=str(folder / "train_data.jsonl"),
            output_dir=str(folder / "adapter"),
            lora_r=plan.lora_r,
            lora_alpha=plan.lora_alpha,
            learning_rate=plan.learning_rate,
            num_epochs=plan.num_epochs,
            batch_size=self.settings.batch_size,
            gradient_accumulation_steps=self.settings.grad_accum,
            max_length=self.settings.finetune.max_length,
            seed=self.settings.finetune.seed,
        )
        return training_set, job, job_key(training_set.examples, job, self.base_fingerprint)

    def _trained_jobs(self) -> dict[str, int]:
        """Job identity -> the iteration that trained it."""
        return {r.job: r.iteration for r in self.iterations() if r.job}

    def _repeats(self, folder: Path) -> Callable[[TrainingPlan], int | None]:
        """For a plan: the earlier iteration whose training job it would repeat, if any."""
        trained = self._trained_jobs()
        return lambda plan: trained.get(self._job(plan, folder)[2])

    def _tests(
        self, iteration: int, baseline: Scores | None, capability: Scores | None, drop: float | None
    ) -> CandidateTests:
        """The iteration against the base model on the validation queries and capability questions."""
        log = self.run.log(f"{self.where.iteration_dir(iteration)}/eval/{layout.VERDICTS}", Verdict)
        items = [(q.id, q.kind) for q in self.eval_sets["validation"]]
        return self._paired_tests(items, self.base_validation, log, baseline, capability, drop)

    def _paired_tests(
        self,
        items: list[tuple[str, Kind]],
        base: dict[str, Verdict],
        log: Iterable[Verdict],
        baseline: Scores | None,
        capability: Scores | None,
        drop: float | None,
    ) -> CandidateTests:
        """A model against the base model on the queries ``items`` (base verdicts ``base``, the
        model's in ``log``) and on the capability answers of ``baseline`` and ``capability``."""
        verdicts = {verdict.id: verdict for verdict in log}
        answers = None
        if baseline and capability:
            before = {f"{name}/{q}": ok for name, s in baseline.items() for q, ok in (s.answers or {}).items()}
            after = {f"{name}/{q}": ok for name, s in capability.items() for q, ok in (s.answers or {}).items()}
            if all(s.answers is not None for s in (*baseline.values(), *capability.values())):
                answers = (before, after)
        within = None if drop is None else drop <= self.settings.capability.max_drop + 1e-12
        return candidate_tests(
            items,
            base,
            verdicts,
            self.settings.finetune.fpr_margin,
            answers,
            self.settings.capability.max_drop,
            within,
        )

    async def _decision(self, iteration: int, folder: Path, baseline: Scores | None) -> SavedDecision:
        path = folder / "decision.json"
        if not path.exists():
            planner = self.settings.finetune.planner
            saved: SavedDecision | None = None
            why = ""
            if planner in ("agent", "agent+search"):
                try:
                    saved = await self._agent_decision(iteration, folder, baseline)
                except StructuredOutputError as exc:
                    why = f"the agent gave no valid decision ({exc})"
                else:
                    # With the search beside it, a valid decision that repeats a trained job is not sent
                    # back to the agent: the search's plan is trained instead.
                    repeated = self._repeats(folder)(saved.plan)
                    if repeated is not None:
                        saved, why = None, f"the agent's plan repeats the training job of iteration {repeated}"
            if saved is None and planner == "agent":
                saved = self._fallback(why, folder) if self.records else self._first_fallback(why)
            if saved is None:
                saved = self._search_decision(folder, why)
            atomic_write_json(path, saved.model_dump(mode="json"))
        return SavedDecision.model_validate(read_json(path))

    async def _agent_decision(self, iteration: int, folder: Path, baseline: Scores | None) -> SavedDecision:
        context = AgentContext(
            iteration=iteration,
            total=self.settings.iterations,
            train_hypotheses=self.assignment.train,
            sealed=sealed_hypotheses(self.run),
            budget=self.budget,
            max_epochs=self.settings.max_epochs,
            capability_baseline=baseline,
            previous=self.iterations(),
            split_by=self.assignment.by,
            repeats=self._repeats(folder) if self.settings.finetune.planner == "agent" else None,
        )
        decision, plan, clamps = await decide(
            self.settings, self.log, self.client, self.agent, context, self.options.log_token_budget
        )
        return SavedDecision(
            based_on=decision.based_on_iteration,
            decision=decision.model_dump(),
            plan=plan,
            clamps=clamps,
            planner="agent",
            reasoning={
                k: getattr(decision, k)
                for k in ("overall_reasoning", "lora_reasoning", "training_reasoning", "general_data_reasoning")
            },
        )

    def _search_decision(self, folder: Path, why: str) -> SavedDecision:
        """The search's next plan that trains a new job (the sampler draws again until one does)."""
        finished = [(r.plan, score(r, self.settings.benchmarks)) for r in self.iterations()]
        repeats = self._repeats(folder)
        for attempt in range(_SEARCH_ATTEMPTS):
            plan = suggest(
                self.space, finished, self.settings.finetune.seed, attempt, self.settings.finetune.first_plans
            )
            if repeats(plan) is None:
                starting = attempt == 0 and len(finished) < len(self.settings.finetune.first_plans)
                source = (
                    f"first plan {len(finished) + 1} of finetune.first_plans"
                    if starting
                    else "the plan search's suggestion"
                )
                note = f"{source}; {why}" if why else source
                return SavedDecision(
                    based_on=None,
                    decision=None,
                    plan=plan,
                    planner="search",
                    fallback=note if why else None,
                    reasoning={"overall_reasoning": note},
                )
        raise UserInputError(
            f"{folder}: the plan search found no plan that trains a new job in {_SEARCH_ATTEMPTS} draws"
        )

    def _first_fallback(self, why: str) -> SavedDecision:
        """The default first plan, for an agent that gave no valid first decision."""
        plan = first_plan(
            self.assignment.train,
            self.settings.max_epochs,
            self.settings.finetune.learning_rate_range,
            self.settings.finetune.first_plans[0],
        )
        return _fallback_decision(None, plan, f"default first plan; {why}")

    def _fallback(self, why: str, folder: Path) -> SavedDecision:
        """A rule-following next step from the best iteration so far, for an agent that gave no
        valid decision (a small agent often breaks the one-change rule every time); when that
        step would train a job already trained, the plan search's next plan."""
        records = self.iterations()
        selection = self._choose(records)
        base = next((r for r in records if r.iteration == selection.chosen), records[-1])
        plan, rule = fallback_plan(
            base.plan,
            base.validation.sfr,
            base.validation.fpr,
            self.settings.finetune.sfr_target,
            base.capability_drop,
            self.settings.capability.max_drop,
        )
        repeated = self._repeats(folder)(plan)
        if repeated is not None:
            return self._search_decision(
                folder, f"{why}; the rule's step ({rule}) repeats the job of iteration {repeated}"
            )
        return _fallback_decision(base.iteration, plan, f"fallback from iteration {base.iteration}: {rule}; {why}")

    def _choose(self, records: list[IterationRecord]) -> Selection:
        """The selection rule over the iterations so far (the fallback's base, the final choice)."""
        return choose(
            records,
            sfr_target=self.settings.finetune.sfr_target,
            max_drop=self.settings.capability.max_drop,
            measured=self.settings.benchmarks,
        )

    async def _capability(
        self, served: CallConfig | None, label: str, log_dir: Path, sealed: bool = False
    ) -> Scores | None:
        """The capability benchmarks (``sealed``: the sealed ones) of ``served``, or of the base
        model when None; None when they are not measured."""
        capability = self.settings.capability
        if sealed:
            capability = capability.model_copy(update={"benchmarks": capability.sealed_benchmarks})
        if not (self.settings.sealed if sealed else self.settings.benchmarks):
            return None
        saved = log_dir / "scores.json"
        if saved.exists():
            return {name: BenchmarkScore.model_validate(s) for name, s in read_json(saved).items()}
        model = served or served_model(self.evaluated_target, self.base, None, "base", self.options.use_vllm)
        task = self.progress.task(f"{label}: capability benchmarks", len(capability.benchmarks))
        scores = await evaluate_capability(self.client, model, capability, log_dir)
        task.advance(len(scores.benchmarks))
        if served is None:
            self.client.release(model)
        atomic_write_json(saved, {name: s.model_dump() for name, s in scores.benchmarks.items()})
        return scores.benchmarks

    async def _finish(self, baseline: Scores | None) -> None:
        records = self.iterations()
        selection = self._choose(records)
        test: Metrics | None = None
        if selection.chosen is not None:
            chosen = next(r for r in records if r.iteration == selection.chosen)
            served = served_model(
                self.evaluated_target,
                self.base,
                self.run.path / chosen.adapter,
                self.where.served_name(chosen.iteration),
                self.options.use_vllm,
            )
            self._forget_other_choice(chosen.iteration)
            queries = load_sealed_test(self.run)
            test = (
                await evaluate_model(
                    self.run,
                    Subject(self.client, served, self.method, iteration_label(chosen.iteration)),
                    self.judge,
                    {"test": queries},
                    self.where.test_eval,
                    self.progress,
                    f"{self.method}: sealed test",
                )
            )["test"]
            sealed = self.run.path / self.where.sealed_capability
            chosen_answers = await self._capability(served, "chosen: sealed", sealed / "chosen", sealed=True)
            self.client.release(served)  # before the base model is loaded: one model at a time
            base_answers = await self._capability(None, "base model: sealed", sealed / "base", sealed=True)
            split = read_split(self.run, "test")
            noise = await self._noise_floor(queries, split) if self.own_stage else None
            tests = self._paired_tests(
                [(q.id, q.kind) for q in queries],
                _base_verdicts(split),
                self.run.log(f"{self.where.test_eval}/{layout.VERDICTS}", Verdict),
                base_answers,
                chosen_answers,
                _drop(base_answers, chosen_answers),
            )
            atomic_write_json(
                self.run.path / self.where.test_results,
                ChosenTest(
                    iteration=chosen.iteration,
                    test=test,
                    noise_floor=noise,
                    tests=tests,
                    capability_base=base_answers,
                    capability=chosen_answers,
                ).model_dump(mode="json"),
            )
        summary = FinetuneSummary(
            iterations=[IterationRow.of(r) for r in records],
            selection=selection,
            capability_baseline=baseline,
            baseline=load_baseline(self.run),
            test_baseline=Metrics.model_validate(read_json(self.run.path / layout.TEST_BASELINE)),
            chosen_test=test,
            general_data={"examples": len(self.general.examples), "skipped": self.general.skipped},
            fallbacks={str(r.iteration): r.fallback for r in records if r.fallback},
        )
        atomic_write_json(self.run.path / self.where.summary, summary.model_dump(mode="json"))

    def _forget_other_choice(self, iteration: int) -> None:
        """Remove sealed-test results made for another choice, or under other sealed benchmarks
        (a resumed loop with more iterations may choose another; changed sealed files measure
        again without training again), and record what the results now being made are for."""
        marker = self.run.path / self.where.sealed_choice
        made_for = SealedChoice(iteration=iteration, sealed_benchmarks=_sealed_fingerprint(self.settings))
        if marker.exists() and SealedChoice.model_validate(read_json(marker)) == made_for:
            return
        for folder in (self.where.test_eval, self.where.sealed_capability):
            shutil.rmtree(self.run.path / folder, ignore_errors=True)
        atomic_write_json(marker, made_for.model_dump(mode="json"))

    async def _noise_floor(self, queries: list[Query], split: SplitFile | None) -> NoiseFloor:
        """The base model answers the sealed test again, served as the adapters are; compared with
        its stage-1 replies and verdicts (see ``measure.noise``)."""
        served = served_model(self.evaluated_target, self.base, None, "base", self.options.use_vllm)
        await evaluate_model(
            self.run,
            Subject(self.client, served, "base", "base (measured again)"),
            self.judge,
            {"test": queries},
            self.where.base_again,
            self.progress,
            "noise floor",
        )
        self.client.release(served)
        replies = {r.id: r.text for r in self.run.log(f"{self.where.base_again}/{layout.RESPONSES}", TargetResponse)}
        verdicts = {v.id: v for v in self.run.log(f"{self.where.base_again}/{layout.VERDICTS}", Verdict)}
        first = [(q.id, q.base_response, q.base_verdict) for q in (split.queries if split else [])]
        return noise_floor(first, replies, verdicts)


def _base_verdicts(split: SplitFile | None) -> dict[str, Verdict]:
    """The untouched target's verdict on each query of a split, as stage 2 stored them."""
    return {q.id: q.base_verdict for q in (split.queries if split else []) if q.base_verdict}


class SealedChoice(BaseModel):
    """``<loop>/sealed/chosen.json``: what the sealed test's results in that folder were made for."""

    iteration: int
    sealed_benchmarks: JsonObject  # their files' hashes ({} without them)


def _sealed_fingerprint(settings: LoopSettings) -> JsonObject:
    return benchmark_fingerprint(settings.capability.sealed_benchmarks) if settings.sealed else {}


def _drop(baseline: Scores | None, capability: Scores | None) -> float | None:
    """Points lost against the base model (positive = worse); None when anything is missing."""
    if not baseline or not capability:
        return None
    before = CapabilityScores(benchmarks=baseline).overall
    after = CapabilityScores(benchmarks=capability).overall
    return None if before is None or after is None else before - after


def _fallback_decision(based_on: int | None, plan: TrainingPlan, note: str) -> SavedDecision:
    """``decision.json`` for a plan A3 chose because the agent gave no valid decision."""
    return SavedDecision(
        based_on=based_on,
        decision=None,
        plan=plan,
        fallback=note,
        planner="fallback",
        reasoning={"overall_reasoning": note},
    )
