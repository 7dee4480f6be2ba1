"""Where the tests find the repository's folders, wherever a test module sits in the tree."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
FIXTURES = ROOT / "tests" / "fixtures"
