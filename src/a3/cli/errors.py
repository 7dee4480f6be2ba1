"""Turning A3 errors into one clear message on stderr and the right exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from a3.errors import A3Error

F = TypeVar("F", bound=Callable[..., Any])
_stderr = Console(stderr=True)


def reports_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except A3Error as exc:
            _stderr.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _stderr.print("[yellow]interrupted:[/] what finished is saved; run the same command again to resume", soft_wrap=True)
            raise typer.Exit(130) from None  # the shell's code for SIGINT

    return wrapper  # type: ignore[return-value]
