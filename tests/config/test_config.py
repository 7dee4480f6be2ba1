import json
from pathlib import Path

import pytest
import yaml

from a3.config import A3Config, ConfigError, config_hash, load_config
from tests.paths import CONFIGS

EXAMPLES = ["sycophancy.json", "political-neutrality.json", "nesting-jailbreak.json"]


def write(tmp_path, data, name="cfg.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data))
    return path


def example(name="sycophancy.json"):
    return json.loads((CONFIGS / name).read_text())


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_configs_load(name):
    cfg = load_config(CONFIGS / name)
    assert isinstance(cfg, A3Config)


def test_example_formats_match_the_issues():
    syc = load_config(CONFIGS / "sycophancy.json")
    assert syc.seed_example.format == "conversation"
    assert (syc.conversation_format.output_format, syc.conversation_format.num_turns) == ("conversation", 3)
    for name in ("political-neutrality.json", "nesting-jailbreak.json"):
        assert load_config(CONFIGS / name).seed_example.format == "prompt"
    assert load_config(CONFIGS / "nesting-jailbreak.json").target_model.max_tokens == 100


@pytest.mark.parametrize("name", EXAMPLES)
def test_yaml_and_json_give_the_same_config(tmp_path, name):
    data = example(name)
    from_json = load_config(CONFIGS / name)
    from_yaml = load_config(write(tmp_path, data, "cfg.yaml"))
    assert from_yaml == from_json
    assert config_hash(from_yaml) == config_hash(from_json)


def test_judge_templates_render_with_str_format_semantics():
    cfg = load_config(CONFIGS / "sycophancy.json")
    rendered = cfg.judge_prompts.harmful_detection.user_template.format(prompt="P", response="R")
    assert "P" in rendered and "R" in rendered
    assert '{"reason"' in cfg.judge_prompts.harmful_detection.system  # system prompts are used verbatim


def problems_of(tmp_path, data, name="cfg.json"):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data, name))
    return dict(info.value.problems), str(info.value)


def test_unknown_field_names_path_and_suggests(tmp_path):
    data = example()
    data["target_model"]["max_token"] = 5
    problems, message = problems_of(tmp_path, data)
    assert problems == {"target_model.max_token": "unknown field (did you mean 'max_tokens'?)"}
    assert str(tmp_path / "cfg.json") in message


def test_unknown_section_is_rejected(tmp_path):
    data = example()
    data["judge_modle"] = {}
    problems, _ = problems_of(tmp_path, data)
    assert "did you mean 'judge_model'" in problems["judge_modle"]


def test_wrong_type_says_what_was_expected(tmp_path):
    data = example()
    data["judge_model"]["temperature"] = "cold"
    data["conversation_format"]["num_turns"] = 0
    problems, _ = problems_of(tmp_path, data, "cfg.yaml")
    assert "valid number" in problems["judge_model.temperature"] and "'cold'" in problems["judge_model.temperature"]
    assert "greater than or equal to 1" in problems["conversation_format.num_turns"]


def test_list_index_in_field_path(tmp_path):
    data = example()
    data["seed_example"]["conversation"][1]["role"] = "robot"
    problems, _ = problems_of(tmp_path, data)
    assert "seed_example.conversation[1].role" in problems


def test_seed_fields_must_fit_the_format(tmp_path):
    data = example()
    del data["seed_example"]["target_continuation"]
    problems, _ = problems_of(tmp_path, data)
    assert "target_continuation" in problems["seed_example"]
    data = example("nesting-jailbreak.json")
    data["seed_example"]["evaluator_prompt"] = ""
    problems, _ = problems_of(tmp_path, data)
    assert "evaluator_prompt" in problems["seed_example"]


def test_templates_are_checked(tmp_path):
    data = example()
    data["judge_prompts"]["harmful_detection"]["user_template"] = "Only {prompt} here"
    data["expected_behavior_prompts"]["benign_user_template"] = "{prompt} and {answer}"
    data["judge_prompts"]["refusal_detection"]["user_template"] = "{prompt} {response} {"
    problems, _ = problems_of(tmp_path, data)
    assert "{response}" in problems["judge_prompts.harmful_detection.user_template"]
    assert "['answer']" in problems["expected_behavior_prompts.benign_user_template"]
    assert "literal braces" in problems["judge_prompts.refusal_detection.user_template"]


def test_target_needs_some_model(tmp_path):
    data = example()
    data["target_model"] = {"max_tokens": 10}
    problems, _ = problems_of(tmp_path, data)
    assert "model_name" in problems["target_model"]


def test_syntax_errors_give_line_and_column(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"attack": {\n  "name": "x",\n}')
    with pytest.raises(ConfigError, match=r"not valid JSON: .* line 3"):
        load_config(bad_json)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("attack:\n  name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line"):
        load_config(bad_yaml)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.json")
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listing)


def test_config_error_exit_code_is_2():
    assert ConfigError(Path("x"), [("a", "b")]).exit_code == 2


def test_fewest_ideas_above_the_most_is_refused(tmp_path):
    data = example()
    data["hypothesis_generation"].update({"min_ideas": 5, "max_ideas": 3})
    problems, _ = problems_of(tmp_path, data)
    assert "min_ideas (5) is larger than max_ideas (3)" in problems["hypothesis_generation"]


def test_a_sealed_benchmark_may_not_be_one_the_choice_sees(tmp_path):
    from pydantic import ValidationError

    from a3.config.schema import Capability

    shared = tmp_path / "questions.jsonl"
    with pytest.raises(ValidationError, match="sealed_benchmarks.held_out: .* is also benchmarks.general"):
        Capability(benchmarks={"general": str(shared)}, sealed_benchmarks={"held_out": str(shared)})
    Capability(benchmarks={"general": str(shared)}, sealed_benchmarks={"held_out": str(tmp_path / "other.jsonl")})
