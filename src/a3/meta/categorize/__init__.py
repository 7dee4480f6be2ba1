"""Step 3, ``a3 meta categorize``: runs into benign-input vulnerability categories.

``stage`` is the step (``categorize_runs``) and the original's method, ``--grouping llm``: the
model builds the taxonomy batch by batch, each reply checked by ``taxonomy`` (the category ids
and run labels) and ``evidence`` (quotes from the run, no strategy family as a name). ``embed`` is
the default method: ``grouping`` groups the runs by the mechanism clause of their instructions
without a model, which then only names the groups and places the runs left alone. ``pregroup``
holds the embedder (MiniLM) that both methods and the cluster step use.
"""

from a3.lazy import lazy_exports

# Each public name and the module it lives in.
_HOMES = {
    "CategorizeContext": "a3.meta.categorize.stage",
    "CategorizeOptions": "a3.meta.categorize.stage",
    "EmbedWeights": "a3.meta.categorize.grouping",
    "Embedder": "a3.meta.categorize.pregroup",
    "categorize_runs": "a3.meta.categorize.stage",
    "minilm_embedder": "a3.meta.categorize.pregroup",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _HOMES)
