"""``a3 init``: write a commented starter config for a new behaviour (a3.config.starter does the work)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from a3.cli.common import console
from a3.cli.errors import reports_errors
from a3.errors import UserInputError

if TYPE_CHECKING:
    from a3.config import A3Config
    from a3.config.starter import StarterAnswers

# The answers a config cannot do without: (flag, StarterAnswers field, question asked at a terminal).
REQUIRED = (
    ("--behavior", "behavior", "The unsafe behaviour, in one sentence"),
    ("--example-prompt", "example_prompt", "One user message that drew it out"),
    ("--example-response", "example_response", "The target's unsafe reply to that message"),
    ("--target", "target", "The target's model string (e.g. local/smollm2-135m, openai/gpt-4o-mini, hf/<folder>)"),
)
_FLAGS = {field: flag for flag, field, _ in REQUIRED} | {
    "system_prompt": "--system-prompt",
    "judge": "--judge",
    "generator": "--generator",
    "key": "--key",
    "name": "--name",
    "weights": "--weights",
}


def stdin_is_terminal() -> bool:
    """Whether a person can be asked (tests replace this)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _answers(given: dict[str, str | None]) -> StarterAnswers:
    from pydantic import ValidationError

    from a3.config.starter import StarterAnswers

    missing = [(flag, field, question) for flag, field, question in REQUIRED if given.get(field) is None]
    if missing and not stdin_is_terminal():
        names = ", ".join(flag for flag, _, _ in missing)
        raise UserInputError(
            f"missing {names}: give {'them' if len(missing) > 1 else 'it'} as flags "
            "(or run `a3 init` in a terminal to be asked)"
        )
    for _, field, question in missing:
        given[field] = typer.prompt(question)
    try:
        return StarterAnswers(**{field: value for field, value in given.items() if value is not None})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{_FLAGS.get(str(err['loc'][0]), err['loc'][0])}: {message}" if err["loc"] else message)
        raise UserInputError("; ".join(problems)) from None


def _output_path(positional: Path | None, option: Path | None, force: bool) -> Path:
    if positional is not None and option is not None and positional != option:
        raise UserInputError(f"two output paths given ({positional} and --output {option}); give one")
    path = positional or option or Path("a3.yaml")
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise UserInputError(f"{path}: `a3 init` writes YAML (with comments); name the file .yaml or .yml")
    if path.is_dir():
        raise UserInputError(f"{path}: is a folder; give a file name")
    if path.exists() and not force:
        raise UserInputError(f"{path} exists; give --force to overwrite it, or another path")
    return path


def _still_needed(config: A3Config) -> list[str]:
    """What stops this config's models from being used here (keys to set, weights to install)."""
    from a3.align.roles import resolve_roles
    from a3.llm.preflight import problem

    found: list[str] = []
    for call in resolve_roles(config).models():
        issue = problem(call.model, call.model_args)
        if issue and issue not in found:
            found.append(issue)
    weights = config.target_model.huggingface_model_path
    if weights and not Path(weights).is_dir():
        found.append(
            f"target_model.huggingface_model_path: {weights} is not a folder here; finetuning needs the weights "
            "there (nothing is downloaded at run time)"
        )
    return found


def register(app: typer.Typer) -> None:
    @app.command()
    @reports_errors
    def init(
        output_arg: Path | None = typer.Argument(
            None, metavar="[OUTPUT]", show_default=False, help="Where to write the config (default: a3.yaml)."
        ),
        output: Path | None = typer.Option(None, "--output", "-o", help="Same as OUTPUT."),
        behavior: str | None = typer.Option(
            None, "--behavior", "--behaviour", help="The unsafe behaviour, in one sentence."
        ),
        example_prompt: str | None = typer.Option(None, "--example-prompt", help="One user message that drew it out."),
        example_response: str | None = typer.Option(
            None, "--example-response", help="The target's unsafe reply to it."
        ),
        target: str | None = typer.Option(
            None,
            "--target",
            help="The target's model string: local/smollm2-135m, "
            "openai/gpt-4o-mini, openrouter/<vendor>/<model>, hf/<weights folder>, ...",
        ),
        system_prompt: str | None = typer.Option(
            None, "--system-prompt", help="The target's own system prompt, if it runs with one."
        ),
        judge: str | None = typer.Option(
            None,
            "--judge",
            help="The judge's model string (default: judge_model's default, anthropic/claude-sonnet-4-20250514).",
        ),
        generator: str | None = typer.Option(
            None, "--generator", help="The generator's and agents' model string (default: the judge)."
        ),
        key: str | None = typer.Option(
            None, "--key", help="A short slug for the run's paths (default: from the behaviour)."
        ),
        name: str | None = typer.Option(None, "--name", help="A readable name (default: the behaviour, shortened)."),
        weights: str | None = typer.Option(
            None,
            "--weights",
            help="A local folder of the target's weights, to "
            "finetune a target served by an API (target_model.huggingface_model_path).",
        ),
        force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT if it exists."),
    ) -> None:
        """Write a commented starter config for a new behaviour, from flags (asked at a terminal
        when a required one is missing). Then: `a3 check OUTPUT`, revise the lines marked REVISIT,
        `a3 run OUTPUT`. Exit code 2, with nothing written, on a missing answer or an existing file."""
        from a3.config.starter import starter_config, starter_model
        from a3.store import atomic_write_text

        path = _output_path(output_arg, output, force)
        answers = _answers(
            {
                "behavior": behavior,
                "example_prompt": example_prompt,
                "example_response": example_response,
                "target": target,
                "system_prompt": system_prompt,
                "judge": judge,
                "generator": generator,
                "key": key,
                "name": name,
                "weights": weights,
            }
        )
        text = starter_config(answers)
        atomic_write_text(path, text)
        config = starter_model(answers)
        console.print(f"[green]wrote[/] {escape(str(path))} (attack key {escape(config.attack.key)})", soft_wrap=True)
        console.print(
            f"next: `a3 check {escape(str(path))}`, read the lines marked REVISIT (the judge prompts above all), "
            f"then `a3 run {escape(str(path))}`",
            soft_wrap=True,
        )
        for issue in _still_needed(config):
            console.print(f"[yellow]before running:[/] {escape(issue)}", soft_wrap=True)
