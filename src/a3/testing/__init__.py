"""Test doubles shipped with the package so tests, benchmarks and users share them.

Each name below is imported from its module on first use, so ``import a3.testing`` stays cheap
and needs no optional dependency; none of them needs pytest.
"""

from __future__ import annotations

from a3.lazy import lazy_exports

# Each public name and the module it lives in.
_HOMES = {
    "MetaWorld": "a3.testing.scripted_meta",
    "PlantedOracle": "a3.testing.planted_oracle",
    "ScriptedBackend": "a3.testing.scripted_client",
    "ScriptedClient": "a3.testing.scripted_client",
    "StubServer": "a3.testing.stub_server",
    "World": "a3.testing.scripted_world",
    "build_tiny_gguf": "a3.testing.tiny_gguf",
    "build_tiny_model": "a3.testing.tiny_model",
    "hashing_embedder": "a3.testing.embedders",
    "scripted_config": "a3.testing.scripted_world",
    "synthetic_transcripts": "a3.testing.transcripts",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _HOMES)
