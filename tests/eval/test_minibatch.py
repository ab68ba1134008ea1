r"""The automatic full-batch / mini-batch choice of the downstream evaluation and its mini-batch
(neighbour-sampling) path, forced on small graphs with ``max_full_batch_size``."""

import pytest
import torch

from leading.errors import ConfigError
from leading.eval import (
    DownstreamConfig,
    downstream_mode,
    evaluate_downstream,
    fit_downstream,
    normalize_features,
)
from leading.eval.downstream_config import choose_mode, full_batch_size
from leading.eval.minibatch import hop_fanouts

# mini-batch on any graph: the size rule's limit at 0; small batches so an epoch has several steps
MB = DownstreamConfig(
    lr=(1e-2, 5e-2), hidden_channels=16, num_threads=1, max_full_batch_size=0, fanouts=(5, 5),
    eval_fanouts=(10, 10), batch_size=16, eval_batch_size=64, minibatch_epochs=30,
    minibatch_patience=10, steps_per_epoch=3,
)


@pytest.fixture(scope="module")
def sbm():
    r"""Two communities of 150 nodes, homophilous edges, noisy class-dependent features."""
    g = torch.Generator().manual_seed(0)
    n, d = 300, 8
    y = (torch.arange(n) >= n // 2).long()
    x = torch.randn(n, d, generator=g) + 0.4 * (2 * y - 1).float().unsqueeze(1)
    same = y.unsqueeze(0) == y.unsqueeze(1)
    prob = torch.where(same, torch.tensor(0.04), torch.tensor(0.004))
    adj = torch.triu(torch.rand(n, n, generator=g) < prob, diagonal=1)
    edge_index = adj.nonzero().t()
    edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    perm = torch.randperm(n, generator=g)
    splits = {"train": perm[:40], "valid": perm[40:140], "test": perm[140:]}
    return x, edge_index, y, splits


def test_auto_rule():
    cfg = DownstreamConfig()
    assert cfg.mode == "auto"
    # Cora (2,708 nodes, 10,556 stored edges) and PubMed (19,717, 88,648) stay full batch
    assert downstream_mode(2708, 10556) == "full" == cfg.mode_for(19717, 88648)
    assert downstream_mode(1_000_000, 10_000_000) == "minibatch"
    assert full_batch_size(10, 20) == 30
    assert choose_mode(10, 20, "auto", 30) == "full"
    assert choose_mode(10, 21, "auto", 30) == "minibatch"
    assert choose_mode(10**9, 10**9, "full", 30) == "full"
    assert choose_mode(1, 0, "minibatch", 30) == "minibatch"
    assert downstream_mode(100, 1000, DownstreamConfig(max_full_batch_size=1000)) == "minibatch"
    assert hop_fanouts([15, 10], 2) == [15, 10] and hop_fanouts([15, 10], 3) == [15, 10, 10]
    assert hop_fanouts([15, 10], 1) == [15] and hop_fanouts([15], 0) == []
    with pytest.raises(ConfigError, match="mode"):
        DownstreamConfig(mode="sampled")
    with pytest.raises(ConfigError, match="fanouts"):
        DownstreamConfig(fanouts=())
    with pytest.raises(ConfigError, match="eval_fanouts"):
        DownstreamConfig(eval_fanouts=(10, -2))
    with pytest.raises(ConfigError, match="batch_size"):
        DownstreamConfig(batch_size=0)


def test_auto_picks_full_batch_on_a_small_graph(sbm):
    x, edge_index, y, splits = sbm
    cfg = DownstreamConfig(epochs=10, patience=0, lr=1e-2, hidden_channels=8, num_threads=1)
    auto = evaluate_downstream(x, edge_index, y, splits, gnns=["gcn"], config=cfg)["gcn"]
    assert auto["mode"] == "full"
    full = DownstreamConfig(**{**cfg.__dict__, "mode": "full"})
    forced = evaluate_downstream(x, edge_index, y, splits, gnns=["gcn"], config=full)["gcn"]
    strip = lambda r: {k: v for k, v in r.items() if k != "time_s"}  # noqa: E731
    assert strip(auto) == strip(forced)


def test_minibatch_learns_separable_problem(sbm):
    x, edge_index, y, splits = sbm
    res = evaluate_downstream(
        x, edge_index, y, splits, gnns=["gcn", "gat", "sage", "appnp", "mlp"], config=MB
    )
    for name, r in res.items():
        assert r["mode"] == "minibatch"
        assert 1 <= r["best_epoch"] <= r["epochs_run"] <= MB.minibatch_epochs
        assert len(r["grid"]) == 2 and all("test_acc" not in g for g in r["grid"])
        best = max(r["grid"], key=lambda g: (g["valid_acc"], -g["valid_loss"]))
        assert best["valid_acc"] == r["valid_acc"] and best["hparams"] == r["hparams"]
        # chance is 0.5; features alone (the MLP) are weaker than features + graph
        assert r["test_acc"] >= (0.75 if name == "mlp" else 0.9), name


def test_minibatch_selection_never_reads_test_labels(sbm):
    x, edge_index, y, splits = sbm
    clean = evaluate_downstream(x, edge_index, y, splits, gnns=["sage"], config=MB)["sage"]
    y_bad = y.clone()
    y_bad[splits["test"]] = 1 - y_bad[splits["test"]]  # every test label flipped
    bad = evaluate_downstream(x, edge_index, y_bad, splits, gnns=["sage"], config=MB)["sage"]
    for key in ("valid_acc", "valid_loss", "best_epoch", "epochs_run", "hparams", "grid"):
        assert bad[key] == clean[key], key
    assert bad["test_acc"] == pytest.approx(1.0 - clean["test_acc"])


def test_minibatch_deterministic_per_seed(sbm):
    x, edge_index, y, splits = sbm
    cfg = DownstreamConfig(**{**MB.__dict__, "lr": 1e-2, "minibatch_epochs": 8})
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    a = evaluate_downstream(x, edge_index, y, splits, gnns=["gat"], seed=3, config=cfg)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is untouched
    assert torch.get_num_threads() == threads
    b = evaluate_downstream(x, edge_index, y, splits, gnns=["gat"], seed=3, config=cfg)
    c = evaluate_downstream(x, edge_index, y, splits, gnns=["gat"], seed=4, config=cfg)
    strip = lambda r: {k: v for k, v in r["gat"].items() if k != "time_s"}  # noqa: E731
    assert strip(a) == strip(b)
    assert a["gat"]["valid_loss"] != c["gat"]["valid_loss"]


def test_fit_downstream_minibatch_predictions(sbm):
    x, edge_index, y, splits = sbm
    cfg = DownstreamConfig(**{**MB.__dict__, "lr": 1e-2, "minibatch_epochs": 5})
    xn = normalize_features(x, cfg.feature_norm)
    train, valid, test = splits["train"], splits["valid"], splits["test"]
    args = ("gcn", xn, edge_index, 2, train, y[train], valid, y[valid], 1, cfg)
    every = fit_downstream(*args)
    assert every["mode"] == "minibatch" and every["logits"].shape == (x.size(0), 2)
    assert torch.equal(every["pred"], every["logits"].argmax(-1))
    some = fit_downstream(*args, predict_idx=test[:7])
    assert some["logits"].shape == (7, 2) and some["valid_loss"] == every["valid_loss"]
    # repeated training targets (GLEM adds pseudo-labels) are fine
    twice = torch.cat([train, train[:5]])
    fit_downstream("gcn", xn, edge_index, 2, twice, y[twice], valid, y[valid], 1, cfg)
    # full batch: predict_idx selects rows of the all-node predictions
    full = DownstreamConfig(epochs=5, patience=0, lr=1e-2, hidden_channels=8)
    a = fit_downstream(*args[:-1], full)
    b = fit_downstream(*args[:-1], full, predict_idx=test)
    assert a["mode"] == "full" and torch.equal(a["logits"][test], b["logits"])


def test_minibatch_selects_on_a_validation_subset(sbm):
    x, edge_index, y, splits = sbm
    cfg = DownstreamConfig(**{**MB.__dict__, "lr": 1e-2, "minibatch_epochs": 5,
                              "max_valid_nodes": 30})
    ref = evaluate_downstream(x, edge_index, y, splits, gnns=["mlp"], config=cfg)["mlp"]
    # the subset is a seeded choice of 30 validation nodes: flipping every validation label
    # changes the selection figures, flipping none of them changes nothing
    y_bad = y.clone()
    y_bad[splits["valid"]] = 1 - y_bad[splits["valid"]]
    bad = evaluate_downstream(x, edge_index, y_bad, splits, gnns=["mlp"], config=cfg)["mlp"]
    assert bad["valid_acc"] != ref["valid_acc"]
    assert ref["valid_acc"] * 30 == pytest.approx(round(ref["valid_acc"] * 30))
