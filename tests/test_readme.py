"""The README's Python snippet runs: the same code, with the scripted models of a3.testing in place of the
config's real ones (no key, no network), stages 1-3 and the report."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _snippet() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From Python", 1)[-1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "README: no python block under '## From Python'"
    return found.group(1)


def test_the_readme_python_snippet_runs_with_scripted_models(tmp_path):
    code = _snippet()
    config_line = re.search(r'^config = load_config\("(?P<path>[^"]+)"\)$', code, re.M)
    client_line = re.search(r"^client = client_for\(config, run, (?P<args>[^)]*)\)", code, re.M)
    assert config_line and client_line, "the snippet no longer builds its config and client the way this test expects"
    config_path = ROOT / config_line["path"]
    code = code.replace(
        config_line.group(0),
        "import json\nfrom a3.config import A3Config\nfrom a3.testing import ScriptedClient, World, scripted_config\n"
        f"config = A3Config.model_validate(scripted_config(json.loads(open({str(config_path)!r}).read())))",
    )
    code = code.replace(
        client_line.group(0),
        f"client = ScriptedClient(World(conversation=config.conversation_format.output_format == "
        f"'conversation'), run_dir=run, {client_line['args']})",
    )
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "hypotheses; validation SFR" in ran.stdout
    assert (tmp_path / ran.stdout.strip().splitlines()[-1]).is_file()  # the report the snippet printed
