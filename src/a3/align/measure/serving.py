"""Where the weights to train come from, and how a trained adapter is served for evaluation.

With a CUDA GPU and vllm installed, adapters are served by vLLM with LoRA (inspect's
``vllm/<base>:<adapter>`` model string: one server for the base, adapters loaded on it). Otherwise
an embedded model's adapter is merged into its GGUF file and served by the local inference
engine, and any other folder by A3's batched transformers backend (adapter merged at load).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from a3.config.schema import TargetModel
from a3.errors import UserInputError
from a3.llm import CallConfig
from a3.store.hashing import file_sha256, sha256_of


def base_weights(target: TargetModel) -> Path:
    """The target's weights as a local folder (converting an embedded model on first use)."""
    name = target.huggingface_model_path or (
        target.model_name if (target.model_name or "").startswith("local/") else None
    )
    if not name:
        raise UserInputError(
            "target_model.huggingface_model_path: finetuning needs the target's weights (a local folder "
            "or an embedded model such as local/smollm2-135m)"
        )
    if name.startswith("local/"):
        from a3.llm.local import hf_folder, lookup

        return hf_folder(lookup(name.removeprefix("local/")))
    path = Path(name)
    if not path.exists():
        raise UserInputError(
            f"target_model.huggingface_model_path: {name} is not a folder here (models are not "
            "downloaded at run time; give a local copy)"
        )
    return path


def vllm_available() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def served_model(
    sampling: CallConfig, base: Path, adapter: Path | None, label: str, use_vllm: bool | None = None
) -> CallConfig:
    """The call config that samples from ``base`` (+ ``adapter``) as ``sampling`` does.

    ``sampling`` (``Roles.evaluated_target``) gives the temperature, token limit and timeout."""
    use_vllm = vllm_available() if use_vllm is None else use_vllm
    if use_vllm:
        suffix = f":{adapter.resolve()}" if adapter is not None else ""
        model, args = f"vllm/{base.resolve()}{suffix}", {}
    else:
        model = f"local/{label}"
        args = {"model_path": str(base.resolve())}
        if adapter is not None:
            args["adapter_path"] = str(adapter.resolve())
    # The adapter's content keys the call cache: a retrained adapter at the same path must not
    # replay the replies of the one before it.
    weights_id = _adapter_fingerprint(adapter) if adapter is not None else None
    return sampling.model_copy(update={"model": model, "model_args": args, "weights_id": weights_id})


def _adapter_fingerprint(adapter: Path) -> str:
    """A hash of the adapter's weights and settings (its ``adapter_*`` files)."""
    files = sorted(adapter.glob("adapter_*"))
    if not files:
        raise UserInputError(f"{adapter}: no adapter files (adapter_config.json, adapter_model.safetensors) to serve")
    return sha256_of({f.name: file_sha256(f) for f in files})
