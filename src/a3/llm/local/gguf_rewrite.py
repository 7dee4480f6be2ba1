"""Rewriting a GGUF file for the inference engine, optionally with a LoRA adapter merged in.

OpenVINO GenAI reads GGUF files directly, but not every quantisation correctly: its reader
refuses Q5_0 (most of Qwen2.5-Coder's tensors) and mis-reads Q4_1 (SmolLM2's): a KL divergence of
0.57 nats per token against the same weights in transformers, 0.009 once re-quantised, which is
rounding noise (docs/design-notes.md). So every quantised tensor that is not Q8_0 is re-quantised
to Q8_0, whose 8-bit grid holds a 4- or 5-bit value almost exactly; float tensors are kept.

A LoRA adapter trained with peft on the converted Hugging Face folder is merged into a copy of
the rewritten file: W + (alpha / r) * B @ A, in GGUF's layout (llama.cpp stores the query and key
projections of "llama" models with their rows permuted for its rotary embedding, so their deltas
are permuted alike). The engine's own adapter support matches tensors by name, and a model built
from a GGUF file has no names to match.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from a3.errors import A3Error

if TYPE_CHECKING:
    import numpy as np

# Bump when the rewrite changes, so that cached engine files are rebuilt.
REWRITE_VERSION = "q8_0-v1"

_PEFT_KEY = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")
_GGUF_NAMES = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}


class AdapterMergeError(A3Error):
    """A LoRA adapter that cannot be merged into a GGUF file."""


class TensorSlot(BaseModel):
    type: str  # a GGMLQuantizationType name
    offset: int  # of its data in the file
    shape: list[int]  # numpy order: rows last-but-one, columns last


class EngineLayout(BaseModel):
    """Where each tensor of a rewritten file lies, and what a merge needs to know of the model, so
    that merging an adapter patches the file in place without parsing it again (parsing the
    tokenizer's 150,000 entries takes the gguf library several seconds)."""

    architecture: str
    heads: dict[str, int]  # GGUF projection name (attn_q, attn_k) -> its head count
    tensors: dict[str, TensorSlot]


def rewrite_for_engine(source: Path, target: Path) -> EngineLayout:
    """Write ``target``: ``source`` with every quantised tensor as Q8_0 (float tensors kept), and
    return its layout. Written to a temporary file first, so ``target`` is whole or absent."""
    import gguf
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf import quants

    reader = gguf.GGUFReader(source)
    architecture = _string_field(reader, "general.architecture")
    partial = Path(tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)[1])
    try:
        writer = gguf.GGUFWriter(partial, architecture)
        for field in reader.fields.values():
            if field.name.startswith("GGUF.") or field.name == "general.architecture":
                continue  # written by the writer itself
            _copy_field(writer, field)
        for tensor in reader.tensors:
            if tensor.tensor_type in (Q.F32, Q.F16, Q.BF16, Q.Q8_0):
                writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
                continue
            shape = [int(d) for d in reversed(tensor.shape.tolist())]
            dense = quants.dequantize(tensor.data, tensor.tensor_type).reshape(shape).astype(np.float32)
            if dense.shape[-1] % 32:  # Q8_0 packs rows in blocks of 32
                writer.add_tensor(tensor.name, dense)
                continue
            data = quants.quantize(dense, Q.Q8_0)
            writer.add_tensor(tensor.name, data, raw_shape=data.shape, raw_dtype=Q.Q8_0)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        written = gguf.GGUFReader(partial)
        layout = EngineLayout(
            architecture=architecture,
            heads={
                "attn_q": _int_field(reader, f"{architecture}.attention.head_count"),
                "attn_k": _int_field(reader, f"{architecture}.attention.head_count_kv"),
            },
            tensors={
                t.name: TensorSlot(
                    type=t.tensor_type.name,
                    offset=int(t.data_offset),
                    shape=[int(d) for d in reversed(t.shape.tolist())],
                )
                for t in written.tensors
            },
        )
        del written
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return layout


