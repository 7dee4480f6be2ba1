"""Config files: the A3 config (JSON or YAML) and the loaders that report problems clearly."""

from pathlib import Path

from a3.config.loader import ConfigError, config_hash, load_model, read_mapping
from a3.config.schema import A3Config


def load_config(path: str | Path) -> A3Config:
    """Load and validate an A3 config file (``.json``, ``.yaml`` or ``.yml``)."""
    return load_model(path, A3Config)


__all__ = ["A3Config", "ConfigError", "config_hash", "load_config", "load_model", "read_mapping"]
