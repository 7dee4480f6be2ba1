"""Run directories and stage manifests.

A run directory holds everything one pipeline run produced. Each stage writes
``stages/<name>.json``: the hashes of its inputs, the prompt versions and models it used, its
status, timings and cost. A stage whose manifest says ``done`` with the same input hash is skipped
on re-run; a stage that was interrupted (status ``running`` or ``failed``) is run again, and its
own append-only logs and the call cache make that second run cheap.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

from a3.errors import RunEnvironmentError, UserInputError
from a3.secrets import redact
from a3.store.atomic import JsonObject, atomic_write_json, read_json
from a3.store.hashing import file_sha256, sha256_of
from a3.store.jsonl import JsonlLog
from a3.store.ledger import Ledger, UsageTotals
from a3.store.lock import LockHolder, claim, holder

StageStatus = Literal["running", "done", "failed"]
M = TypeVar("M", bound=BaseModel)

#: The stage that model calls made in this context belong to (read by the cost ledger).
current_stage: ContextVar[str | None] = ContextVar("a3_current_stage", default=None)
"""The stage (or ledger label) the running calls are attributed to in the ledger; None outside one."""


@contextmanager
def ledger_label(name: str) -> Iterator[None]:
    """Attribute the calls made inside to ``name`` in the ledger.

    For work that is not a stage with a manifest (a defence, an evaluation)."""
    token = current_stage.set(name)
    try:
        yield
    finally:
        current_stage.reset(token)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class StageManifest(BaseModel):
    """A stage's manifest, ``stages/<stage>.json``.

    Its status, input hash, prompt versions, models, timings and usage."""

    stage: str
    status: StageStatus
    input_hash: str
    inputs: dict[str, str] = Field(default_factory=dict)
    prompt_versions: dict[str, str] = Field(default_factory=dict)
    models: dict[str, str] = Field(default_factory=dict)
    attempts: int = 1
    started_at: str
    finished_at: str | None = None
    duration_s: float | None = None
    usage: UsageTotals = Field(default_factory=UsageTotals)  # the stage's calls, from the ledger
    outputs: dict[str, str] = Field(default_factory=dict)
    error: str | None = None


def _read_manifest(path: Path) -> StageManifest:
    try:
        return StageManifest.model_validate(read_json(path))
    except (ValueError, UnicodeDecodeError) as exc:  # JSON or schema errors: the file was damaged outside A3
        raise RunEnvironmentError(
            f"{path}: the stage manifest is damaged ({str(exc).splitlines()[0][:120]}); delete it and run the "
            "command again: that stage runs again, replaying its paid calls from the cache"
        ) from None


class RunDir:
    """One run's directory. Creating it is cheap; nothing is written until a stage starts."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.ledger = Ledger(self.path / "ledger.jsonl")

    @property
    def stages_dir(self) -> Path:
        return self.path / "stages"

    @property
    def cache_path(self) -> Path:
        return self.path / "cache" / "llm_calls.sqlite"

    def manifest(self, name: str) -> StageManifest | None:
        path = self.stages_dir / f"{name}.json"
        return _read_manifest(path) if path.exists() else None

    def manifests(self) -> list[StageManifest]:
        if not self.stages_dir.exists():
            return []
        found = [_read_manifest(p) for p in self.stages_dir.glob("*.json")]
        return sorted(found, key=lambda m: m.started_at)

    def claim(self) -> None:
        """Hold the directory for this process's writes (see ``a3.store.lock``); exit 2 if another process does."""
        claim(self.path)

    def holder(self) -> LockHolder | None:
        return holder(self.path)

    def log(self, relative: str, model: type[M], key: str = "id") -> JsonlLog[M]:
        """The log of ``model`` records at ``relative``, keyed by their field ``key`` (see ``JsonlLog``)."""
        self.claim()
        return JsonlLog(self.path / relative, model, key=key)

    def stage(
        self,
        name: str,
        *,
        inputs: JsonObject,
        prompt_versions: dict[str, str] | None = None,
        models: dict[str, str] | None = None,
    ) -> Stage:
        self.claim()
        return Stage(self, name, inputs, prompt_versions or {}, models or {})


class Stage:
    """Context manager around one stage's work.

    >>> with run.stage("summarize", inputs={"tasks": tasks_hash}) as stage:
    ...     if not stage.skipped:
    ...         do_the_work(stage)
    ...         stage.add_output("summaries.jsonl")
    """

    def __init__(
        self,
        run: RunDir,
        name: str,
        inputs: JsonObject,
        prompt_versions: dict[str, str],
        models: dict[str, str],
    ) -> None:
        self.run = run
        self.name = name
        self.inputs = {key: value if isinstance(value, str) else sha256_of(value) for key, value in inputs.items()}
        self.input_hash = sha256_of({"inputs": self.inputs, "prompts": prompt_versions, "models": models})
        self.prompt_versions = prompt_versions
        self.models = models
        self.skipped = False
        self._outputs: list[str] = []
        self._t0 = 0.0
        self._manifest: StageManifest | None = None
        self._stage_token: Token[str | None] | None = None

    @property
    def manifest_path(self) -> Path:
        return self.run.stages_dir / f"{self.name}.json"

    def add_output(self, relative: str) -> None:
        self._outputs.append(relative)

    def __enter__(self) -> Stage:
        previous = self.run.manifest(self.name)
        if previous is not None and previous.status == "done" and previous.input_hash == self.input_hash:
            self.skipped = True
            self._manifest = previous
            return self
        attempts = previous.attempts + 1 if previous is not None and previous.input_hash == self.input_hash else 1
        self._t0 = time.monotonic()
        self._manifest = StageManifest(
            stage=self.name,
            status="running",
            input_hash=self.input_hash,
            inputs=self.inputs,
            prompt_versions=self.prompt_versions,
            models=self.models,
            attempts=attempts,
            started_at=_now(),
        )
        self._write()
        self._stage_token = current_stage.set(self.name)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.skipped:
            return
        assert self._manifest is not None and self._stage_token is not None
        current_stage.reset(self._stage_token)
        manifest = self._manifest
        manifest.finished_at = _now()
        manifest.duration_s = round(time.monotonic() - self._t0, 3)
        manifest.usage = self.run.ledger.totals(stage=self.name)
        if exc is None:
            manifest.status = "done"
            manifest.outputs = {rel: file_sha256(self.run.path / rel) for rel in self._outputs}
        else:
            manifest.status = "failed"
            manifest.error = redact("".join(traceback.format_exception_only(exc_type, exc)).strip())
        self._write()

    def _write(self) -> None:
        assert self._manifest is not None
        atomic_write_json(self.manifest_path, self._manifest.model_dump(mode="json"))


def pin_settings(path: Path, settings: JsonObject, conflict: str) -> None:
    """Record the settings a folder's results are made with, refusing to mix two settings.

    If the folder already holds results made with other settings, refuse (exit 2) with ``conflict``
    rather than mix the two."""
    if path.exists() and read_json(path) != settings:
        raise UserInputError(conflict)
    atomic_write_json(path, settings)
