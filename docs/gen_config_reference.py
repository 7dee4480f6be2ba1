"""The configuration reference, generated from the config schema (``a3.config.schema``) at build time.

An mkdocs hook (``hooks:`` in mkdocs.yml): ``on_files`` adds the page ``configuration.md``, written by
``render()`` from the pydantic models, so every field's type, default, limits and description come from
one place, the schema. ``tests/config/test_schema_docs.py`` checks that every field has a description
and appears on the page. ``python docs/gen_config_reference.py`` prints the page.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:  # mkdocs may run where a3 is not installed, as long as the source tree is here
    sys.path.insert(0, str(SRC))

from a3.config.schema import A3Config  # noqa: E402

PAGE = "configuration.md"

INTRO = """\
# Configuration reference

<!-- Generated from src/a3/config/schema.py by docs/gen_config_reference.py: edit the schema's
     Field(description=...) there, not this page. -->

An A3 config is one JSON (`.json`) or YAML (`.yaml`, `.yml`) file with the sections of the original
A3 README, and A3's optional additions. `a3 init FILE` writes a commented one for your own
behaviour; `a3 check CONFIG` validates a config and summarises it.

- **Unknown fields are errors**, with a "did you mean", so a typo never becomes a silently ignored
  setting. A bad file gives one message naming the file and each field path, exit code 2, and
  nothing is written.
- **Templates.** Fields named `*_template` (and `benign_generation_prompt`) are Python format
  strings: only the named placeholders are allowed (`{prompt}`, `{response}`), and a literal brace
  is written `{{` or `}}`. System prompts are used as written.
- **Model names** are model strings (see [Models and providers](models-and-providers.md)); bare
  `claude-*` and `gpt-*` names get their provider prefix.
- **Paths** in a config (benchmark files, labels, general data) are taken from the current
  directory.

Example configs, with judge and expected-behaviour prompts written for this project:
`configs/sycophancy.json` (conversation format), `configs/political-neutrality.json` and
`configs/nesting-jailbreak.json` (prompt format), and `configs/demo.yaml`, the demo's config with
every model local.

Below, each section's fields with their type, default (or *required*), limits and meaning. A
section that has a default may be left out whole.
"""


def render() -> str:
    """The whole reference page, in Markdown."""
    out = [INTRO, "## Sections\n", _table(A3Config, ""), ""]
    for path, model, doc in sections():
        out.append(f"## `{path}` {{ #{_anchor(path)} }}\n")
        if doc:
            out.append(_text(doc) + "\n")
        out.append(_table(model, path))
        out.append("")
    return "\n".join(out)


def sections() -> Iterator[tuple[str, type[BaseModel], str]]:
    """Every nested model of the config as (dotted path, model, its description), depth first."""

    def walk(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, type[BaseModel], str]]:
        for name, field in model.model_fields.items():
            nested, suffix = _nested_model(field.annotation)
            if nested is None:
                continue
            path = f"{prefix}{name}{suffix}"
            parts = [field.description or "", _class_doc(nested)]
            doc = " ".join(p if p.endswith((".", ":", ")")) or p is parts[-1] else p + "." for p in parts if p)
            yield path, nested, doc
            yield from walk(nested, path + ".")

    yield from walk(A3Config, "")


def field_paths() -> list[str]:
    """The dotted path of every field of the config (list items as ``name[]``), as the page lists them."""
    paths = [name for name in A3Config.model_fields]
    for path, model, _ in sections():
        paths += [f"{path}.{name}" for name in model.model_fields]
    return paths


def _table(model: type[BaseModel], prefix: str) -> str:
    rows = ["| field | type | default | limits | description |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        kind = _type(field.annotation)
        nested, suffix = _nested_model(field.annotation)
        if nested is not None:
            kind = kind.replace("section", f"[section](#{_anchor(key + suffix)})")
        rows.append(
            f"| `{key}` | {_cell(kind)} | {_cell(_default(field))} | "
            f"{_cell(_limits(field))} | {_cell(_text(field.description or ''))} |"
        )
    return "\n".join(rows) + "\n"


def _anchor(path: str) -> str:
    return path.replace("[]", "").replace(".", "-").replace("_", "-")


def _nested_model(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds (directly, optionally, or as list items) and the path suffix for it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        found = [_nested_model(a) for a in args if a is not type(None)]
        models = [f for f in found if f[0] is not None]
        return models[0] if len(models) == 1 else (None, "")
    if origin is list and args:
        model, suffix = _nested_model(args[0])
        return (model, "[]" + suffix) if model is not None else (None, "")
    return None, ""


def _type(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "section"
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "object": "any"}.get(
            annotation.__name__, annotation.__name__
        )
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type(a) for a in args)
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"mapping of {_type(args[0])} to {_type(args[1])}"
    if origin is tuple:
        return f"[{', '.join(_type(a) for a in args)}]"
    return str(annotation)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "*required*"
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "*required*"
    if isinstance(value, BaseModel):
        return "*its fields' defaults*"
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        return f"{len(value)} {'entry' if len(value) == 1 else 'entries'} with their fields' defaults"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _limits(field: FieldInfo) -> str:
    words = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "length ≥", "max_length": "length ≤"}
    found = []
    for item in field.metadata:
        for attr, word in words.items():
            value = getattr(item, attr, None)
            if value is not None:
                found.append(f"{word} {value:g}" if isinstance(value, float) else f"{word} {value}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            found.append(f"matches `{pattern}`")
    return ", ".join(found)


def _class_doc(model: type[BaseModel]) -> str:
    doc = model.__dict__.get("__doc__") or ""
    return " ".join(doc.split())


def _text(text: str) -> str:
    """Plain text for Markdown: ``code`` as `code`, and outside code spans no HTML or emphasis by accident."""
    text = re.sub(r"``(.+?)``", r"`\1`", " ".join(text.split()))
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        parts[i] = (
            parts[i]
            .replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace("*", "\\*")
            .replace("_", "\\_")
        )
    return "`".join(parts)


def _cell(text: str) -> str:
    return re.sub(r"(?<!\\)\|", r"\\|", text)  # a pipe not already escaped would end the cell


def on_files(files: Any, config: Any) -> Any:
    """mkdocs hook: add the generated page to the site's files."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files


if __name__ == "__main__":
    print(render())
