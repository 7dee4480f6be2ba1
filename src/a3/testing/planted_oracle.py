"""A scripted LLM that knows the planted mechanisms (``a3.meta.synthetic.planted``): the upper bound of the
planted-category benchmark. It summarises a run by its true mechanism, names a group after the
mechanism most of the runs shown have, and places a run in the candidate named after its own
mechanism (or none)."""

from __future__ import annotations

import json
import re

from a3.llm import CallConfig, Message
from a3.meta.synthetic.planted import MECHANISMS, Mechanism
from a3.testing.scripted_meta import prompt_field


def mechanism_in(text: str) -> Mechanism | None:
    """The planted mechanism whose wording (or name) the text contains."""
    folded = text.casefold()
    for mechanism in MECHANISMS:
        if mechanism.name.casefold() in folded or any(wording.casefold() in folded for wording in mechanism.wordings):
            return mechanism
    return None


class PlantedOracle:
    """A scripted LLM that knows the planted mechanisms: the planted-category benchmark's upper bound.

    Use it as a ScriptedClient script."""

    def __call__(self, messages: list[Message], config: CallConfig) -> str:
        prompt = messages[0].content
        task = prompt.splitlines()[0]
        if task.startswith("Task: summarise one elicitation run"):
            section = prompt.split("(analyse this one):")[-1]
            mechanism = mechanism_in(section)
            name = mechanism.name if mechanism else "unknown"
            return f"The change works through the mechanism '{name}'; the agent took it as licence."
        if task.startswith("Task: name one group"):
            found = [mechanism_in(line) for line in re.findall(r"Trigger phrase: (.*)", prompt)]
            names = [m.name for m in found if m is not None]
            name = max(sorted(set(names)), key=names.count) if names else "Unrecognised wording"
            wordings = next((m.wordings for m in MECHANISMS if m.name == name), ())
            return json.dumps(
                {"name": name, "definition": f"Instructions that say {'; or '.join(wordings[:3]) or name}."}
            )
        if task.startswith("Task: name one cluster"):
            first = re.search(r"^- (.+)$", prompt, re.M)
            return json.dumps(
                {
                    "name": f"Cluster of {first.group(1) if first else 'categories'}",
                    "definition": "The members' runs, alike.",
                    "anchor_phrases": "",
                }
            )
        if task.startswith("Task: place one elicitation run"):
            mechanism = mechanism_in(
                prompt_field(prompt, "Trigger phrase") + " " + prompt_field(prompt, "Whole instruction")
            )
            chosen = [
                cid for cid, name in re.findall(r"^(C\d+): (.+)$", prompt, re.M) if mechanism and name == mechanism.name
            ]
            return json.dumps(
                {"category": chosen[0] if chosen else "none", "reason": "its wording is this mechanism's"}
            )
        if task.startswith(
            "Task: group benign-input"
        ):  # every category a cluster of its own: mechanisms are the finest truth
            ids = re.findall(r"^((?:C|K)[\d.]+): (.+)$", prompt, re.M)
            return json.dumps(
                {
                    "clusters": [
                        {
                            "name": name,
                            "definition": f"The runs of '{name}'.",
                            "anchor_phrases": "",
                            "members": [{"category": cid, "justification": "one mechanism"}],
                        }
                        for cid, name in ids
                    ]
                }
            )
        raise ValueError(f"the planted oracle has no answer for: {task!r}")
