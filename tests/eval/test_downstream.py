import math

import pytest
import torch

from leading.errors import ConfigError
from leading.eval import (
    DownstreamConfig,
    accuracy,
    evaluate_downstream,
    fit_downstream,
    format_table,
    normalize_features,
    summarize,
    torch_num_threads,
)

# one thread: these graphs are tiny, and two threads on a loaded 2-core machine are much slower
FAST = DownstreamConfig(epochs=60, patience=15, lr=(1e-2, 5e-2), hidden_channels=16, num_threads=1)


@pytest.fixture(scope="module")
def toy():
    r"""Two communities of 40 nodes, homophilous edges, noisy class-dependent features."""
    g = torch.Generator().manual_seed(0)
    n, d = 80, 8
    y = (torch.arange(n) >= n // 2).long()
    x = torch.randn(n, d, generator=g) + 0.6 * (2 * y - 1).float().unsqueeze(1)
    same = y.unsqueeze(0) == y.unsqueeze(1)
    prob = torch.where(same, torch.tensor(0.15), torch.tensor(0.01))
    adj = torch.rand(n, n, generator=g) < prob
    adj = torch.triu(adj, diagonal=1)
    edge_index = adj.nonzero().t()
    edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    perm = torch.randperm(n, generator=g)
    splits = {"train": perm[:10], "valid": perm[10:40], "test": perm[40:]}
    return x, edge_index, y, splits


def test_learns_separable_problem(toy):
    x, edge_index, y, splits = toy
    res = evaluate_downstream(
        x, edge_index, y, splits, gnns=["gcn", "GAT", "sage", "appnp"], config=FAST
    )
    assert set(res) == {"gcn", "GAT", "sage", "appnp"}
    for r in res.values():
        assert r["test_acc"] >= 0.9
        assert 1 <= r["best_epoch"] <= r["epochs_run"] <= FAST.epochs
        assert r["hparams"]["lr"] in (1e-2, 5e-2) and r["hparams"]["hidden_channels"] == 16
        assert len(r["grid"]) == 2 and all("test_acc" not in g for g in r["grid"])
        best = max(r["grid"], key=lambda g: (g["valid_acc"], -g["valid_loss"]))
        assert best["valid_acc"] == r["valid_acc"] and best["hparams"] == r["hparams"]


def test_selection_never_reads_test_labels(toy):
    x, edge_index, y, splits = toy
    clean = evaluate_downstream(x, edge_index, y, splits, gnns=["gcn", "mlp"], config=FAST)
    y_bad = y.clone()
    y_bad[splits["test"]] = 1 - y_bad[splits["test"]]  # every test label flipped
    bad = evaluate_downstream(x, edge_index, y_bad, splits, gnns=["gcn", "mlp"], config=FAST)
    for g in ("gcn", "mlp"):
        for key in ("valid_acc", "valid_loss", "best_epoch", "epochs_run", "hparams", "grid"):
            assert bad[g][key] == clean[g][key], (g, key)
        assert bad[g]["test_acc"] == pytest.approx(1.0 - clean[g]["test_acc"])


def test_deterministic_per_seed(toy):
    x, edge_index, y, splits = toy
    cfg = DownstreamConfig(epochs=20, patience=0, lr=1e-2, hidden_channels=16, num_threads=1)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    a = evaluate_downstream(x, edge_index, y, splits, gnns=["gat"], seed=3, config=cfg)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is untouched
    assert torch.get_num_threads() == threads
    b = evaluate_downstream(x, edge_index, y, splits, gnns=["gat"], seed=3, config=cfg)
    c = evaluate_downstream(x, edge_index, y, splits, gnns=["gat"], seed=4, config=cfg)
    strip = lambda r: {k: v for k, v in r["gat"].items() if k != "time_s"}  # noqa: E731
    assert strip(a) == strip(b)
    assert a["gat"]["valid_loss"] != c["gat"]["valid_loss"]


def test_fit_downstream_is_the_training_of_evaluate_downstream(toy):
    x, edge_index, y, splits = toy
    cfg = DownstreamConfig(epochs=20, patience=5, lr=(1e-2, 5e-2), hidden_channels=8)
    ref = evaluate_downstream(x, edge_index, y, splits, gnns=["GCN"], seed=2, config=cfg)["GCN"]
    xn = normalize_features(x, cfg.feature_norm)
    train, valid = splits["train"], splits["valid"]
    state = torch.get_rng_state()
    best = fit_downstream("GCN", xn, edge_index, 2, train, y[train], valid, y[valid], 2, cfg)
    assert torch.equal(torch.get_rng_state(), state)
    for key in ("valid_acc", "valid_loss", "best_epoch", "epochs_run", "hparams", "grid"):
        assert best[key] == ref[key], key
    assert best["logits"].shape == (x.size(0), 2)
    assert torch.equal(best["pred"], best["logits"].argmax(-1))
    assert accuracy(best["pred"][splits["test"]], y[splits["test"]]) == ref["test_acc"]
    # extra targets (GLEM's pseudo-labels) are learnt from like the training labels
    extra = splits["test"][:20]
    more = fit_downstream(
        "gcn", xn, edge_index, 2, torch.cat([train, extra]), torch.cat([y[train], 1 - y[extra]]),
        valid, y[valid], 2, cfg,
    )
    assert not torch.equal(more["logits"], best["logits"])


def test_torch_num_threads_restores_the_setting():
    threads = torch.get_num_threads()
    with torch_num_threads(None):
        assert torch.get_num_threads() == threads
    with pytest.raises(RuntimeError), torch_num_threads(threads + 1):
        assert torch.get_num_threads() == threads + 1
        raise RuntimeError
    assert torch.get_num_threads() == threads


def test_boolean_masks_and_errors(toy):
    x, edge_index, y, splits = toy
    cfg = DownstreamConfig(epochs=5, patience=0, lr=1e-2, hidden_channels=8, num_threads=1)
    masks = {}
    for k, idx in splits.items():
        masks[k] = torch.zeros(x.size(0), dtype=torch.bool)
        masks[k][idx] = True
    a = evaluate_downstream(x, edge_index, y, masks, gnns=["mlp"], config=cfg)
    b = evaluate_downstream(
        x, edge_index, y, {k: v.sort().values for k, v in splits.items()}, gnns=["mlp"], config=cfg
    )
    assert a["mlp"]["valid_acc"] == b["mlp"]["valid_acc"]
    with pytest.raises(ConfigError, match="valid"):
        evaluate_downstream(x, edge_index, y, {"train": splits["train"], "test": splits["test"]})
    with pytest.raises(ValueError, match="gcn, gat"):
        evaluate_downstream(x, edge_index, y, splits, gnns=["gin"], config=cfg)
    with pytest.raises(ConfigError, match="feature_norm"):
        DownstreamConfig(feature_norm="zscore")
    with pytest.raises(ConfigError, match="lr"):
        DownstreamConfig(lr=())


def test_config_grid():
    cfg = DownstreamConfig(
        lr=(1e-2, 5e-3), hidden_channels=[64, 256], dropout=0.5, input_dropout=0.0
    )
    grid = cfg.grid()
    assert len(grid) == 4
    assert grid[0] == {
        "lr": 1e-2,
        "hidden_channels": 64,
        "dropout": 0.5,
        "input_dropout": 0.0,
        "weight_decay": 5e-4,
        "num_layers": 2,
    }
    assert grid[1]["hidden_channels"] == 256 and grid[2]["lr"] == 5e-3


def test_normalize_features():
    x = torch.randn(50, 4) * 3 + 1
    z = normalize_features(x, "standardize")
    assert torch.allclose(z.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(z.std(0, unbiased=False), torch.ones(4), atol=1e-5)
    assert torch.allclose(normalize_features(x, "l2").norm(dim=1), torch.ones(50))
    assert torch.equal(normalize_features(x, "none"), x)


def test_accuracy():
    y = torch.tensor([0, 1, 2, 1])
    assert accuracy(torch.tensor([0, 1, 1, 1]), y) == 0.75
    logits = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
    assert accuracy(logits, y) == 0.75
    assert accuracy(torch.tensor([0, 1, 2, 1]), y.view(-1, 1)) == 1.0
    with pytest.raises(ValueError):
        accuracy(torch.tensor([0, 1]), y)


def test_summarize_and_format_table():
    s = summarize([0.80, 0.82, 0.84])
    assert s["mean"] == pytest.approx(0.82)
    assert s["std"] == pytest.approx(0.02)  # sample std, ddof=1
    assert s["values"] == [0.80, 0.82, 0.84]
    assert summarize([0.5]) == {"mean": 0.5, "std": 0.0, "values": [0.5]}
    with pytest.raises(ValueError):
        summarize([])
    table = format_table(
        {
            "frozen": {"GCN": [0.80, 0.82, 0.84], "GAT": [0.81]},
            "LEADING": {"GCN": summarize([0.9, 0.9]), "SAGE": [0.7, 0.75]},
        }
    )
    lines = table.splitlines()
    assert lines[0].split(" | ")[0].strip() == "method"
    assert [c.strip() for c in lines[0].split(" | ")] == ["method", "GCN", "GAT", "SAGE"]
    assert set(lines[1]) <= {"-", "+"}
    assert [c.strip() for c in lines[2].split(" | ")] == ["frozen", "82.0 ± 2.0", "81.0 ± 0.0", "-"]
    assert [c.strip() for c in lines[3].split(" | ")] == [
        "LEADING",
        "90.0 ± 0.0",
        "-",
        "72.5 ± 3.5",
    ]
    assert not math.isnan(s["std"])
