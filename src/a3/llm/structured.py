"""Finding and validating the JSON object in a model's reply."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_TAG = re.compile(r"<json>(.*?)</json>", re.DOTALL)
M = TypeVar("M", bound=BaseModel)


def extract_json(text: str) -> Any:
    """Return the first JSON value found in ``text``: as is, in <json> tags, fenced, or embedded.

    Raises ValueError with a short description when there is none.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("the reply was empty")
    candidates = [stripped]
    candidates += [m.strip() for m in _TAG.findall(text)]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            pass
    decoder = json.JSONDecoder()
    for index, char in enumerate(text):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(text, index)
                return value
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON object was found in the reply")


def parse_reply(text: str, schema: type[M], extract: Callable[[str], Any] | None = None) -> M:
    """Validate a reply against ``schema``; raises ValueError with the reason on failure."""
    data = (extract or extract_json)(text)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ValueError(f"the JSON did not match the schema ({problems})") from exc


def schema_text(schema: type[BaseModel]) -> str:
    return json.dumps(schema.model_json_schema(), indent=1)


def latest_valid(replies: list[str], schema: type[M]) -> M | None:
    """The latest of ``replies`` that validates against ``schema`` (a more lenient schema than the
    one they failed, say), else None."""
    for reply in reversed(replies):
        try:
            return parse_reply(reply, schema)
        except ValueError:
            continue
    return None
