import pytest

from a3.prompts import Prompt, load_prompt


def test_render_fills_exactly_the_declared_placeholders():
    prompt = Prompt("p", 'Judge {prompt} -> {response}. Reply {"harmful": true}.')
    assert prompt.placeholders == {"prompt", "response"}
    assert prompt.render(prompt="A", response="B") == 'Judge A -> B. Reply {"harmful": true}.'
    with pytest.raises(KeyError, match="missing"):
        prompt.render(prompt="A")
    with pytest.raises(KeyError, match="unexpected"):
        prompt.render(prompt="A", response="B", extra="C")


def test_version_is_a_hash_of_the_text():
    a, b = Prompt("p", "one {x}"), Prompt("p", "two {x}")
    assert a.version != b.version and len(a.version) == 12
    assert Prompt("q", "one {x}").version == a.version


def test_packaged_prompt_loads():
    repair = load_prompt("structured_repair")
    assert repair.placeholders == {"error", "schema"}
