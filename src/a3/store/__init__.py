"""Run directories: atomic writes, append-only JSONL logs, stage manifests and resume."""

from a3.store.atomic import JsonObject, atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from a3.store.hashing import IDENTITY_WHEN_SET, canonical_json, file_sha256, identity_dump, sha256_of
from a3.store.jsonl import JsonlLog, read_records
from a3.store.ledger import LedgerEntry, UsageTotals
from a3.store.run import RunDir, Stage, StageManifest, ledger_label, pin_settings

__all__ = [
    "IDENTITY_WHEN_SET",
    "JsonObject",
    "JsonlLog",
    "LedgerEntry",
    "RunDir",
    "Stage",
    "StageManifest",
    "UsageTotals",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "canonical_json",
    "file_sha256",
    "identity_dump",
    "ledger_label",
    "pin_settings",
    "read_json",
    "read_records",
    "sha256_of",
]
