"""The run report: what an alignment run did and found, as self-contained HTML and Markdown."""

from a3.report.collect import ReportData, collect
from a3.report.render import write_report

__all__ = ["ReportData", "collect", "write_report"]
