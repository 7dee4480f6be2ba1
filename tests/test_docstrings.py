"""Every public name (each package's ``__all__``, pinned in test_public_api.py) has a docstring, in one style:
a one-line summary, then a blank line and the details where they help.

Classes and functions carry their own ``__doc__`` (not one inherited, nor the signature a dataclass writes for
itself); a constant or type alias carries an attribute docstring, the string literal right after its assignment
in the module that defines it (what griffe, and so the API reference, reads)."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from functools import cache

import pytest

from tests.test_public_api import PUBLIC


def _own_doc(obj: object) -> str | None:
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        if doc and dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
            return None  # the signature dataclasses write when a class has no docstring
        return doc
    return obj.__doc__  # type: ignore[attr-defined]


def _is_documented_by_object(obj: object) -> bool:
    return inspect.isclass(obj) or inspect.isroutine(inspect.unwrap(obj))  # type: ignore[arg-type]


@cache
def _attribute_docstrings(module_name: str) -> dict[str, str]:
    """``NAME = ...`` followed by a string literal, anywhere in the module's top-level blocks (try, if)."""
    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    found: dict[str, str] = {}

    def visit(body: list[ast.stmt]) -> None:
        for statement, following in zip(body, [*body[1:], None], strict=False):
            targets = (
                statement.targets
                if isinstance(statement, ast.Assign)
                else [statement.target]
                if isinstance(statement, ast.AnnAssign)
                else []
            )
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                for target in targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = following.value.value
            for block in ("body", "orelse", "finalbody"):
                if isinstance(statement, (ast.Try, ast.If)) and getattr(statement, block, None):
                    visit(getattr(statement, block))
            for handler in getattr(statement, "handlers", []):
                visit(handler.body)

    visit(tree.body)
    return found


def _home(package: str, name: str) -> str:
    """The module that assigns ``name``: the lazy map's, the one the package imports it from, or the package."""
    module = importlib.import_module(package)
    homes = getattr(module, "_HOMES", {})
    if name in homes:
        return homes[name]
    tree = ast.parse(inspect.getsource(module))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and any(alias.name == name for alias in node.names):
            return node.module
    return package


def docstring(package: str, name: str) -> str | None:
    obj = getattr(importlib.import_module(package), name)
    if _is_documented_by_object(obj):
        return _own_doc(obj)
    return _attribute_docstrings(_home(package, name)).get(name)


def problem(doc: str | None) -> str | None:
    """What is wrong with a docstring, or None."""
    if not doc or not doc.strip():
        return "no docstring"
    lines = inspect.cleandoc(doc).splitlines()
    if len(lines) > 1 and lines[1].strip():
        return "the summary is more than one line (a blank line must follow it)"
    return None


MEMBERS = [(package, name) for package in sorted(PUBLIC) for name in PUBLIC[package]]


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_every_public_name_has_a_one_line_summary(package):
    bad = {name: problem(docstring(package, name)) for name in PUBLIC[package]}
    bad = {name: why for name, why in bad.items() if why}
    assert not bad, f"{package}: {bad}"


def test_the_checker_sees_a_missing_docstring_and_a_dataclass_signature():
    @dataclasses.dataclass
    class Plain:
        x: int = 0

    def bare():
        pass

    assert problem(_own_doc(Plain)) == "no docstring"
    assert problem(_own_doc(bare)) == "no docstring"
    assert problem("Two lines\nof summary.") is not None
    assert problem("Summary.\n\n    Details.") is None
