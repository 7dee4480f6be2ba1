"""Data files shipped with A3 (written for the project)."""
