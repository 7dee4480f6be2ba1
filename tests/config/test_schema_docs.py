"""The config schema documents itself: every field of every section has a description, and the configuration
reference (generated from the schema by docs/gen_config_reference.py) lists every field with it. That the built
site holds the page: tests/test_docs_site.py."""

import typing
from pathlib import Path

from pydantic import BaseModel

import a3.config.schema as schema
from a3.config import A3Config
from tests.helpers.scripts import load_script

GENERATOR = Path(__file__).resolve().parents[2] / "docs" / "gen_config_reference.py"


def _generator():
    return load_script(GENERATOR)


def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _every_section() -> list[type[BaseModel]]:
    """A3Config and every model reachable from its fields, plus any model the schema module defines."""
    found: list[type[BaseModel]] = []
    pending = [A3Config]
    while pending:
        model = pending.pop()
        if model in found:
            continue
        found.append(model)
        for field in model.model_fields.values():
            pending += _models_in(field.annotation)
    defined = [
        value
        for value in vars(schema).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == schema.__name__
        and value.model_fields
    ]
    return found + [model for model in defined if model not in found]


def test_every_field_of_every_section_has_a_description():
    missing = [
        f"{model.__name__}.{name}"
        for model in _every_section()
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not missing, f"fields without Field(description=...): {missing}"


def test_the_reference_page_lists_every_field_with_its_description():
    generator = _generator()
    page = generator.render()
    paths = generator.field_paths()
    reached = {model for _, model, _ in generator.sections()} | {A3Config}
    assert reached == set(_every_section()), "a section of the schema is missing from the reference page"
    for path in paths:
        assert f"| `{path}` |" in page, f"{path} is not on the configuration reference page"
    assert len(paths) == len(set(paths))
    # one row per field, each with its description (as rendered)
    descriptions = [(path, generator._text(field.description)) for path, field in _fields(generator)]
    for path, text in descriptions:
        row = next(line for line in page.splitlines() if line.startswith(f"| `{path}` |"))
        assert generator._cell(text) in row, f"{path}: its description is not in its row"


def _fields(generator):
    yield from ((name, field) for name, field in A3Config.model_fields.items())
    for path, model, _ in generator.sections():
        yield from ((f"{path}.{name}", field) for name, field in model.model_fields.items())
