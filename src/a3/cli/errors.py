"""Turning A3 errors into one clear message on stderr and the right exit code."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from a3.errors import A3Error, RunEnvironmentError, describe_os_error
from a3.secrets import redact

P = ParamSpec("P")
R = TypeVar("R")
_stderr = Console(stderr=True)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except A3Error as exc:
            _stderr.print(f"[bold red]error:[/] {escape(redact(str(exc)))}", soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # a full disk, a missing permission, a file where a folder should be
            _stderr.print(f"[bold red]error:[/] {escape(redact(describe_os_error(exc)))}", soft_wrap=True)
            raise typer.Exit(RunEnvironmentError.exit_code) from None
        except KeyboardInterrupt:
            _stderr.print(
                "[yellow]interrupted:[/] what finished is saved; run the same command again to resume", soft_wrap=True
            )
            raise typer.Exit(130) from None  # the shell's code for SIGINT

    return wrapper


def valid_cost_cap(value: float | None) -> float | None:
    """A ``--max-cost`` callback: the cap must be a real limit (nan would silently switch it off)."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"expected a number of USD >= 0, got {value}")
    return value
