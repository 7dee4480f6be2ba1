"""Stable content hashes for cache keys and stage input fingerprints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from a3.store.atomic import JsonObject


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal data always hashes equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_of(obj: Any) -> str:
    """The sha256 (hex) of bytes, or of any other value's canonical JSON."""
    data = obj if isinstance(obj, bytes) else canonical_json(obj).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """The sha256 (hex) of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


class _IdentityWhenSet:
    """The type of ``IDENTITY_WHEN_SET``."""

    def __repr__(self) -> str:
        return "IDENTITY_WHEN_SET"


IDENTITY_WHEN_SET = _IdentityWhenSet()
"""Marks a setting added after runs were made: ``Annotated[int, IDENTITY_WHEN_SET]``.

While it is at its default it is left out of a section's identity (``identity_dump``), so those
runs keep their pinned settings and input hashes; set to anything else, it is part of them like
any other field."""


def identity_dump(model: BaseModel) -> JsonObject:
    """``model`` as JSON for pinning and hashing, with unset later settings left out.

    A field marked ``IDENTITY_WHEN_SET`` is dropped while at its default, in nested models too
    (also inside lists and dicts)."""
    dumped: JsonObject = model.model_dump(mode="json")
    _drop_defaults(model, dumped)
    return dumped


def _drop_defaults(model: BaseModel, dumped: JsonObject) -> None:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        marked = IDENTITY_WHEN_SET in field.metadata
        if marked and value == field.get_default(call_default_factory=True, validated_data=model.__dict__):
            dumped.pop(name, None)
        elif name in dumped:
            _drop_in(value, dumped[name])


def _drop_in(value: object, dumped: object) -> None:
    """Walk a field's value and its dump side by side: models, and models inside lists and dicts."""
    if isinstance(value, BaseModel) and isinstance(dumped, dict):
        _drop_defaults(value, dumped)
    elif isinstance(value, list | tuple) and isinstance(dumped, list) and len(value) == len(dumped):
        for item, item_dump in zip(value, dumped, strict=True):
            _drop_in(item, item_dump)
    elif isinstance(value, dict) and isinstance(dumped, dict):
        for key, item in value.items():
            if str(key) in dumped:
                _drop_in(item, dumped[str(key)])
