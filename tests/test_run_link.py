r"""``leading run --task link`` end to end: a tiny graph in the directory format and a tiny random
BERT saved with ``save_pretrained``, through the edge split, fine-tuning (or not), embeddings
and the downstream GCN link predictor, to ``results.json``."""

from __future__ import annotations

import json
import math

import pytest
import torch

import leading.run_link as run_link_module
from leading.cli import main

WORDS = [
    ["graph", "neural", "network", "node", "edge"],
    ["protein", "cell", "gene", "dna", "enzyme"],
    ["stock", "market", "price", "trade", "bank"],
]
N = 36


@pytest.fixture
def dataset(tmp_path, make_dir):
    r"""36 nodes in 3 communities (texts of their community's words), 3 edges inside each."""
    g = torch.Generator().manual_seed(0)
    nodes, edges = [], []
    for i in range(N):
        c = i % 3
        words = [WORDS[c][j] for j in torch.randint(0, 5, (4,), generator=g).tolist()]
        nodes.append({"node_id": i, "text": " ".join(words)})
        same = [j for j in range(c, N, 3) if j != i]
        edges += [(i, same[k]) for k in torch.randperm(len(same), generator=g)[:3].tolist()]
    return make_dir(tmp_path / "tiny", nodes, edges)


def argv(dataset, lm_dir, out, *extra: str) -> list[str]:
    return [
        "run", "--task", "link", "--dataset", str(dataset), "--lm", str(lm_dir),
        "--link-split", "60/20/20", "--link-eval-negatives", "10", "--hits-k", "1", "5",
        "--epochs", "1", "--head-epochs", "3", "--batch-size", "4", "--hidden", "16",
        "--link-dim", "8", "--link-edges-per-epoch", "8", "--refresh-fraction", "none",
        "--eval-steps", "10", "--bf16", "false", "--max-length", "16", "--pooling", "mean",
        "--downstream", "gcn", "--progress", "false", "--out-dir", str(out), *extra,
    ]


METRICS = ("auc", "mrr", "hits@1", "hits@5")


def check_block(block: dict, seeds: int) -> None:
    for m in METRICS:
        cell = block[m]
        assert len(cell["test"]) == seeds and len(cell["valid"]) == seeds
        assert all(0.0 <= v <= 1.0 for v in cell["test"] + cell["valid"])
        assert cell["mean"] == pytest.approx(sum(cell["test"]) / seeds)
        assert math.isfinite(cell["std"]) and cell["std"] >= 0
        if seeds == 1:
            assert cell["std"] == 0.0


def test_run_link_leading_two_seeds_and_resume(dataset, lm_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(argv(dataset, lm_dir, out, "--seeds", "2")) == 0
    printed = capsys.readouterr().out
    assert "gcn auc" in printed and "e2e mrr" in printed
    res = json.loads((out / "results.json").read_text())
    assert res["task"] == "link" and res["method"] == "leading" and res["seeds"] == [0, 1]
    assert res["headline_metric"] == "auc" and res["dataset"] == "tiny"
    assert res["link_split_spec"] == "60/20/20" and res["per_seed"][0]["link_split"] == "60/20/20"
    sizes = res["split_sizes"]
    assert sizes["train"] == sizes["message_passing_edges"] and sizes["valid"] == sizes["test"]
    assert sizes["neg_targets_per_positive"] == 10
    check_block(res["downstream"]["gcn"], 2)
    check_block(res["e2e"], 2)
    assert len(res["per_seed"]) == 2 and res["best_epoch"] == [1, 1]
    assert res["train"]["peak_rss_mb"] > 0 and res["train"]["steps_per_epoch"] == 2
    # each seed has its own split, so its own figures
    assert res["per_seed"][0]["downstream"] != res["per_seed"][1]["downstream"]
    for s in (0, 1):
        seed_dir = out / f"seed_{s}"
        assert torch.load(seed_dir / "embeddings.pt").shape == (N, 32)
        assert (seed_dir / "model" / "config.json").exists()
        assert (seed_dir / "metrics.csv").read_text().startswith("epoch,train_loss,valid_auc")

    calls = []
    monkeypatch.setattr(run_link_module, "run_link_seed", lambda *a: calls.append(a))
    assert main(argv(dataset, lm_dir, out, "--seeds", "2", "--resume")) == 0
    assert calls == []  # both seeds read back from seed_S/result.json
    again = json.loads((out / "results.json").read_text())
    assert again["downstream"] == res["downstream"]


@pytest.mark.parametrize("method", ["shallow", "pretrained", "supervised"])
def test_run_link_baselines(dataset, lm_dir, tmp_path, method):
    out = tmp_path / method
    assert main(argv(dataset, lm_dir, out, "--method", method, "--seeds", "1")) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["method"] == method
    check_block(res["downstream"]["gcn"], 1)
    assert ("e2e" in res) == (method == "supervised")


def test_run_link_rejects_other_methods(dataset, lm_dir, tmp_path, capsys):
    assert main(argv(dataset, lm_dir, tmp_path / "x", "--method", "glem")) == 2
    err = capsys.readouterr().err
    assert err.startswith("leading: error: task link supports methods")
    assert not (tmp_path / "x").exists()
