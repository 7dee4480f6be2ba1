"""Keeping secrets out of messages, logs and files.

API keys come from the environment (or a model's arguments). Provider errors sometimes echo them
("Incorrect API key provided: sk-…"); every message A3 prints or saves passes through ``redact``,
which replaces the value of every key-like environment variable, every registered model argument
and anything shaped like a provider key.
"""

from __future__ import annotations

import os
import re

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"key|token|secret|password|credential", re.IGNORECASE)
# Provider key shapes: OpenAI / Anthropic / OpenRouter (sk-…), Hugging Face (hf_…), AWS access key ids (AKIA…).
_KEY_SHAPE = re.compile(r"\b(?:sk-[A-Za-z0-9_\-*]{12,}|hf_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16})")
_MIN_LENGTH = 8  # shorter values ("1", "true") would redact ordinary words
_registered: set[str] = set()


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def register(value: object) -> None:
    """A secret that is not in the environment (a model argument), to be redacted too."""
    if isinstance(value, str) and len(value) >= _MIN_LENGTH:
        _registered.add(value)


def redact(text: str) -> str:
    values = {v for k, v in os.environ.items() if is_secret_name(k) and len(v) >= _MIN_LENGTH} | _registered
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return _KEY_SHAPE.sub(REDACTED, text)
