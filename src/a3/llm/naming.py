"""Model naming: how a name from a config or the command line becomes an inspect model string."""

from __future__ import annotations

from typing import Any

from a3.errors import UserInputError

# Provider prefixes that inspect_ai (or A3 itself) understands as the first part of a model string.
PROVIDERS = {
    "anthropic",
    "openai",
    "openai-api",
    "openrouter",
    "vllm",
    "vllm-completions",
    "sglang",
    "ollama",
    "hf",
    "llama-cpp-python",
    "bedrock",
    "azureai",
    "google",
    "mistral",
    "groq",
    "grok",
    "together",
    "fireworks",
    "deepseek",
    "perplexity",
    "sambanova",
    "cloudflare",
    "mockllm",
    "local",
    "scripted",
}
"""The model-string prefixes A3 accepts as they are: inspect_ai's providers, ``local`` and ``scripted``."""


def resolve_model(name: str, base_url: str | None = None, field: str = "model") -> tuple[str, dict[str, Any]]:
    """Turn a config's model name into an inspect model string and provider arguments.

    An optional OpenAI-compatible ``base_url`` routes a bare name to that endpoint. Bare
    Anthropic/OpenAI names get their provider prefix."""
    prefix = name.split("/", 1)[0]
    if prefix in PROVIDERS:
        return name, ({"base_url": base_url} if base_url and prefix == "openai-api" else {})
    if base_url:
        if "openrouter.ai" in base_url:
            return f"openrouter/{name}", {}
        # Any other OpenAI-compatible endpoint; its key comes from TARGET_API_KEY.
        return f"openai-api/target/{name}", {"base_url": base_url}
    if name.startswith("claude"):
        return f"anthropic/{name}", {}
    if name.startswith(("gpt-", "o1", "o3", "o4")):
        return f"openai/{name}", {}
    raise UserInputError(
        f"{field}: cannot tell which provider serves {name!r}; write it as a model string such as "
        "'anthropic/<model>', 'openrouter/<vendor>/<model>' or 'openai-api/<service>/<model>', or set base_url"
    )
