"""Loading config files (JSON or YAML) into pydantic models, with errors a person can act on."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from a3.errors import UserInputError
from a3.store import JsonObject
from a3.store.hashing import sha256_of

M = TypeVar("M", bound=BaseModel)


class ConfigError(UserInputError):
    """A config file could not be read or did not validate. ``problems`` lists (field path, message)."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: invalid config ({len(problems)} problem{'s' if len(problems) != 1 else ''})"]
        lines += [f"  {field}: {message}" if field else f"  {message}" for field, message in problems]
        super().__init__("\n".join(lines))


def read_mapping(path: str | Path) -> JsonObject:
    """Parse a JSON (``.json``) or YAML (anything else) file whose top level is a mapping."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [("", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path,
            [("", f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); save the file as UTF-8")],
        ) from None
    except OSError as exc:
        raise ConfigError(path, [("", f"cannot read the file: {exc.strerror}")]) from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(path, [("", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(path, [("", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(data, dict):
        raise ConfigError(path, [("", f"expected a mapping of sections at the top level, got {type(data).__name__}")])
    return data


def load_model(path: str | Path, model: type[M]) -> M:
    """Read a JSON or YAML file into the pydantic model ``model``.

    Raises ConfigError naming the file and every field that did not validate."""
    path = Path(path)
    data = read_mapping(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_describe(err, model) for err in exc.errors()]) from None


def config_hash(config: BaseModel) -> str:
    """The sha256 of a config's JSON dump: equal settings give equal hashes."""
    return sha256_of(config.model_dump(mode="json"))


def _field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _describe(err: ErrorDetails, root: type[BaseModel]) -> tuple[str, str]:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _known_fields(root, loc[:-1])
        suggestion = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean '{suggestion[0]}'?)" if suggestion else f" (known fields: {', '.join(known)})"
        return _field_path(loc), "unknown field" + hint
    if kind == "missing":
        return _field_path(loc), "required field is missing"
    message = err["msg"].removeprefix("Value error, ")
    if kind not in ("value_error", "assertion_error") and "input" in err:
        shown = repr(err["input"])
        message += f" (got {shown[:80] + '…' if len(shown) > 80 else shown})"
    return _field_path(loc), message


def _known_fields(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model found at ``loc`` below ``root`` (list indices skipped)."""
    model: Any = root
    for item in loc:
        if isinstance(item, int):
            continue
        field = getattr(model, "model_fields", {}).get(item)
        if field is None:
            return []
        model = _model_of(field.annotation)
    return sorted(getattr(model, "model_fields", {}))


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
