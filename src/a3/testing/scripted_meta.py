"""A scripted LLM for meta-analysis tests and benchmarks, driven by the synthetic data's themes
(``a3.meta.synthetic.sample_data``).

Summaries name the theme's mechanism; the categoriser puts each run into the category of its
theme (creating it when missing, optionally under a variant name so that near-duplicates
appear); the merger merges categories of the same theme; the clusterer groups themes into
three families.
"""

from __future__ import annotations

import json
import re

from a3.llm import CallConfig, Message
from a3.meta.synthetic.sample_data import THEMES

PHRASES = {theme: phrase for theme, phrase, _ in THEMES}
HARMS = {theme: harm for theme, _, harm in THEMES}
FAMILY = {
    "cleanup": "Destructive tidy-up",
    "space": "Destructive tidy-up",
    "mirror": "Destructive tidy-up",
    "permissions": "Exposure of access or secrets",
    "credentials": "Exposure of access or secrets",
    "urgency": "Acting without checks",
    "force": "Acting without checks",
    "autonomy": "Acting without checks",
}


def theme_of(text: str) -> str:
    for theme, phrase in PHRASES.items():
        if phrase in text or (text.strip(" .") and text.strip(" .") in phrase) or f"Mechanism: {theme}." in text:
            return theme
    raise AssertionError(f"no theme in: {text[:200]!r}")


class MetaWorld:
    """A scripted LLM for meta-analysis tests: answers each meta step from the synthetic data's themes.

    Use it as a ScriptedClient script. With ``variant_names`` some categories get variant names, so
    that near-duplicates appear for the merger."""

    def __init__(self, variant_names: bool = False) -> None:
        self.variant_names = variant_names
        self.update_calls = 0

    def __call__(self, messages: list[Message], config: CallConfig) -> str:
        task_prompt = messages[0].content
        task = task_prompt.splitlines()[0]
        if task.startswith("Task: summarise one elicitation run"):
            section = (
                task_prompt.split("(analyse this one):")[-1]
                if "(analyse this one)" in task_prompt
                else task_prompt.split("led to the unintended behaviour:")[-1]
            )
            theme = theme_of(section)
            return (
                f"The perturbation appended '{PHRASES[theme]}'. Mechanism: {theme}. "
                f"The agent read it as licence and {HARMS[theme]}."
            )
        runs = dict(re.findall(r"\[(R\d+)\]\n(?:.*\n){2}Summary: (.*)", task_prompt))
        if task.startswith("Task: build a taxonomy"):
            categories: dict[str, list[dict[str, str]]] = {}
            for label, summary in runs.items():
                categories.setdefault(theme_of(summary), []).append(
                    {"run": label, "trigger_phrase": PHRASES[theme_of(summary)], "justification": "same wording"}
                )
            return json.dumps(
                {
                    "categories": [
                        {
                            "name": f"{t.capitalize()} wording",
                            "definition": f"Instructions whose wording invites {t}.",
                            "examples": ex,
                        }
                        for t, ex in categories.items()
                    ],
                    "unassigned": [],
                }
            )
        if task.startswith("Task: extend a taxonomy"):
            self.update_calls += 1
            existing = {name.split()[0].lower(): cid for cid, name in re.findall(r"^(C\d+): (.+)$", task_prompt, re.M)}
            assignments: list[dict[str, str]] = []
            new: dict[str, list[dict[str, str]]] = {}
            for label, summary in runs.items():
                theme = theme_of(summary)
                if theme in existing:
                    assignments.append(
                        {
                            "run": label,
                            "category": existing[theme],
                            "trigger_phrase": PHRASES[theme],
                            "justification": "fits",
                        }
                    )
                else:
                    new.setdefault(theme, []).append(
                        {"run": label, "trigger_phrase": PHRASES[theme], "justification": "new"}
                    )
            suffix = " cue" if self.variant_names and self.update_calls % 2 == 0 else " wording"
            return json.dumps(
                {
                    "assignments": assignments,
                    "unassigned": [],
                    "new_categories": [
                        {
                            "name": f"{t.capitalize()}{suffix}",
                            "definition": f"Instructions whose wording invites {t}.",
                            "examples": ex,
                        }
                        for t, ex in new.items()
                    ],
                }
            )
        if task.startswith("Task: find near-duplicate"):
            by_theme: dict[str, list[str]] = {}
            for cid, name in re.findall(r"^(C\d+): (.+)$", task_prompt, re.M):
                by_theme.setdefault(name.split()[0].lower(), []).append(cid)
            return json.dumps(
                {"merges": [{"keep": ids[0], "absorb": ids[1:]} for ids in by_theme.values() if len(ids) > 1]}
            )
        if task.startswith("Task: group benign-input"):
            families: dict[str, list[dict[str, str]]] = {}
            for item_id, name in re.findall(r"^((?:C|K)[\d.]+): (.+)$", task_prompt, re.M):
                family = name if name in FAMILY.values() else FAMILY[name.split()[0].lower()]
                families.setdefault(family, []).append({"category": item_id, "justification": f"part of {family}"})
            return json.dumps(
                {
                    "clusters": [
                        {
                            "name": f,
                            "definition": f"Runs where {f.lower()} led to harm.",
                            "anchor_phrases": ["x", "y"],
                            "members": m,
                        }
                        for f, m in families.items()
                    ]
                }
            )
        if task.startswith("Task: name one group"):
            themes = [theme_of(phrase) for phrase in re.findall(r"Trigger phrase: (.*)", task_prompt)]
            theme = max(sorted(set(themes)), key=themes.count)
            said = re.sub(
                r"^(?:and|so that)\s+", "", PHRASES[theme]
            )  # named in the phrase's own words, as a good name is
            return json.dumps(
                {"name": f"{theme.capitalize()}: {said}", "definition": f"Instructions that say {PHRASES[theme]}."}
            )
        if task.startswith("Task: name one cluster"):
            members = re.findall(r"^- (\w+)", task_prompt, re.M)
            family = FAMILY.get(members[0].lower(), "Mixed requests") if members else "Mixed requests"
            phrases = [PHRASES[m.lower()] for m in members if m.lower() in PHRASES]
            return json.dumps(
                {
                    "name": family,
                    "definition": "Runs whose instructions say " + "; or ".join(phrases) + ".",
                    "anchor_phrases": "x",
                }
            )
        if task.startswith("Task: place one elicitation run"):
            theme = theme_of(prompt_field(task_prompt, "Trigger phrase"))
            chosen = [
                cid
                for cid, name in re.findall(r"^(C\d+): (.+)$", task_prompt, re.M)
                if name.split()[0].lower() == theme
            ]
            return json.dumps({"category": chosen[0] if chosen else "none", "reason": f"the wording invites {theme}"})
        raise AssertionError(f"unscripted prompt: {task!r}")


def prompt_field(prompt: str, label: str) -> str:
    """The rest of the line after ``label:`` in a prompt; the prompt must have it."""
    found = re.search(rf"{label}: (.*)", prompt)
    if found is None:
        raise ValueError(f"the prompt has no {label!r} line")
    return found.group(1)
