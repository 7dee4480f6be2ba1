"""A griffe extension for the API reference: packages that export lazily (``a3.lazy.lazy_exports``).

Such a package assigns ``__all__`` from a function call, so griffe, reading the source, sees no
exports. Its ``_HOMES`` literal maps each public name to the module that defines it; this extension
makes those names the package's exports, each an alias of the object in its home module, so
``::: a3.align`` documents them like any eager package's ``__all__``.
"""

from __future__ import annotations

import ast
from typing import Any

import griffe


class LazyExports(griffe.Extension):
    """Exports and aliases for every module that defines a ``_HOMES = {...}`` literal."""

    def on_module_members(self, *, node: ast.AST | griffe.ObjectNode, mod: griffe.Module, **kwargs: Any) -> None:
        if not isinstance(node, ast.Module):
            return
        homes = _homes(node)
        if homes is None:
            return
        for name, home in sorted(homes.items()):
            if name not in mod.members:
                mod.set_member(name, griffe.Alias(name, f"{home}.{name}", parent=mod))
        mod.exports = sorted(homes)


def _homes(tree: ast.Module) -> dict[str, str] | None:
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and statement.targets[0].id == "_HOMES"
        ):
            value = ast.literal_eval(statement.value)
            if isinstance(value, dict):
                return value
    return None
