"""The transcripts behind a run's rates, for the report's browser: every judged reply of every
measured model, joined with its query and verdict.

Which model a folder measured is read from the header of its inspect log (``transcripts.eval``,
written by the code that measured it); the replies and verdicts come from the folder's keyed
records, the queries from stage 1, and each query's split from stage 2's files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from inspect_ai.log import read_eval_log

from a3.align import layout
from a3.align.records import Query, TargetResponse, Verdict
from a3.align.run_files import RunFiles
from a3.align.split import SplitFile


@dataclass(frozen=True)
class Subject:
    method: str  # "base", "A3", "fixed mixing", "ICL", "DSPy", "evaluated"
    name: str  # "base model", "iteration 2", ...
    log: str  # its inspect log, relative to the run directory


@dataclass(frozen=True)
class Reply:
    query_id: str
    subject: int  # index into ``Transcripts.subjects``
    response: TargetResponse
    verdict: Verdict


@dataclass(frozen=True)
class Transcripts:
    """Every judged reply of a run, for the report's transcript browser.

    The queries and their splits, the measured models (subjects) and each reply with its verdict."""

    queries: dict[str, Query]
    split_of: dict[str, str]  # query id -> train, validation, ood or test
    subjects: list[Subject]
    replies: list[Reply]


def collect_transcripts(files: RunFiles, splits: Mapping[str, SplitFile | None] | None = None) -> Transcripts:
    """``splits``: stage 2's files, when the caller has read them already."""
    run = files.path
    queries = {q.id: q for q in files.queries()}
    subjects: list[Subject] = []
    replies: list[Reply] = []
    for log in sorted(run.rglob(layout.TRANSCRIPTS), key=lambda p: _order(run, p)):
        metadata = read_eval_log(str(log), header_only=True).eval.metadata or {}
        if "method" not in metadata or "name" not in metadata:
            continue  # not a log of A3's transcripts
        subjects.append(Subject(metadata["method"], metadata["name"], str(log.relative_to(run))))
        folder = str(log.parent.relative_to(run))
        responses = {r.id: r for r in files.responses(folder)}
        for verdict in files.verdicts(folder):
            if verdict.id in queries and verdict.id in responses:
                replies.append(Reply(verdict.id, len(subjects) - 1, responses[verdict.id], verdict))
    if splits is None:
        splits = files.splits()
    split_of = {row.id: name for name, split in splits.items() for row in (split.queries if split else [])}
    return Transcripts(queries, split_of, subjects, replies)


def _order(run: Path, log: Path) -> tuple[int, str]:
    """The base model first, then A3's iterations, then the rest, each in path order."""
    relative = str(log.relative_to(run))
    rank = 0 if relative.startswith(layout.GENERATION) else 1 if relative.startswith(layout.FINETUNE) else 2
    return rank, relative
