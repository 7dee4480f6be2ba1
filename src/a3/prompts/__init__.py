"""Prompts are package data files, one Markdown file each, written in our own words.

Placeholders are ``{name}``; ``Prompt.render`` fills exactly the declared names and refuses
missing or unexpected ones. A prompt's version is the hash of its text and is recorded with
every output it produced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from a3.store.hashing import sha256_of

__all__ = ["Prompt", "load_prompt"]

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Prompt:
    """A prompt file's text: ``render`` fills its placeholders; ``version`` is the hash of its text."""

    name: str
    text: str

    @property
    def version(self) -> str:
        return sha256_of(self.text.encode("utf-8"))[:12]

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(_PLACEHOLDER.findall(self.text))

    def render(self, **values: object) -> str:
        missing = self.placeholders - values.keys()
        unexpected = values.keys() - self.placeholders
        if missing or unexpected:
            raise KeyError(f"prompt {self.name!r}: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), self.text)


@cache
def load_prompt(name: str) -> Prompt:
    """The packaged prompt ``name`` (``a3/prompts/<name>.md``), read once."""
    text = files("a3.prompts").joinpath(f"{name}.md").read_text(encoding="utf-8")
    return Prompt(name=name, text=text.strip() + "\n")
