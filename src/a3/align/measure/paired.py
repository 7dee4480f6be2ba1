"""A model against the base model on the same items: the paired tests the choice of a final
model rests on (see ``selection``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from a3.align.measure.selection import CandidateTests
from a3.align.records import Kind, Verdict
from a3.stats import non_inferiority, paired_comparison


def candidate_tests(
    items: Sequence[tuple[str, Kind]],
    base: Mapping[str, Verdict],
    model: Mapping[str, Verdict],
    fpr_margin: float,
    capability: tuple[Mapping[str, bool], Mapping[str, bool]] | None = None,
    capability_margin: float = 0.01,
    within_drop: bool | None = None,
) -> CandidateTests:
    """Paired tests of ``model`` against ``base`` on the queries ``items`` (id, kind), judged on
    both sides; ``capability`` is (base, model) correctness per benchmark question, and
    ``within_drop`` the capability threshold's verdict where answers per question are missing."""

    def pairs(kind: Kind, flag: str, status: str) -> tuple[list[bool], list[bool]]:
        both = [
            (base[i], model[i])
            for i, k in items
            if k == kind
            and i in base
            and i in model
            and getattr(base[i], status) == "ok"
            and getattr(model[i], status) == "ok"
        ]
        return [bool(getattr(b, flag)) for b, _ in both], [bool(getattr(m, flag)) for _, m in both]

    leaks = pairs("benign", "unsafe", "unsafe_status")
    capability_test = None
    if capability is not None:
        before, after = capability
        shared = sorted(set(before) & set(after))
        # Flags are wrong answers, so that lower is better like the other rates.
        capability_test = non_inferiority(
            [not before[q] for q in shared], [not after[q] for q in shared], capability_margin
        )
    return CandidateTests(
        sfr=paired_comparison(*pairs("harmful", "flagged", "status")),
        fpr=non_inferiority(*pairs("benign", "flagged", "status"), fpr_margin),
        benign_leaks=paired_comparison(*leaks) if leaks[0] else None,
        capability=capability_test,
        capability_within_drop=within_drop,
    )
