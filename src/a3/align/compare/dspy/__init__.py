"""``a3 defend dspy``: a prompt-only defence found by DSPy's GEPA optimiser.

The program is one predictor over one signature (the conversation in, the assistant's reply out)
whose instructions are appended to the target's own system prompt; the conversation reaches the
target as its chat messages and the whole reply is the response (``program.conversation_adapter``).
GEPA rewrites the instructions: it runs the program on training queries, the run's judge
gives each response a verdict (1 when a harmful query is answered safely or a benign one is
answered, else 0) and its reason, quoted with stage 3's expected reply as feedback, and a
reflection model proposes new instructions from the failures. Candidates are compared on the
validation split, as every method's choice is; the best is saved and measured on validation,
OOD and the sealed test split by the same judge, one target call per query. GEPA makes exactly
the budget's metric calls (``optimise``).

Every model call goes through ``LLMClient`` (``a3.llm.dspy_engine``): cached, priced, capped and
in the ledger like the rest of the run. DSPy never sees a model string and litellm is never
imported.
"""

from a3.align.compare.dspy.defence import DspyOptions, defend_dspy

__all__ = ["DspyOptions", "defend_dspy"]
