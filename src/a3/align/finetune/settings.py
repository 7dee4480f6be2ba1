"""Stage 4's settings: the config sections and command options its loop reads, resolved once."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from a3.config import A3Config
from a3.config.schema import Attack, Capability, Finetune, TargetModel
from a3.store import JsonObject


class LoopSettings(BaseModel):
    """What the finetuning loop reads, and nothing else of the config: its section, the
    capability benchmarks, the behaviour (described to the agent) and the target (its weights
    are the base); the fields after those are the section's values with the command's overrides
    applied, which the loop reads instead of the section's. The judge, the agent and the
    evaluated target reach the loop as roles."""

    model_config = ConfigDict(frozen=True)

    finetune: Finetune
    capability: Capability
    attack: Attack
    target_model: TargetModel
    iterations: int
    max_epochs: int
    batch_size: int
    grad_accum: int
    benchmarks: bool  # whether the capability benchmarks are measured
    sealed: bool  # whether the sealed benchmarks are measured (at the sealed test)

    @classmethod
    def of(
        cls,
        config: A3Config,
        *,
        iterations: int | None = None,
        max_epochs: int | None = None,
        batch_size: int | None = None,
        grad_accum: int | None = None,
        disable_benchmarks: bool = False,
    ) -> LoopSettings:
        """The config's settings, with the command's overrides where given (None: the config's)."""
        ft = config.finetune
        return cls(
            finetune=ft,
            capability=config.capability,
            attack=config.attack,
            target_model=config.target_model,
            iterations=iterations or ft.num_iterations,
            max_epochs=max_epochs or ft.max_epochs,
            batch_size=batch_size or ft.batch_size,
            grad_accum=grad_accum or ft.gradient_accumulation_steps,
            benchmarks=bool(config.capability.benchmarks) and not disable_benchmarks,
            sealed=bool(config.capability.sealed_benchmarks) and not disable_benchmarks,
        )

    def capability_identity(self) -> JsonObject:
        """The capability section as an iteration's results depend on it: without the sealed
        benchmarks, which no iteration answers (so runs made before them keep their hash, and
        changing them measures the chosen adapter again without training anything again)."""
        return self.capability.model_dump(exclude={"sealed_benchmarks"})
