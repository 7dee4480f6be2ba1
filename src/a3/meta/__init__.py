"""Meta-analysis of elicitation runs: select, summarize, categorize, cluster, report.

Read bottom-up like the tree: ``formats`` (the original pipeline's files, each a typed record) and
``elicitation_runs`` (run ids, the run tree's layout, the success rule); ``select`` (step 1),
``summarize`` (step 2), ``categorize`` (step 3, its two methods and their checks), ``cluster``
(step 4a), ``report`` (step 4b); ``pipeline`` (``run_meta``) on top. ``scoring`` scores a
categorization against known labels, and ``synthetic`` writes made-up runs to score it on.

Each step takes and returns typed objects (``TaskList``, ``Categorization``, ``Clusters``, ...);
``a3.meta.formats`` reads and writes them as the original pipeline's files, and ``run_meta`` hands
them from step to step. Each name below is imported from its module on first use, so importing
one step does not import the others.
"""

from __future__ import annotations

from a3.lazy import lazy_exports

# Each public name and the module it lives in.
_HOMES = {
    "Categorization": "a3.meta.formats",
    "CategorizeContext": "a3.meta.categorize.stage",
    "CategorizeOptions": "a3.meta.categorize.stage",
    "ClusterOptions": "a3.meta.cluster",
    "Clusters": "a3.meta.formats",
    "LLMSettings": "a3.meta.settings",
    "MetaRunOptions": "a3.meta.pipeline",
    "MetaRunResult": "a3.meta.pipeline",
    "RunId": "a3.meta.elicitation_runs",
    "RunRef": "a3.meta.elicitation_runs",
    "SelectOptions": "a3.meta.select",
    "Selection": "a3.meta.formats",
    "SummaryOptions": "a3.meta.summarize",
    "SummaryReport": "a3.meta.summarize",
    "TaskList": "a3.meta.elicitation_runs",
    "build_report": "a3.meta.report",
    "categorize_runs": "a3.meta.categorize.stage",
    "cluster_categories": "a3.meta.cluster",
    "load_task_list": "a3.meta.formats",
    "read_categorization": "a3.meta.formats",
    "read_clusters": "a3.meta.formats",
    "run_meta": "a3.meta.pipeline",
    "select_runs": "a3.meta.select",
    "summarize_runs": "a3.meta.summarize",
    "task_list_document": "a3.meta.formats",
    "write_report": "a3.meta.report",
    "write_sample_data": "a3.meta.synthetic.sample_data",
    "write_task_list": "a3.meta.formats",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _HOMES)
