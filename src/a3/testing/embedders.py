"""An embedder for tests and dry runs: bag of words hashed into a fixed number of dimensions.
Texts sharing words are near each other; no model, no download, the same vectors everywhere."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from a3.meta.categorize.pregroup import Embedder

_WORD = re.compile(r"[a-z0-9]+")


def hashing_embedder(dimensions: int = 512) -> Embedder:
    """An embedder hashing words into ``dimensions`` dimensions: no model, the same vectors everywhere."""

    def embed(texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), dimensions))
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                vectors[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % dimensions] += 1.0
        norms: np.ndarray = np.linalg.norm(vectors, axis=1, keepdims=True)  # numpy types keepdims' result as Any
        return vectors / (norms + 1e-12)

    return embed
