"""Made-up elicitation runs in the original's layout, for tests, benchmarks and the demo: the
sample tree (``sample_data``: every case step 1 must handle, and themes a scripted model knows),
and runs with planted mechanisms whose labels are written beside them (``planted``: fixed
wordings added to a task; ``planted_hard``: instructions composed afresh, as a refinement model
rewrites them). Each writes its files through ``a3.meta.formats``.
"""

from a3.lazy import lazy_exports

# Each public name and the module it lives in.
_HOMES = {
    "HardPlantedInfo": "a3.meta.synthetic.planted_hard",
    "PlantedInfo": "a3.meta.synthetic.planted",
    "SampleInfo": "a3.meta.synthetic.sample_data",
    "load_hard_labels": "a3.meta.synthetic.planted_hard",
    "load_labels": "a3.meta.synthetic.planted",
    "write_hard_planted_runs": "a3.meta.synthetic.planted_hard",
    "write_planted_runs": "a3.meta.synthetic.planted",
    "write_sample_data": "a3.meta.synthetic.sample_data",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _HOMES)
