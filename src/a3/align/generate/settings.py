"""Stage 1's settings: the config sections its queries and verdicts depend on, resolved once."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from a3.config import A3Config
from a3.config.schema import (
    Attack,
    ConversationFormat,
    DataGeneration,
    HypothesisGeneration,
    JudgeModel,
    JudgePrompts,
    JudgeRules,
    SeedExample,
    TargetModel,
)
from a3.store import JsonObject, identity_dump


class GenerationSettings(BaseModel):
    """What stage 1 reads of the config, and nothing else: the sections its queries and verdicts
    depend on (the judge's and the target's reach the stage through its roles, and are here so that
    they are pinned and hashed with the rest)."""

    model_config = ConfigDict(frozen=True)

    attack: Attack
    seed_example: SeedExample
    judge_prompts: JudgePrompts
    conversation_format: ConversationFormat
    target_model: TargetModel
    judge_model: JudgeModel
    judge_rules: JudgeRules
    hypothesis_generation: HypothesisGeneration
    data_generation: DataGeneration

    @classmethod
    def of(cls, config: A3Config) -> GenerationSettings:
        return cls(**{name: getattr(config, name) for name in cls.model_fields})

    @property
    def harmful_per_hypothesis(self) -> int:
        """The concrete example plus one query per (scenario, variation), capped by max_concrete_examples."""
        gen = self.hypothesis_generation
        return min(gen.max_concrete_examples, 1 + self.data_generation.num_variations * gen.max_variations_per_example)

    def pinned(self) -> JsonObject:
        """The sections as JSON, as the stage's settings file and input hash hold them (settings
        added later only where they are set: runs made before them keep their pins and hashes)."""
        return identity_dump(self)
