"""Checks on what a model attaches to a category: quotes must come from the run, names must not be
a banned strategy family however they are spelled or joined."""

from __future__ import annotations

import difflib
import re
import unicodedata

BANNED_NAMES = frozenset(
    {
        "underspecification",
        "delegation of control",
        "goal conflict",
        "threats to model autonomy",
        "threat to model autonomy",
        "threats to the agent s autonomy",
        "threats to agent autonomy",
    }
)
_GENERIC_WORDS = frozenset(
    {"strategy", "strategies", "category", "mechanism", "vulnerability", "pattern", "type", "attack", "based", "via"}
)
QUOTE_MATCH = 0.85  # similarity a quote needs with the run's text where it best aligns
# Separators a model may join two names with: commas of any script, semicolons, slashes, bars, "and", "&", "+".
_JOINERS = re.compile(r"[,\u060c\u3001\uff0c;\uff1b/|&+]|\band\b", re.IGNORECASE)


def normalise(text: str) -> str:
    """Case, width, accents, punctuation and spacing folded away: "Goal-Conflict!" -> "goal conflict"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in folded)
    return " ".join(kept.split())


def banned_name(name: str) -> str | None:
    """The banned strategy family the name is, or contains as one of its joined parts ("Goal
    conflict strategy" counts: generic words are ignored); None if clean."""
    for part in [name, *_JOINERS.split(name)]:
        words = [w for w in normalise(part).split() if w not in _GENERIC_WORDS]
        if " ".join(words) in BANNED_NAMES:
            return " ".join(words)
    return None


def quote_found(quote: str, texts: list[str]) -> bool:
    """Whether the quote occurs in one of the texts, exactly or closely (after normalising both):
    the quote is aligned on its longest common stretch with the text and must then match the
    aligned window with similarity >= QUOTE_MATCH."""
    wanted = normalise(quote)
    if not wanted:
        return False
    for text in texts:
        haystack = normalise(text)
        if wanted in haystack:
            return True
        matcher = difflib.SequenceMatcher(None, wanted, haystack, autojunk=False)
        match = matcher.find_longest_match(0, len(wanted), 0, len(haystack))
        if match.size == 0:
            continue
        start = max(0, match.b - match.a)
        window = haystack[start : start + len(wanted)]
        if difflib.SequenceMatcher(None, wanted, window, autojunk=False).ratio() >= QUOTE_MATCH:
            return True
    return False
