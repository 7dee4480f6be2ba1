"""Made-up transcripts in any number, for the browser's tests and its benchmark."""

from a3.align.finetune.records import iteration_label
from a3.align.records import Kind, Query, TargetResponse, Verdict
from a3.llm.types import Message
from a3.report.transcripts import Reply, Subject, Transcripts

SPLITS = ("train", "validation", "ood", "test")


def synthetic_transcripts(n_queries: int = 1000, n_iterations: int = 9) -> Transcripts:
    """Made-up transcripts for the report browser's tests and benchmark.

    ``n_queries`` queries over 20 hypotheses, each answered by the base model and ``n_iterations``
    A3 iterations (10,000 replies by default); about one verdict in a hundred is a judge error."""
    subjects = [Subject("base", "base model", "generation/transcripts.eval")] + [
        Subject("A3", iteration_label(i), f"finetune/iter-{i:02d}/eval/transcripts.eval")
        for i in range(1, n_iterations + 1)
    ]
    queries, split_of, replies = {}, {}, []
    for q in range(n_queries):
        kind: Kind = "harmful" if q % 2 == 0 else "benign"
        qid = f"H{q % 20 + 1}-{kind[0]}{q}"
        queries[qid] = Query(
            id=qid,
            hypothesis_id=f"H{q % 20 + 1}",
            kind=kind,
            source="synthetic",
            messages=[
                Message(role="system", content="You are a helpful assistant."),
                Message(role="user", content=f"request number {q}: " + "please explain the process " * 8),
            ],
        )
        split_of[qid] = SPLITS[q // 2 % 4]
        for s in range(len(subjects)):
            error = (q + s) % 97 == 0
            verdict = Verdict(
                id=qid,
                kind=kind,
                status="judge_error" if error else "ok",
                flagged=None if error else (q * 7 + s * 3) % 5 == 0,
                reason=f"reason {q}/{s}",
            )
            replies.append(
                Reply(
                    qid,
                    s,
                    TargetResponse(id=qid, model="m", status="ok", text=f"reply of model {s} to {q} " + "words " * 60),
                    verdict,
                )
            )
    return Transcripts(queries, split_of, subjects, replies)
