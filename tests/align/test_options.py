"""Every command's options, in align/ as in meta/: frozen pydantic models that refuse a misspelt option."""

import pytest
from pydantic import BaseModel, ValidationError

from a3.align import (
    DspyOptions,
    EvaluateOptions,
    ExpectedOptions,
    FinetuneOptions,
    FixedMixOptions,
    GenerateOptions,
    IclOptions,
    RunOptions,
)
from a3.align.finetune.general_data import GeneralDataOptions
from a3.meta import CategorizeOptions, ClusterOptions, MetaRunOptions, SelectOptions, SummaryOptions

OPTIONS = [
    DspyOptions,
    EvaluateOptions,
    ExpectedOptions,
    FinetuneOptions,
    FixedMixOptions,
    GenerateOptions,
    IclOptions,
    RunOptions,
    GeneralDataOptions,
    CategorizeOptions,
    ClusterOptions,
    SummaryOptions,
    SelectOptions,
]


REQUIRED = {SelectOptions: {"agent": "agent-a"}}  # the one option without a default


@pytest.mark.parametrize("options", OPTIONS, ids=lambda c: c.__name__)
def test_a_misspelt_option_is_refused_not_ignored(options: type[BaseModel]):
    with pytest.raises(ValidationError, match="no_such_option"):
        options(**REQUIRED.get(options, {}), no_such_option=1)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda c: c.__name__)
def test_options_are_frozen(options: type[BaseModel]):
    made = options(**REQUIRED.get(options, {}))
    name = next(iter(options.model_fields))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(made, name, getattr(made, name))


def test_a_changed_copy_keeps_the_rest():
    options = GenerateOptions(num_rounds=3, seed=7)
    changed = options.model_copy(update={"num_rounds": 5})
    assert (changed.num_rounds, changed.seed, options.num_rounds) == (5, 7, 3)
    select = SelectOptions(agent="agent-a")
    assert MetaRunOptions(select=select).select == select
