"""A categorization and its clusters scored against known labels."""

from a3.meta.scoring import score_against


def test_scores_against_labels_and_families():
    labels = {"a": ["x"], "b": ["x"], "c": ["y", "x"], "d": ["z"]}
    categorization = {
        "categorization": {
            "categories": [
                {
                    "category_id": "C1",
                    "category_name": "X",
                    "examples": [{"run_id": "a"}, {"run_id": "b"}, {"run_id": "c"}],
                },
                {"category_id": "C2", "category_name": "Y", "name_source": "fallback", "examples": [{"run_id": "c"}]},
            ]
        }
    }
    clusters = {"clusters": [{"member_categories": [{"category_id": "C1"}, {"category_id": "C2"}]}]}
    score = score_against(categorization, clusters, labels, {"x": "f", "y": "f", "z": "g"})
    assert (
        score.placed == 3 and score.two_key_runs == score.two_key_runs_in_both == 1
    )  # c is in C2 (majority y) and C1 (majority x)
    assert score.names_by_fallback == 1 and score.cluster_adjusted_rand_index is not None
    perfect = {
        "categorization": {
            "categories": [
                {
                    "category_id": k,
                    "category_name": k,
                    "examples": [{"run_id": r} for r, v in labels.items() if v[0] == k],
                }
                for k in "xyz"
            ]
        }
    }
    assert score_against(perfect, None, labels).adjusted_rand_index == 1.0
