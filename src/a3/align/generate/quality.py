"""The quality gate for generated queries: what a small generator writes that is not a test.

A query is dropped (and counted, with its reason) when its text is empty or too short, a copy of
the seed example, a near-duplicate of a query already kept, a benign look-alike that repeats its
harmful query, or degenerate: the same words over and over, or written mostly in another script
than the seed. With a topic rule (``data_generation.topic_regex``), a harmful query must match it
and a benign look-alike must not: a small writer otherwise turns harmful queries into harmless
ones ("What is your favourite colour?") and look-alikes into the very request they should avoid.
Near-duplicates are found with difflib's similarity ratio on normalised text.
With masked requests (``data_generation.look_alike_mask``), a look-alike holding the mask or a
bracketed placeholder ("[name]") is dropped too. (Stage 1 also drops a query that holds what the
harmful-kind rule judge looks for in replies.)
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import zlib
from collections import Counter

from a3.llm.types import Message

SIMILAR = 0.9  # difflib ratio at or above which two queries count as the same test
_MIN_LETTERS = 8
_WORD = re.compile(r"\w+", re.UNICODE)
# A bracketed slot with a letter in it, not attached to a word: "[...]", "[name]", "[BANK_NAME]";
# not "list[0]" or "[1, 2]".
_PLACEHOLDER = re.compile(r"(?<!\w)\[(?:\.\.\.|…|(?=[^\]\n]*[^\W\d_])[^\[\]\n]{1,60})\]")


def query_text(messages: list[Message]) -> str:
    """What a query says: its user turns (and assistant turns of a conversation), no system prompt."""
    return "\n".join(m.content for m in messages if m.role != "system").strip()


class QualityGate:
    """Decides, query by query, whether a generated query is kept. ``keep`` registers a kept
    query so later ones are compared with it."""

    def __init__(self, seed_text: str, topic_regex: str | None = None, mask: str | None = None) -> None:
        self.seed = _normalise(seed_text)
        self.mask = mask  # look-alikes are written from masked requests (data_generation.look_alike_mask)
        self.topic = re.compile(topic_regex, re.IGNORECASE) if topic_regex else None
        self.script = _main_script(seed_text)
        self.kept: dict[str, list[str]] = {"harmful": [], "benign": []}

    def reason_to_drop(self, text: str, kind: str, harmful_twin: str | None = None) -> str | None:
        normal = _normalise(text)
        if sum(ch.isalpha() for ch in normal) < _MIN_LETTERS:
            return "empty or too short"
        if _similar(normal, self.seed):
            return "a copy of the seed example"
        if harmful_twin is not None and _similar(normal, _normalise(harmful_twin)):
            return "repeats its harmful query"
        if self.script and _main_script(text) not in (self.script, None):
            return f"written in another script ({_main_script(text)}) than the seed ({self.script})"
        if _repetitive(normal):
            return "repetitive"
        if self.topic is not None:
            on_topic = self.topic.search(text) is not None
            if kind == "harmful" and not on_topic:
                return "does not ask about the behaviour's topic (data_generation.topic_regex)"
            if kind == "benign" and on_topic:
                return "asks about the behaviour's topic (data_generation.topic_regex)"
        if self.mask is not None and kind == "benign" and (self.mask in text or _PLACEHOLDER.search(text)):
            # Shown "[...]", the demo's writer filled 20 of 214 look-alikes with slots like "[name]".
            return "holds the mask or a placeholder such as [name], not a user's words"
        if any(_similar(normal, other) for other in self.kept[kind]):
            return f"a near-duplicate of another {kind} query"
        return None

    def keep(self, text: str, kind: str) -> None:
        self.kept[kind].append(_normalise(text))


def _normalise(text: str) -> str:
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def _similar(a: str, b: str) -> bool:
    if not a or not b:
        return a == b
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return matcher.real_quick_ratio() >= SIMILAR and matcher.quick_ratio() >= SIMILAR and matcher.ratio() >= SIMILAR


def _repetitive(normal: str) -> bool:
    """The same few words over and over: one word is most of the text, or the text compresses to
    a fraction of its size (normal prose compresses to about half)."""
    words = normal.split()
    if len(words) >= 8 and Counter(words).most_common(1)[0][1] > 0.4 * len(words):
        return True
    raw = normal.encode()
    return len(raw) >= 200 and len(zlib.compress(raw)) < 0.25 * len(raw)


def _main_script(text: str) -> str | None:
    """The Unicode script most of the letters belong to (LATIN, CYRILLIC, ARABIC, CJK...)."""
    scripts = Counter(unicodedata.name(ch, "UNKNOWN").split(" ")[0] for ch in text if ch.isalpha())
    if not scripts:
        return None
    script, count = scripts.most_common(1)[0]
    return script if count > 0.5 * sum(scripts.values()) else "MIXED"
