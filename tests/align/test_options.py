"""Every command's options, in align/ as in meta/: frozen pydantic models that refuse a misspelt option."""

import pytest
from pydantic import BaseModel, ValidationError

import a3.align
import a3.meta
from a3.align import GenerateOptions
from a3.align.finetune.general_data import GeneralDataOptions
from a3.meta import MetaRunOptions, SelectOptions

# Every public options class of both pipelines (a new one is checked without being listed here).
OPTIONS = [
    getattr(package, name)
    for package in (a3.align, a3.meta)
    for name in package.__all__
    if name.endswith("Options") and name != "MetaRunOptions"  # MetaRunOptions needs its select options
] + [GeneralDataOptions]
assert len(OPTIONS) >= 13

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
