"""Every error A3 raises for a person to read is an ``A3Error``, so the CLI turns it into a message and an
exit code; only stop signals (``BaseException`` subclasses such as ``StopProgram``) stand outside it."""

import ast

from tests.paths import ROOT


def _error_classes() -> dict[str, list[str]]:
    """Each class in src/a3 named ``*Error``, with the names of its bases."""
    found: dict[str, list[str]] = {}
    for path in (ROOT / "src" / "a3").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                found[node.name] = [base.id if isinstance(base, ast.Name) else ast.unparse(base) for base in node.bases]
    return found


def test_every_error_class_descends_from_a3error():
    classes = _error_classes()

    def under_a3(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == "A3Error":
            return True
        if name in seen or name not in classes:
            return False
        return any(under_a3(base, seen | {name}) for base in classes[name])

    assert "DuplicateKeyError" in classes and len(classes) >= 10  # the walk found the package's errors
    outside = sorted(name for name in classes if not under_a3(name))
    assert outside == [], f"errors outside the A3Error hierarchy: {outside}"
