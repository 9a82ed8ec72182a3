"""bench/fusion.py --grid: the best rule for each collection on its own (an oracle)."""

from __future__ import annotations

from tests.conftest import load_bench_script

fusion = load_bench_script("fusion")


def _row(**ndcg: float) -> dict[str, dict[str, float]]:
    return {name: {"ndcg@10": value} for name, value in ndcg.items()}


def test_best_rule_per_collection_is_a_fusion_rule_and_a_ratio_to_semantic(capsys) -> None:
    table = {"semantic": _row(code=0.80, docs=0.50),
             "lexical": _row(code=0.95, docs=0.10),  # lexical alone is no fusion
             "default": _row(code=0.82, docs=0.50),
             "grid: convex, w 0.1, gate 0.2": _row(code=0.81, docs=0.52)}
    best = fusion.best_per_collection(table, ["code", "docs"], ["auto"])
    assert best == {"code": {"ratio": 1.025, "rule": "default"},
                    "docs": {"ratio": 1.04, "rule": "grid: convex, w 0.1, gate 0.2"}}
    assert "2 of 2 collections at >= 1.02x" in capsys.readouterr().out
    assert len(fusion.GRID) == 54 and all(k.startswith("grid: ") for k in fusion.GRID)
