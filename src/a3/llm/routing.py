"""Routing: which backend serves a model string, and the backends a client has made so far."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from a3.llm.backends import Backend, InspectBackend
from a3.llm.types import CallConfig
from a3.secrets import is_secret_name, register

# (model string, model args, max connections) -> the backend that serves it.
BackendFactory = Callable[[str, dict[str, Any], int], Backend]
"""Makes the backend for (model string, model args, max connections)."""


def default_backend(model: str, model_args: dict[str, Any], max_connections: int) -> Backend:
    """The backend that serves a model string.

    ``local/<name>`` is one of A3's embedded models, or with ``model_path`` (and optionally
    ``adapter_path``) in the model args any local HF folder; anything else is an inspect model string."""
    if model.startswith("local/"):
        from a3.llm.local import local_backend

        return local_backend(model, model_args, max_connections)
    return InspectBackend(model, model_args, max_connections=max_connections)


class BackendPool:
    """One backend per model, model args and weights, made by ``factory`` on first use and kept
    until released (a local model then stops generating and frees its memory)."""

    def __init__(self, factory: BackendFactory = default_backend) -> None:
        self._factory = factory
        self._backends: dict[str, Backend] = {}

    def get(self, config: CallConfig, max_connections: int) -> Backend:
        ident = _ident(config)
        backend = self._backends.get(ident)
        if backend is None:
            for name, value in config.model_args.items():
                if is_secret_name(name):
                    register(value)  # a key given as a model argument is redacted like one from the environment
            backend = self._backends[ident] = self._factory(config.model, dict(config.model_args), max_connections)
        return backend

    def release(self, config: CallConfig) -> None:
        """Close the backend serving ``config``, if one was made; a later call makes a new one."""
        backend = self._backends.pop(_ident(config), None)
        if backend is not None:
            _close(backend)

    def close(self) -> None:
        for backend in self._backends.values():
            _close(backend)
        self._backends.clear()


def _ident(config: CallConfig) -> str:
    return (
        config.model + "|" + json.dumps(config.model_args, sort_keys=True, default=str) + "|" + str(config.weights_id)
    )


def _close(backend: Backend) -> None:
    if hasattr(backend, "close"):
        backend.close()
