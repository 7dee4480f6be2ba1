"""The judge's identity is a typed, frozen record that dumps to the JSON A3 has always stored for it, so
validations, evaluations and defences made before it was typed still hold for the same judge."""

import json

import pytest
from pydantic import ValidationError

from a3.align.compare.any_model import EvaluationSettings
from a3.align.measure import JudgeIdentity, JudgeValidation
from a3.align.measure.judge import Judge, VoterIdentity, judge_identity
from a3.align.roles import judge_spec
from a3.llm.types import CallConfig
from a3.store.hashing import sha256_of
from a3.testing import ScriptedClient
from a3.testing.scripted_world import World
from tests.align.measure.test_judge import config_with


def stored_identity(judge: Judge) -> dict:
    """The identity as A3 built and stored it when it was a dict (the code of that version)."""
    return {
        "voters": [v.model_dump(exclude={"timeout"}) for v in judge.voters],
        "prompts": sha256_of(judge.prompts.model_dump()),
        "rules": {kind: rule.model_dump() if rule else None for kind, rule in judge.rules.items()},
    }


def a_judge(tmp_path, **sections) -> Judge:
    return Judge(ScriptedClient(World(conversation=False), run_dir=tmp_path), judge_spec(config_with(**sections)))


PANEL_AND_RULE = {
    "judge_model": {"panel_samples": 3, "seed": 11, "temperature": 0.7},
    "judge_rules": {"harmful": {"regex": r"\b44\d\d\b", "combine": "any"}},
}


@pytest.mark.parametrize("sections", [{}, PANEL_AND_RULE])
def test_the_identity_dumps_to_the_stored_json_and_hashes_alike(tmp_path, sections):
    judge = a_judge(tmp_path, **sections)
    identity = judge.identity()
    old = stored_identity(judge)
    assert isinstance(identity, JudgeIdentity) and identity.model_dump() == old
    assert json.dumps(identity.model_dump()) == json.dumps(old)  # key order too: settings files are not sorted
    assert identity.key == sha256_of(old)[:12]  # the validation's verdict log keeps its name
    assert identity == judge_identity(judge_spec(config_with(**sections)))


def test_an_identity_stored_as_json_compares_equal_and_another_judge_does_not(tmp_path):
    judge = a_judge(tmp_path, **PANEL_AND_RULE)
    stored = json.loads(json.dumps(stored_identity(judge)))  # as read back from validation.json
    assert JudgeIdentity.model_validate(stored) == judge.identity()
    assert JudgeIdentity.model_validate(stored) != a_judge(tmp_path / "other").identity()
    other_rule = a_judge(tmp_path / "rule", judge_rules={"harmful": {"regex": "x", "combine": "any"}})
    assert JudgeIdentity.model_validate(stored) != other_rule.identity()


def test_files_written_with_the_identity_as_a_dict_still_read(tmp_path):
    judge = a_judge(tmp_path)
    stored = json.loads(json.dumps(stored_identity(judge)))
    validation = JudgeValidation.model_validate(
        {
            "labels": "labels.jsonl",
            "labels_sha256": "0" * 64,
            "judge": stored,
            "judge_description": judge.describe(),
            "made_at": "2026-12-01T00:00:00+00:00",
            "scopes": {},
        }
    )
    assert validation.judge == judge_identity(judge_spec(config_with()))  # the report's "current" check
    settings = {
        "name": "m",
        "model": "openai/m",
        "adapter": None,
        "ood_sample": 100,
        "seed": 42,
        "temperature": 0.0,
        "max_tokens": 10,
        "judge": stored,
    }
    evaluation = EvaluationSettings.model_validate(settings)
    assert evaluation.judge == judge.identity()
    assert evaluation.model_dump(mode="json") == settings  # pinned settings.json compares equal


def test_the_identity_is_frozen_and_each_voter_is_a_call_config_without_its_timeout(tmp_path):
    identity = a_judge(tmp_path).identity()
    with pytest.raises(ValidationError):
        identity.prompts = "x"  # type: ignore[misc]
    dumped = set(CallConfig(model="m").model_dump()) - {"timeout"}
    assert list(VoterIdentity.model_fields) == [f for f in CallConfig.model_fields if f in dumped]
    with pytest.raises(ValidationError):
        JudgeIdentity.model_validate({**identity.model_dump(), "voters": [{"model": "m", "timeout": 5.0}]})
