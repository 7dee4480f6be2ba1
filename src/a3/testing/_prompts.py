"""Reading a scripted model's prompt: the scripts look for text the prompts always carry."""

from __future__ import annotations

import re


def search(pattern: str, text: str) -> re.Match[str]:
    """``re.search`` for text a script relies on: a prompt without it is a broken script (AssertionError)."""
    found = re.search(pattern, text)
    if found is None:
        raise AssertionError(f"the prompt has no match for {pattern!r}: {text[:200]!r}")
    return found
