r"""Scoring a link split (:func:`evaluate_link`) and the downstream GNN link predictor
(training edges only in message passing, selection on validation)."""

from __future__ import annotations

import pytest
import torch

from leading.data.graph import TextAttributedGraph
from leading.data.link_splits import LinkSplit, make_link_split
from leading.errors import ConfigError
from leading.eval.link import (
    GNNLinkPredictor,
    LinkPredictorConfig,
    check_link_size,
    evaluate_link,
    evaluate_link_downstream,
    link_epoch_size,
)

#: Scores of the test positives (0, 1), (1, 2), (2, 3) in the hand example below
POS = torch.tensor([0.9, 0.5, 0.2])


def test_evaluate_link_on_a_hand_split():
    split = LinkSplit(
        train=torch.tensor([[0], [1]]),
        valid=torch.tensor([[0], [2]]),
        valid_neg=torch.tensor([[1], [3]]),
        valid_neg_targets=torch.tensor([[1, 3]]),
        test=torch.tensor([[0, 1, 2], [1, 2, 3]]),
        test_neg=torch.tensor([[0, 1, 2], [2, 3, 0]]),
        test_neg_targets=torch.tensor([[2, 3], [0, 3], [0, 1]]),
        num_nodes=4,
    )
    # a score table s[u, v] = POS/NEG of the ranking example, looked up by pair
    s = torch.zeros(4, 4)
    s[0, 1], s[1, 2], s[2, 3] = POS
    s[0, 2], s[0, 3] = 0.1, 0.2  # row 0: both below 0.9
    s[1, 0], s[1, 3] = 0.5, 0.7  # row 1: tie and one above
    s[2, 0], s[2, 1] = 0.2, 0.9  # row 2: tie and one above
    res = evaluate_link(lambda u, v: s[u.unsqueeze(-1) if v.dim() == 2 else u, v], split,
                        "test", hits_k=(1, 3))
    # row-wise ranks 1, 2.5 (0.5 tied, 0.7 above), 1 + (1 + 2) / 2 = 2.5
    assert res["mrr"] == pytest.approx((1 + 1 / 2.5 + 1 / 2.5) / 3)
    assert res["hits@1"] == pytest.approx(1 / 3) and res["hits@3"] == 1.0
    # AUC: positives (0.9, 0.5, 0.2) against negative pairs s[0,2]=0.1, s[1,3]=0.7, s[2,0]=0.2
    assert res["auc"] == pytest.approx((3 + 2 + 1.5) / 9)
    with pytest.raises(ValueError, match="part must be 'valid' or 'test'"):
        evaluate_link(lambda u, v: s[u, v], split, "train")


# ------------------------------------------------------------------ downstream predictor


def community_graph(n: int = 40, seed: int = 0) -> tuple[TextAttributedGraph, torch.Tensor]:
    r"""Two communities with dense edges inside and few across; features reveal the community."""
    g = torch.Generator().manual_seed(seed)
    c = torch.arange(n) % 2
    src, dst = [], []
    for i in range(n):
        same = (c == c[i]).nonzero().view(-1)
        for j in same[torch.randperm(same.numel(), generator=g)[:4]].tolist():
            src.append(i)
            dst.append(j)
    graph = TextAttributedGraph([f"n{i}" for i in range(n)], torch.tensor([src, dst]), name="c2")
    x = torch.nn.functional.one_hot(c, 2).float() + 0.3 * torch.randn(n, 2, generator=g)
    x = torch.cat([x, 0.3 * torch.randn(n, 6, generator=g)], dim=1)
    return graph, x


def test_downstream_predictor_sees_training_edges_only_and_learns(monkeypatch):
    graph, x = community_graph()
    split = make_link_split(graph, "60/20/20", seed=0, num_neg_targets=10)
    seen = []
    encode = GNNLinkPredictor.encode

    def spy(self, x, edge_index):
        seen.append(edge_index.clone())
        return encode(self, x, edge_index)

    monkeypatch.setattr(GNNLinkPredictor, "encode", spy)
    cfg = LinkPredictorConfig(epochs=30, hits_k=(1, 5))
    res = evaluate_link_downstream(x, split, ["gcn"], seed=0, config=cfg)["gcn"]
    n = graph.num_nodes
    held_out = {tuple(sorted(e)) for e in torch.cat([split.valid, split.test], 1).t().tolist()}
    allowed = {tuple(sorted(e)) for e in split.train.t().tolist()}
    assert len(seen) == 30 * 2 + 1  # a training and a validation pass per epoch, one test pass
    for ei in seen:
        pairs = {tuple(sorted(e)) for e in ei.t().tolist()}
        assert pairs == allowed and not (pairs & held_out)
        assert int(ei.max()) < n
    assert set(res["test"]) == {"auc", "mrr", "hits@1", "hits@5"}
    assert 1 <= res["best_epoch"] <= res["epochs_run"] == 30
    assert res["test"]["auc"] > 0.75  # communities are easy; a broken predictor sits near 0.5


def test_downstream_predictor_is_deterministic_and_checks_input():
    graph, x = community_graph()
    split = make_link_split(graph, "60/20/20", seed=1, num_neg_targets=5)
    cfg = LinkPredictorConfig(epochs=5, decoder="mlp")
    a = evaluate_link_downstream(x, split, ["gcn", "sage"], seed=3, config=cfg)
    b = evaluate_link_downstream(x, split, ["gcn", "sage"], seed=3, config=cfg)
    for g in ("gcn", "sage"):
        assert a[g]["test"] == b[g]["test"] and a[g]["valid"] == b[g]["valid"]
    with pytest.raises(ValueError, match=r"expected embeddings \[40, d\]"):
        evaluate_link_downstream(x[:5], split, ["gcn"], config=cfg)
    with pytest.raises(ValueError, match="decoder must be one of"):
        LinkPredictorConfig(decoder="bilinear")


def test_link_predictor_is_full_batch_and_refuses_a_split_above_its_limit():
    graph, x = community_graph()
    split = make_link_split(graph, "60/20/20", seed=0, num_neg_targets=10)
    s = link_epoch_size(split)
    assert s["nodes"] == 40 and s["negatives"] == 10
    assert s["edges"] == split.message_passing_edge_index().size(1)
    assert s["size"] == 40 + s["edges"] + 2 * s["train"] + 12 * s["valid"]
    assert check_link_size(split) == s["size"]  # the default limit is far above
    small = LinkPredictorConfig(epochs=1, max_full_batch_size=s["size"] - 1)
    with pytest.raises(ConfigError, match=rf"size {s['size']:,} = 40 nodes .*"
                       rf"max_full_batch_size={s['size'] - 1:,}"):
        evaluate_link_downstream(x, split, ["gcn"], config=small)
    exact = LinkPredictorConfig(epochs=1, max_full_batch_size=s["size"])
    assert evaluate_link_downstream(x, split, ["gcn"], config=exact)["gcn"]["epochs_run"] == 1
    assert check_link_size(split, LinkPredictorConfig(max_full_batch_size=None)) == s["size"]
    with pytest.raises(ConfigError, match="max_full_batch_size"):
        LinkPredictorConfig(max_full_batch_size=-1)
