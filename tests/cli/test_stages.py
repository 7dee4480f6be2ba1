import json

from typer.testing import CliRunner

from a3.cli.main import app
from a3.testing import ScriptedClient
from a3.testing.scripted_world import World, scripted_config
from tests.paths import CONFIGS

runner = CliRunner()


def write_config(tmp_path):
    data = scripted_config(json.loads((CONFIGS / "nesting-jailbreak.json").read_text()))
    path = tmp_path / "config.yaml"
    import yaml

    path.write_text(yaml.safe_dump(data))
    return path


def test_stage_commands_run_in_order_and_report(tmp_path, monkeypatch):
    world = World(conversation=False)
    monkeypatch.setattr("a3.align.runs.client_for", lambda cfg, run, **kw: ScriptedClient(world, run_dir=run))
    config = write_config(tmp_path)
    run_dir = tmp_path / "run"
    env = {"COLUMNS": "200"}

    result = runner.invoke(
        app, ["--no-progress", "generate", str(config), "--run-dir", str(run_dir), "--num-rounds", "2"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "H6" in result.stdout and "cost so far: $0.0000" in result.stdout

    result = runner.invoke(app, ["split", "--config-file", str(config), "--run-dir", str(run_dir)], env=env)
    assert result.exit_code == 0, result.output
    assert "train" in result.stdout and "sealed" in result.stdout

    result = runner.invoke(app, ["expected", str(config), "--run-dir", str(run_dir), "--max-parallel", "4"], env=env)
    assert result.exit_code == 0, result.output
    assert "0 fell back" in result.stdout

    result = runner.invoke(app, ["status", str(run_dir)], env=env)
    assert result.exit_code == 0
    for stage in ("generate", "split", "expected"):
        assert stage in result.stdout
    assert json.loads((run_dir / "config.json").read_text())["attack"]["key"] == "nesting-jailbreak"


def test_split_before_generate_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("a3.align.runs.client_for", lambda cfg, run, **kw: ScriptedClient(World(False), run_dir=run))
    result = runner.invoke(app, ["split", str(write_config(tmp_path)), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2 and "run `a3 generate` first" in result.stderr


def test_bad_config_exits_2_and_creates_no_run(tmp_path):
    config = tmp_path / "bad.json"
    data = json.loads((CONFIGS / "sycophancy.json").read_text())
    data["data_generation"]["max_concurent"] = 3
    config.write_text(json.dumps(data))
    result = runner.invoke(app, ["generate", str(config), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "data_generation.max_concurent" in result.stderr and "max_concurrent" in result.stderr
    assert not (tmp_path / "run").exists()


def test_missing_config_argument(tmp_path):
    result = runner.invoke(app, ["generate"])
    assert result.exit_code == 2 and "give the config file" in result.stderr


def test_fixed_mix_trains_the_harmful_shares_asked_for(tmp_path, monkeypatch):
    seen = []

    async def fake_fixed_mix(config, run, client, options, progress=None):
        seen.append(options.harmful_shares)
        return []

    monkeypatch.setattr("a3.align.compare.fixed_mix.run_fixed_mix", fake_fixed_mix)
    monkeypatch.setattr("a3.align.runs.client_for", lambda cfg, run, **kw: ScriptedClient(World(False), run_dir=run))
    config, run_dir = write_config(tmp_path), str(tmp_path / "run")
    shares = ["--harmful-share", "10", "--harmful-share", "90", "--harmful-share", "10"]
    result = runner.invoke(app, ["--no-progress", "baseline", "fixed-mix", str(config), "--run-dir", run_dir, *shares])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["--no-progress", "baseline", "fixed-mix", str(config), "--run-dir", run_dir])
    assert result.exit_code == 0, result.output
    assert seen == [(10, 90), (10, 30, 50, 70, 90)]
    result = runner.invoke(app, ["baseline", "fixed-mix", str(config), "--run-dir", run_dir, "--harmful-share", "101"])
    assert result.exit_code == 2 and len(seen) == 2
