"""Opening a page in Debian's headless Chromium through playwright, for the tests that check what a
reader sees. CI must have both; elsewhere such a test is skipped."""

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium_page(path: Path, width: int = 1280, height: int = 900) -> Iterator:
    """A page showing ``path``; script errors fail the test."""
    if CHROMIUM is None or importlib.util.find_spec("playwright") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must render the reports: install Debian's chromium and the dev extra (playwright)")
        pytest.skip("needs Debian's chromium and playwright")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": height})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        yield page
        browser.close()
    assert not errors, errors
