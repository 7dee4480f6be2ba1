"""A tiny random Llama as a GGUF file, built in code (no hub), for the inference engine's tests.

Its tokenizer is byte-level BPE over the 256 bytes and ChatML's special tokens, so any text can
be encoded; its weights are random, so its replies are noise of the requested length.
Importing this module needs nothing extra; ``build_tiny_gguf`` needs gguf and numpy.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-in for each byte, as byte-level BPE vocabularies spell them."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            symbols[byte] = chr(byte)
        else:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def build_tiny_gguf(path: str | Path, seed: int = 0, hidden: int = 64, layers: int = 2, heads: int = 4) -> Path:
    """Write a tiny random Llama as a GGUF file at ``path`` (byte-level BPE, ChatML template).

    Needs gguf and numpy. Its replies are noise of the requested length."""
    import gguf
    import numpy as np
    from gguf import GGMLQuantizationType, quants

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    byte_symbols = _byte_symbols()
    # The engine's BPE tokenizer wants at least one merge, and the merged token in the vocabulary.
    tokens = [*SPECIAL, *byte_symbols, "ab"]
    types = [gguf.TokenType.CONTROL] * len(SPECIAL) + [gguf.TokenType.NORMAL] * (len(tokens) - len(SPECIAL))
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("tiny")
    writer.add_context_length(1024)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(2 * hidden)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_vocab_size(len(tokens))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(["a b"])
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(0)
    writer.add_add_bos_token(False)
    writer.add_add_space_prefix(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    writer.add_quantization_version(2)
    rng = np.random.default_rng(seed)

    def matrix(name: str, rows: int, columns: int) -> None:
        data = quants.quantize(
            (0.05 * rng.standard_normal((rows, columns))).astype(np.float32), GGMLQuantizationType.Q8_0
        )
        writer.add_tensor(name, data, raw_shape=data.shape, raw_dtype=GGMLQuantizationType.Q8_0)

    def norm(name: str) -> None:
        writer.add_tensor(name, np.ones(hidden, dtype=np.float32))

    matrix("token_embd.weight", len(tokens), hidden)
    norm("output_norm.weight")
    for layer in range(layers):
        norm(f"blk.{layer}.attn_norm.weight")
        norm(f"blk.{layer}.ffn_norm.weight")
        for projection in ("attn_q", "attn_k", "attn_v", "attn_output"):
            matrix(f"blk.{layer}.{projection}.weight", hidden, hidden)
        matrix(f"blk.{layer}.ffn_gate.weight", 2 * hidden, hidden)
        matrix(f"blk.{layer}.ffn_up.weight", 2 * hidden, hidden)
        matrix(f"blk.{layer}.ffn_down.weight", hidden, 2 * hidden)
    matrix("output.weight", len(tokens), hidden)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
