"""The documentation site builds as CI builds it (``mkdocs build --strict``: no broken link, no page left out,
no docstring griffe cannot read), its configuration reference lists every config field, and each API page
documents every name of its package's ``__all__``."""

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
API_PACKAGES = [
    "a3.align",
    "a3.align.measure",
    "a3.align.finetune",
    "a3.align.compare",
    "a3.config",
    "a3.llm",
    "a3.store",
    "a3.meta",
    "a3.report",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra (mkdocs) is not installed: bash scripts/setup.sh --full")
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stdout[-2000:]}\n{built.stderr[-4000:]}"
    return out


def _generator():
    return load_script(ROOT / "docs" / "gen_config_reference.py")


def test_the_configuration_page_lists_every_field(site):
    page = (site / "configuration" / "index.html").read_text(encoding="utf-8")
    missing = [path for path in _generator().field_paths() if f"<code>{path}</code>" not in page]
    assert not missing, f"not on the built configuration page: {missing}"


@pytest.mark.parametrize("package", API_PACKAGES)
def test_each_api_page_documents_its_package_s_public_names(site, package):
    page = (site / "api" / package / "index.html").read_text(encoding="utf-8")
    documented = set(re.findall(r'id="(a3(?:\.[A-Za-z_]\w*)+)"', page))
    missing = [
        name
        for name in importlib.import_module(package).__all__
        if f"{package}.{name}" not in documented and not any(i.endswith(f".{name}") for i in documented)
    ]
    assert not missing, f"{package}: not on its API page: {missing}"
