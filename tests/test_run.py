r"""``leading run`` end to end: a tiny graph in the directory format and a tiny random BERT saved
with ``save_pretrained``, through fine-tuning (or not), embeddings and a downstream GCN."""

import json
import math
from pathlib import Path

import pytest
import torch

import leading.run as run_module
from leading.config import Config
from leading.data import load_dataset
from leading.run import run
from leading.text.encoder import TextEncoder

WORDS = [
    ["graph", "neural", "network", "node", "edge"],
    ["protein", "cell", "gene", "dna", "enzyme"],
    ["stock", "market", "price", "trade", "bank"],
]
N = 36
SPLIT = "per_class:4:9:9"


@pytest.fixture
def dataset(tmp_path, make_dir):
    r"""36 nodes, node :obj:`i` of class :obj:`i % 3` with a text of its class's words, edges to
    two nodes of its class and one random node."""
    g = torch.Generator().manual_seed(0)
    nodes, edges = [], []
    for i in range(N):
        c = i % 3
        words = [WORDS[c][j] for j in torch.randint(0, 5, (4,), generator=g).tolist()]
        nodes.append({"node_id": i, "text": " ".join(["the", *words]), "label": c})
        same = [j for j in range(c, N, 3) if j != i]
        for k in torch.randperm(len(same), generator=g)[:2].tolist():
            edges.append((i, same[k]))
        edges.append((i, int(torch.randint(0, N, (1,), generator=g))))
    edges = [(u, v) for u, v in edges if u != v]
    return make_dir(tmp_path / "tiny", nodes, edges, classes=["a", "b", "c"])


def make_config(dataset, lm_dir, out, **changes) -> Config:
    values = dict(
        # the paper's LEADING: equal pipeline batch sizes, no pseudo-labels
        refresh_fraction=None,
        pseudo_labels=0.0,
        dataset=str(dataset),
        lm=str(lm_dir),
        split=SPLIT,
        epochs=2,
        head_epochs=5,
        batch_size=4,
        hidden=16,
        progress=False,
        prefill=True,
        downstream=["gcn"],
        seeds=1,
        eval_steps=20,
        bf16=False,
        max_length=16,
        pooling="mean",
        out_dir=str(out),
    )
    values.update(changes)
    return Config(**values)


def check_results(result: dict, cfg: Config, seeds: list[int]) -> None:
    on_disk = json.loads((Path(cfg.out_dir) / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(result))
    assert on_disk["dataset"] == "tiny"
    assert on_disk["lm"] == cfg.lm and on_disk["method"] == cfg.method
    assert on_disk["seeds"] == seeds and on_disk["split"] == SPLIT
    gcn = on_disk["downstream"]["gcn"]
    assert len(gcn["test_acc"]) == len(seeds)
    assert all(0.0 <= a <= 1.0 for a in gcn["test_acc"])
    assert gcn["mean"] == pytest.approx(sum(gcn["test_acc"]) / len(seeds))
    assert math.isfinite(gcn["std"]) and gcn["std"] >= 0
    train = on_disk["train"]
    for k in (
        "epoch_time_s",
        "peak_rss_mb",
        "encodings_per_target_per_epoch",
        "encodings_per_node_per_epoch",
    ):
        assert isinstance(train[k], float | int), k
    assert train["peak_rss_mb"] > 0


def test_run_leading_end_to_end_and_resume(dataset, lm_dir, tmp_path, monkeypatch):
    from transformers import AutoModel

    out = tmp_path / "out"
    cfg = make_config(dataset, lm_dir, out)
    result = run(cfg)
    check_results(result, cfg, [0])
    assert result["train"]["encodings_per_target_per_epoch"] == 2.0  # 12 targets, batch 4
    assert result["train"]["encodings_per_node_per_epoch"] == pytest.approx(24 / N)
    assert result["train"]["epoch_time_s"] > 0
    assert len(result["best_epoch"]) == 1 and len(result["e2e"]["test_acc"]) == 1

    assert Config.load(out / "config.yaml") == cfg
    seed_dir = out / "seed_0"
    lines = (seed_dir / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,train_loss,") and len(lines) == 1 + 1 + 2
    assert not (seed_dir / "checkpoint.pt").exists()
    emb = torch.load(seed_dir / "embeddings.pt")
    assert emb.shape == (N, 32) and emb.dtype == torch.float32
    model = AutoModel.from_pretrained(seed_dir / "model")
    assert model.config.hidden_size == 32
    # the saved embeddings are those of the saved model
    enc = TextEncoder.from_pretrained(seed_dir / "model", "mean", 16, bf16=False)
    graph = load_dataset(str(dataset))
    ref = enc.encode_all(enc.tokenize(graph.texts), progress=False)
    torch.testing.assert_close(emb, ref, atol=1e-5, rtol=1e-4)

    # resume: the finished seed 0 is read back, only the new seed 1 runs
    calls = []
    run_seed = run_module.run_seed

    def counting(cfg, graph, seed, seed_dir, frozen):
        calls.append(seed)
        return run_seed(cfg, graph, seed, seed_dir, frozen)

    monkeypatch.setattr(run_module, "run_seed", counting)
    again = run(cfg.replace(resume=True, seeds=2))
    assert calls == [1]
    check_results(again, cfg.replace(seeds=2), [0, 1])
    assert again["downstream"]["gcn"]["test_acc"][0] == result["downstream"]["gcn"]["test_acc"][0]
    assert again["per_seed"][0] == json.loads(json.dumps(result["per_seed"][0]))
    assert (out / "seed_1" / "model" / "config.json").exists()

    calls.clear()
    run(cfg.replace(resume=True, seeds=2))
    assert calls == []


def test_run_pretrained(dataset, lm_dir, tmp_path):
    out = tmp_path / "frozen"
    cfg = make_config(dataset, lm_dir, out, method="pretrained")
    result = run(cfg)
    check_results(result, cfg, [0])
    assert result["train"]["encodings_per_target_per_epoch"] == 0.0
    assert "e2e" not in result and "best_epoch" not in result
    seed_dir = out / "seed_0"
    assert not (seed_dir / "model").exists() and not (seed_dir / "metrics.csv").exists()
    emb = torch.load(seed_dir / "embeddings.pt")
    enc = TextEncoder.from_pretrained(lm_dir, "mean", 16, bf16=False)
    graph = load_dataset(str(dataset))
    torch.testing.assert_close(emb, enc.encode_all(enc.tokenize(graph.texts), progress=False))