def merge_adapter(engine_path: Path, layout: EngineLayout, adapter: Path, target: Path) -> Path:
    """Write ``target``: the engine file ``engine_path`` with the peft LoRA ``adapter`` merged
    into its projections (a copy, patched in place: every adapted tensor keeps its size)."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES, quants
    from gguf import GGMLQuantizationType as Q

    deltas = _adapter_deltas(adapter, layout)
    partial = Path(tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)[1])
    try:
        shutil.copyfile(engine_path, partial)
        data = np.memmap(partial, dtype=np.uint8, mode="r+")
        for name, delta in deltas.items():
            slot = layout.tensors[name + ".weight"]
            kind = Q[slot.type]
            rows, columns = slot.shape
            block, size = GGML_QUANT_SIZES[kind]
            span = rows * columns // block * size
            stored = data[slot.offset : slot.offset + span].reshape(rows, -1)
            if kind == Q.F32:
                weights = stored.view(np.float32) + delta
                stored[:] = weights.astype(np.float32).view(np.uint8)
            elif kind == Q.Q8_0:
                weights = quants.dequantize(stored, kind).reshape(rows, columns) + delta
                stored[:] = quants.quantize(weights.astype(np.float32), kind)
            else:
                raise AdapterMergeError(f"{name} is stored as {slot.type}, which the merge does not handle")
        data.flush()
        del data
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _adapter_deltas(adapter: Path, layout: EngineLayout) -> dict[str, np.ndarray]:
    """The weight change of each adapted projection, keyed by its GGUF tensor name (without
    ``.weight``), in GGUF's row order."""
    import numpy as np

    config_path = Path(adapter) / "adapter_config.json"
    weights_path = Path(adapter) / "adapter_model.safetensors"
    if not config_path.exists() or not weights_path.exists():
        raise AdapterMergeError(
            f"{adapter}: not a peft LoRA adapter folder (adapter_config.json and "
            "adapter_model.safetensors are expected)"
        )
    config = json.loads(config_path.read_text())
    unsupported = [
        name
        for name, value in (
            ("use_dora", config.get("use_dora")),
            ("modules_to_save", config.get("modules_to_save")),
            ("fan_in_fan_out", config.get("fan_in_fan_out")),
        )
        if value
    ]
    if config.get("peft_type", "LORA") != "LORA" or unsupported:
        raise AdapterMergeError(
            f"{adapter}: only plain LoRA adapters can be served by the local engine "
            f"(this one sets {', '.join(unsupported) or config.get('peft_type')})"
        )
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    scale = alpha / (rank**0.5 if config.get("use_rslora") else rank)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in _load_safetensors(weights_path).items():
        match = _PEFT_KEY.match(key)
        if match is None or match.group(3) not in _GGUF_NAMES:
            raise AdapterMergeError(
                f"{adapter}: cannot merge {key} into a GGUF model (only the attention and MLP "
                "projections of each layer are supported)"
            )
        layer, _, module, side = match.groups()
        pairs.setdefault(f"blk.{layer}.{_GGUF_NAMES[module]}", {})[side] = value
    deltas = {}
    for name, pair in pairs.items():
        if name + ".weight" not in layout.tensors:
            raise AdapterMergeError(f"{adapter}: adapts {name}, which the model does not have")
        delta = scale * (pair["B"] @ pair["A"])
        kind = name.rsplit(".", 1)[1]
        if layout.architecture == "llama" and kind in layout.heads:
            delta = rope_permute(delta, layout.heads[kind])
        deltas[name] = delta.astype(np.float32)
    return deltas


def _load_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The adapter's tensors as float32 numpy arrays. numpy has no bfloat16, so a bfloat16
    adapter is read through torch (present wherever adapters are trained)."""
    import numpy as np
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as handle:
        if all(handle.get_slice(key).get_dtype() != "BF16" for key in handle.keys()):
            return {key: handle.get_tensor(key).astype(np.float32) for key in handle.keys()}
    from safetensors.torch import load_file

    return {key: value.float().numpy() for key, value in load_file(str(path)).items()}


def rope_permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's row order for a llama query/key projection: each head's two rotary halves
    interleaved."""
    return (
        weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def _copy_field(writer: Any, field: Any) -> None:
    import gguf

    kind = field.types[0]
    if kind == gguf.GGUFValueType.ARRAY:
        item = field.types[-1]
        if item == gguf.GGUFValueType.STRING:
            value = [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        else:
            value = [field.parts[i].tolist()[0] for i in field.data]
        writer.add_key_value(field.name, value, kind, sub_type=item)
    elif kind == gguf.GGUFValueType.STRING:
        writer.add_key_value(field.name, bytes(field.parts[field.data[0]]).decode("utf-8"), kind)
    else:
        writer.add_key_value(field.name, field.parts[field.data[0]].tolist()[0], kind)


def _string_field(reader: Any, name: str) -> str:
    field = reader.fields[name]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def _int_field(reader: Any, name: str) -> int:
    field = reader.fields[name]
    return int(field.parts[field.data[0]].tolist()[0])
