"""Meta-analysis of elicitation runs: select, summarize, categorize, cluster, report."""
