r"""Pipeline 2: the cyclic order, influence weights against a dense exact solve, weighted draws,
and the trainer's influence-ordered refresh."""

import pytest
import torch

from leading.config import Config
from leading.data.graph import TextAttributedGraph
from leading.errors import ConfigError
from leading.train import LeadingTrainer
from leading.train.refresh import MemoryRefresh, influence_weights


@pytest.fixture(scope="module")
def graph():
    r"""Two components: a 5-node path 0-1-2-3-4 and a triangle 5-6-7; labels 0/1/2 in turn."""
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (5, 6), (6, 7), (7, 5)]
    src, dst = zip(*(edges + [(b, a) for a, b in edges]), strict=True)
    texts = [f"node {i} words {'alpha beta gamma'.split()[i % 3]}" for i in range(8)]
    y = torch.arange(8) % 3
    return TextAttributedGraph(texts, torch.tensor([src, dst]), y, ["a", "b", "c"], name="two")


def dense_influence(edge_index, n, targets, alpha):
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[1], edge_index[0]] = 1.0
    a += torch.eye(n, dtype=torch.float64)
    d = a.sum(1).pow(-0.5)
    a_hat = d[:, None] * a * d[None, :]
    pi = alpha * torch.linalg.inv(torch.eye(n, dtype=torch.float64) - (1 - alpha) * a_hat)
    return pi[targets].sum(0)  # w_j = sum over targets i of Pi_ij


def test_influence_weights_match_the_dense_solve(graph):
    targets = torch.tensor([0, 2])
    w = influence_weights(graph.edge_index, graph.num_nodes, targets, alpha=0.1, steps=300)
    exact = dense_influence(graph.edge_index, graph.num_nodes, targets, 0.1)
    assert torch.allclose(w.double(), exact, atol=1e-5)
    # the triangle cannot reach the targets' predictions; the path's nodes fade with distance
    assert bool((w[5:] == 0).all())
    assert float(w[4]) < float(w[3]) < float(w[1])


def test_weighted_draws_are_distinct_positive_and_follow_the_weights():
    weights = torch.tensor([0.0, 1.0, 1.0, 8.0, 0.0, 2.0])
    refresh = MemoryRefresh(6, 2, torch.Generator().manual_seed(0))
    refresh.set_weights(weights)
    counts = torch.zeros(6)
    for _ in range(400):
        ids = refresh.next_ids()
        assert ids.numel() == 2 and ids.unique().numel() == 2
        counts[ids] += 1
    assert counts[0] == counts[4] == 0
    assert counts[3] > counts[5] > max(counts[1], counts[2]) / 2
    assert "order=influence" in repr(refresh)
    refresh.set_weights(None)  # back to the cyclic order: every node once per 3 calls
    assert torch.equal(torch.cat([refresh.next_ids() for _ in range(3)]).sort().values,
                       torch.arange(6))


def test_too_few_positive_weights_fail_clearly():
    refresh = MemoryRefresh(4, 3, torch.Generator())
    with pytest.raises(ValueError, match="at least 3 positive"):
        refresh.set_weights(torch.tensor([1.0, 0.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match=r"expected \[4\]"):
        refresh.set_weights(torch.ones(5))


def test_refresh_order_is_validated():
    with pytest.raises(ConfigError, match="refresh_order"):
        Config(refresh_order="random")
    with pytest.raises(ConfigError, match="cyclic order only"):
        Config(task="link", refresh_order="influence")


def test_trainer_refreshes_by_influence_and_leaves_targets_to_pipeline_1(
    graph, make_encoder, tiny_config
):
    splits = {"train": torch.tensor([0, 1]), "valid": torch.tensor([2, 5]),
              "test": torch.tensor([3, 6])}
    cfg = tiny_config(refresh_order="influence", refresh_batch_size=2, epochs=2, head_epochs=2,
                      batch_size=1, hidden=8, patience=9)
    trainer = LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0)
    refreshed = []
    call = trainer.refresh.__call__

    def record(encoder, tokens, memory):
        ids = call(encoder, tokens, memory)
        refreshed.append(ids)
        return ids

    trainer.refresh = type("Recording", (), {"__call__": staticmethod(record),
                                             "size": 2, "state_dict": lambda self: {}})()
    res = trainer.fit()
    drawn = torch.cat(refreshed)
    assert drawn.numel() == 2 * 2 * 2  # 2 epochs x 2 steps x 2 nodes
    # only nodes the targets' predictions read, never the targets themselves
    assert bool(torch.isin(drawn, torch.tensor([2, 3, 4])).all())
    assert "memory_staleness_influence" in res.history[-1]
