"""Reading the data files a user names (benchmark questions, general-data rows).

``.jsonl`` is one JSON value per line; anything else is one JSON document: a list, or an object
holding the list under one of ``list_keys``. Bad input is a UserInputError naming the file and
the line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from a3.errors import UserInputError


def read_items(path: Path, field: str, list_keys: Sequence[str] = ()) -> list[Any]:
    if not path.is_file():
        raise UserInputError(f"{field}: {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UserInputError(f"{path}, line {number}: not JSON ({exc.msg})") from None
        return items
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict):
        data = next((data[key] for key in list_keys if key in data), None)
    if not isinstance(data, list):
        keys = f" or an object with {' / '.join(repr(k) for k in list_keys)}" if list_keys else ""
        raise UserInputError(f"{path}: expected a JSON list{keys}")
    return data
