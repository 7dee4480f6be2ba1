"""What ``a3 models`` reports: which model backends can be used here, and why not."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from a3.llm.preflight import port_open


@dataclass(frozen=True)
class BackendStatus:
    name: str
    example: str
    usable: bool
    why: str


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _env_any(*names: str) -> str | None:
    return next((n for n in names if os.environ.get(n)), None)


def _key_status(name: str, example: str, *env: str) -> BackendStatus:
    found = _env_any(*env)
    if found:
        return BackendStatus(name, example, True, f"{found} is set")
    return BackendStatus(name, example, False, f"set {' or '.join(env)}")


def backend_statuses() -> list[BackendStatus]:
    statuses = [
        _key_status("Anthropic", "anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
        _key_status("OpenAI", "openai/gpt-5", "OPENAI_API_KEY"),
        _key_status("OpenRouter", "openrouter/openai/gpt-5", "OPENROUTER_API_KEY"),
        _key_status("Azure OpenAI", "openai/azure/<deployment>", "AZUREAI_OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"),
        _key_status(
            "AWS Bedrock",
            "anthropic/bedrock/<model-id>",
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_BEARER_TOKEN_BEDROCK",
        ),
    ]
    vllm_url = os.environ.get("VLLM_BASE_URL")
    if vllm_url:
        statuses.append(BackendStatus("vLLM", "vllm/<model>", True, f"server at VLLM_BASE_URL={vllm_url}"))
    elif _has_module("vllm"):
        statuses.append(BackendStatus("vLLM", "vllm/<model>", True, "vllm is installed (inspect starts a server)"))
    else:
        statuses.append(BackendStatus("vLLM", "vllm/<model>", False, "set VLLM_BASE_URL or install vllm (GPU)"))
    ollama_up = port_open("127.0.0.1", 11434)
    statuses.append(
        BackendStatus(
            "Ollama",
            "ollama/<model>",
            ollama_up,
            "server on 127.0.0.1:11434" if ollama_up else "no server on 127.0.0.1:11434 (run `ollama serve`)",
        )
    )
    missing = [m for m in ("torch", "transformers", "accelerate") if not _has_module(m)]
    statuses.append(
        BackendStatus(
            "Local transformers",
            "hf/<name> (model_path=DIR)",
            not missing,
            "torch, transformers and accelerate are installed"
            if not missing
            else f"missing {', '.join(missing)} (pip install 'a3-alignment[train]')",
        )
    )
    compatible = sorted(
        k.removesuffix("_BASE_URL").lower()
        for k in os.environ
        if k.endswith("_BASE_URL") and k not in ("VLLM_BASE_URL", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")
    )
    statuses.append(
        BackendStatus(
            "OpenAI-compatible server",
            "openai-api/<svc>/<model>",
            bool(compatible),
            f"configured services: {', '.join(compatible)}" if compatible else "set <SVC>_BASE_URL and <SVC>_API_KEY",
        )
    )
    statuses += local_model_statuses()
    return statuses


def local_model_statuses() -> list[BackendStatus]:
    from a3.llm.local import CATALOG, cache_root, is_installed

    missing = [m for m in ("openvino_genai", "gguf") if not _has_module(m)]
    rows = []
    for model in CATALOG.values():
        name = f"Local: {model.title}"
        if not is_installed(model):
            rows.append(BackendStatus(name, f"local/{model.name}", False, f"not installed: {model.install_command}"))
        elif missing:
            rows.append(
                BackendStatus(
                    name,
                    f"local/{model.name}",
                    False,
                    f"weights installed; the engine needs {', '.join(missing)} (bash scripts/setup.sh --models)",
                )
            )
        else:
            prepared = (cache_root() / "engine" / f"{model.name}.json").exists()
            state = "ready" if prepared else "ready; prepared for the engine on first use"
            rows.append(BackendStatus(name, f"local/{model.name}", True, f"{state} ({model.role}; sha256 checked)"))
    return rows
