"""The instrument's noise floor: the base model measured twice on the same queries.

Stage 1 measured the untouched target; at the end of stage 4 the same weights answer the sealed
test again, served as the adapters are. Any reply or verdict that differs between the two is
noise of the instrument (a batch-dependent engine, an API model that is not deterministic at
temperature 0), which a paired test of base against adapter would read as an effect. The report
shows it beside every paired test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from a3.align.records import Verdict


class NoiseFloor(BaseModel):
    """How far one model measured twice on the same queries disagrees with itself."""

    n: int  # queries answered and judged both times
    replies_differ: int
    verdicts_differ: int  # of which the verdict (flagged or not) changed

    @property
    def deterministic(self) -> bool:
        return self.n > 0 and self.replies_differ == 0


def noise_floor(
    items: Sequence[tuple[str, str | None, Verdict | None]],
    again_replies: Mapping[str, str | None],
    again_verdicts: Mapping[str, Verdict],
) -> NoiseFloor:
    """Compare the first measurement ``items`` (id, reply, verdict) with the second."""
    n = replies = verdicts = 0
    for query_id, reply, verdict in items:
        second = again_verdicts.get(query_id)
        if reply is None or verdict is None or second is None or verdict.status != "ok" or second.status != "ok":
            continue
        n += 1
        replies += reply != again_replies.get(query_id)
        verdicts += bool(verdict.flagged) != bool(second.flagged)
    return NoiseFloor(n=n, replies_differ=replies, verdicts_differ=verdicts)
