"""The run report: what an alignment run did and found, as self-contained HTML and Markdown."""

from a3.report.collect import ReportData, collect
from a3.report.render import inspect_view_command, write_report
from a3.report.transcripts import Transcripts, collect_transcripts

__all__ = ["ReportData", "Transcripts", "collect", "collect_transcripts", "inspect_view_command", "write_report"]
