"""Before any work: can every model the command will use be used here?

A missing API key, uninstalled local weights or an unreachable local server would otherwise
surface as the provider's traceback after the run directory was made and other calls were paid.
``preflight`` checks them all at once and raises one ``UserInputError`` (exit 2) that says, per
model, what to set or install. It checks what can be known without a paid call; a key that is set
but wrong is still the provider's to refuse.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Iterable
from typing import Any

from a3.errors import UserInputError
from a3.llm.types import CallConfig


class ModelUnusableError(UserInputError):
    """A model the command needs cannot be used here."""


_KEYS: dict[str, tuple[str, ...]] = {
    "anthropic": ("ANTHROPIC_API_KEY",),
    "openai": ("OPENAI_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "azure": ("AZUREAI_OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"),
    "bedrock": ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"),
    "google": ("GOOGLE_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "together": ("TOGETHER_API_KEY",),
}


def problem(model: str, model_args: dict[str, Any] | None = None) -> str | None:
    """What stops ``model`` from being used here, or None."""
    args = model_args or {}
    parts = model.split("/")
    prefix = parts[0]
    if prefix in ("mockllm", "scripted"):  # inspect's mock model and a3.testing's scripted ones: no key, no server
        return None
    if prefix == "local":
        from a3.llm.local.catalog import LocalModelError, lookup, part_paths

        try:
            part_paths(lookup(model.removeprefix("local/")))
        except LocalModelError as exc:
            return str(exc)
        return None
    if prefix == "hf":
        missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
        return f"{model}: needs {', '.join(missing)}: bash scripts/setup.sh --train" if missing else None
    if "api_key" in args:
        return None
    if prefix == "openai-api" and len(parts) > 2:
        service = parts[1].upper().replace("-", "_")
        wanted = [] if args.get("base_url") or os.environ.get(f"{service}_BASE_URL") else [f"{service}_BASE_URL"]
        wanted += [] if os.environ.get(f"{service}_API_KEY") else [f"{service}_API_KEY"]
        return f"{model}: set {' and '.join(wanted)}" if wanted else None
    if prefix in ("vllm", "vllm-completions"):
        if os.environ.get("VLLM_BASE_URL") or args.get("base_url") or importlib.util.find_spec("vllm") is not None:
            return None
        return f"{model}: set VLLM_BASE_URL to a running vLLM server (or install vllm on a GPU machine)"
    if prefix == "ollama":
        if os.environ.get("OLLAMA_BASE_URL") or args.get("base_url") or port_open("127.0.0.1", 11434):
            return None
        return f"{model}: no Ollama server on 127.0.0.1:11434; run `ollama serve` or set OLLAMA_BASE_URL"
    provider = "bedrock" if "bedrock" in parts[:2] else "azure" if parts[:2] == ["openai", "azure"] else prefix
    keys = _KEYS.get(provider)
    if keys and not any(os.environ.get(k) for k in keys):
        return f"{model}: set {' or '.join(keys)}"
    return None


def preflight(calls: Iterable[CallConfig]) -> None:
    """Raise ModelUnusableError naming every model that cannot be used, and what to do."""
    problems: list[str] = []
    for call in calls:
        found = problem(call.model, call.model_args)
        if found and found not in problems:
            problems.append(found)
    if problems:
        raise ModelUnusableError("; ".join(problems))


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False
