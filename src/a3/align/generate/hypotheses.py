"""The hypothesis agent: proposes what else should trigger the behaviour, from the log."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from a3.align.generate.payloads import PromptPayload, payload_messages, payload_schema
from a3.config.schema import ConversationFormat, HypothesisGeneration
from a3.errors import UserInputError
from a3.llm.types import Message

_LABEL = re.compile(r"^\s*Ex\s*(\d+)\s*$", re.IGNORECASE)


class ProposedHypothesis(BaseModel):
    basis_example: str
    hypothesis: str = Field(min_length=10)
    change_type: Literal["structural", "topical"]
    concrete_example: Any  # the query: a string, or a conversation object (see proposal_schema)


class ProposalBatch(BaseModel):
    hypotheses: list[ProposedHypothesis] = Field(min_length=1)


def proposal_schema(
    fmt: ConversationFormat,
    known_examples: set[str],
    existing_texts: set[str],
    max_ideas: int,
    min_ideas: int = 1,
    drop_repeats: bool = False,
) -> type[ProposalBatch]:
    """A ProposalBatch for this round: the concrete example has the output format's shape, and
    validation also checks what only this round knows: the labels that exist, the hypotheses
    already tested, the size cap and the structural share. With ``drop_repeats`` (the lenient
    reading of a reply that failed the full rules), repeated hypotheses are left out instead of
    sending the reply back."""
    example_schema = payload_schema(fmt)
    example_type: Any = Annotated[str, Field(min_length=1)] if example_schema is PromptPayload else example_schema

    labels = sorted(known_examples, key=_label_order)

    class RoundHypothesis(ProposedHypothesis):
        # The enum guides schema-following decoders; validation below also accepts "Ex 3" spellings.
        basis_example: str = Field(json_schema_extra={"enum": [*labels]})
        concrete_example: example_type

    class StructuralHypothesis(RoundHypothesis):
        change_type: Literal["structural"]

    RoundHypothesis.__name__ = "ProposedHypothesis"
    StructuralHypothesis.__name__ = "StructuralHypothesis"

    def alternate_positions(field_schema: dict[str, Any]) -> None:
        # The share rule written into the schema itself, for decoders that follow a schema (the
        # local models): even positions must be structural, so at least half are.
        structural, either = field_schema.pop("items")["anyOf"]
        field_schema["prefixItems"] = [structural if i % 2 == 0 else either for i in range(max_ideas)]

    class CheckedProposalBatch(ProposalBatch):
        hypotheses: list[StructuralHypothesis | RoundHypothesis] = Field(  # type: ignore[assignment]  # narrowed items
            min_length=min_ideas, max_length=max_ideas, json_schema_extra=alternate_positions
        )

        @model_validator(mode="after")
        def _round_rules(self) -> CheckedProposalBatch:
            structural = sum(h.change_type == "structural" for h in self.hypotheses)
            if 2 * structural < len(self.hypotheses):
                raise ValueError(f"at least half must be structural; {structural} of {len(self.hypotheses)} are")
            seen = set(existing_texts)
            if drop_repeats:
                unique = []
                for hyp in self.hypotheses:
                    if _normalise(hyp.hypothesis) not in seen:
                        seen.add(_normalise(hyp.hypothesis))
                        unique.append(hyp)
                if not unique:
                    raise ValueError("every hypothesis repeats one already listed")
                self.hypotheses = unique
                seen = set(existing_texts)
            for index, hyp in enumerate(self.hypotheses):
                match = _LABEL.match(hyp.basis_example)
                label = f"Ex{match.group(1)}" if match else hyp.basis_example
                if label not in known_examples:
                    raise ValueError(
                        f"hypotheses[{index}].basis_example {hyp.basis_example!r} is not a logged example "
                        f"(known: {', '.join(labels)})"
                    )
                hyp.basis_example = label
                key = _normalise(hyp.hypothesis)
                if key in seen:
                    raise ValueError(f"hypotheses[{index}] repeats a hypothesis that is already listed")
                seen.add(key)
                example = hyp.concrete_example
                hyp.concrete_example = {"prompt": example} if isinstance(example, str) else example.model_dump()
                if isinstance(example, str) and not example.strip():
                    raise ValueError(f"hypotheses[{index}].concrete_example is empty")
            return self

    CheckedProposalBatch.__name__ = "ProposalBatch"
    return CheckedProposalBatch


def concrete_messages(hyp: ProposedHypothesis, fmt: ConversationFormat) -> list[Message]:
    payload = payload_schema(fmt).model_validate(hyp.concrete_example)
    return payload_messages(payload, fmt)


class StartingProposal(BaseModel):
    """A researcher's starting hypothesis, ready to be logged like an agent's proposal."""

    hypothesis: str
    change_type: Literal["structural", "topical"]
    concrete_example: list[Message]


def starting_proposals(generation: HypothesisGeneration, fmt: ConversationFormat) -> list[StartingProposal]:
    """``hypothesis_generation.starting_hypotheses`` with each example checked against the
    conversation format (a mismatch names the field)."""
    proposals = []
    for index, given in enumerate(generation.starting_hypotheses):
        raw = {"prompt": given.example} if isinstance(given.example, str) else given.example
        try:
            payload = payload_schema(fmt).model_validate(raw)
        except ValidationError as exc:
            problem = exc.errors()[0]
            raise UserInputError(
                f"hypothesis_generation.starting_hypotheses[{index}].example does not fit conversation_format "
                f"({fmt.output_format}): {'.'.join(map(str, problem['loc'])) or 'value'}: {problem['msg']}"
            ) from None
        proposals.append(
            StartingProposal(
                hypothesis=given.hypothesis.strip(),
                change_type=given.change_type,
                concrete_example=payload_messages(payload, fmt),
            )
        )
    return proposals


def example_format_note(fmt: ConversationFormat) -> str:
    if fmt.output_format == "prompt":
        return " The concrete example is the query text itself (a string)."
    return (
        f' The concrete example is a conversation object {{"system": null, "messages": [...]}} of exactly '
        f"{fmt.num_turns} alternating user/assistant messages ending with a user message."
    )


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _label_order(label: str) -> int:
    return int(label[2:]) if label[2:].isdigit() else 0
