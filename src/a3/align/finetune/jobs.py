"""A training job's identity: what it trains on, how, and from which weights.

Two plans can differ and still produce the same job: a general-data share the pool cannot fill,
or weights on hypotheses the draw never reaches, leave the training file unchanged. The key is
therefore taken from the examples drawn (in order, as written to the training file), every
trainer setting that changes the adapter, and the base weights' content, never from the plan.
An iteration whose key equals an earlier one's would train the same adapter again; stage 4
refuses such a plan before training and asks its planner for another.
"""

from __future__ import annotations

from pathlib import Path

from a3.align.finetune.mixture import TrainingExample
from a3.align.finetune.trainer import TrainJob
from a3.store.hashing import file_sha256, sha256_of

# Where the trainer writes and reads, not what it computes.
_PLACES = {"base_model", "data_file", "output_dir"}


def weights_fingerprint(folder: Path) -> str:
    """A hash of the model folder's weight and config files (names and contents)."""
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix in (".safetensors", ".bin", ".json", ".gguf")
    )
    return sha256_of({p.name: file_sha256(p) for p in files})


def job_key(examples: list[TrainingExample], job: TrainJob, base_fingerprint: str) -> str:
    """The identity of the adapter ``job`` would train on ``examples`` from the weights ``base_fingerprint``."""
    data = [[e.messages, e.source, e.hypothesis_id] for e in examples]
    settings = job.model_dump(exclude=_PLACES)
    return sha256_of({"data": data, "settings": settings, "base": base_fingerprint})
