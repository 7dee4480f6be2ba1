"""A3: an automated alignment agent and meta-analysis toolkit for AI-safety researchers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("a3-alignment")
    """The installed version of A3 (``0.0.0+unknown`` in a source tree that was never installed)."""
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
