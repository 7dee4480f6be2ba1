import os

# No test may reach a model hub or the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("A3_PRICES", None)

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch):
    cache_root = tmp_path_factory.mktemp("caches")
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(cache_root / "inspect"))
    monkeypatch.setenv("INSPECT_EVALS_CACHE_DIR", str(cache_root / "inspect_evals"))


@pytest.fixture(autouse=True)
def _release_run_locks():
    """Each test gives back the run directories it wrote into (a process holds them until it exits)."""
    yield
    from a3.store.lock import release_all

    release_all()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A tiny chat model built in code (random weights, real tokenizer and template), built once;
    tests only read it (adapters and merged copies go elsewhere)."""
    from a3.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
