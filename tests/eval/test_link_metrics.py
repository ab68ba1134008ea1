r"""Link-prediction metrics on hand-made examples (AUC, MRR and Hits@K with OGB's tie
convention) and the link decoders."""

from __future__ import annotations

import pytest
import torch

from leading.eval.metrics import hits_at_k, link_ranks, mrr, roc_auc
from leading.graph.link_decoder import DotProductDecoder, MLPDecoder, build_link_decoder

# ------------------------------------------------------------------------------------ AUC


def test_auc_hand_example_with_a_tie():
    # 6 (positive, negative) pairs: 0.8 beats both, 0.6 beats both, 0.4 ties 0.4 and beats 0.2
    assert roc_auc(torch.tensor([0.8, 0.4, 0.6]), torch.tensor([0.4, 0.2])) == pytest.approx(
        5.5 / 6
    )
    assert roc_auc(torch.tensor([3.0, 2.0]), torch.tensor([1.0, 0.0])) == 1.0
    assert roc_auc(torch.tensor([0.0]), torch.tensor([1.0, 2.0])) == 0.0
    assert roc_auc(torch.tensor([1.0, 1.0]), torch.tensor([1.0])) == 0.5


def test_auc_equals_sklearn_with_many_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    pos = torch.randint(0, 6, (40,), generator=g).float()
    neg = torch.randint(0, 5, (55,), generator=g).float()
    ref = metrics.roc_auc_score([1] * 40 + [0] * 55, torch.cat([pos, neg]).numpy())
    assert roc_auc(pos, neg) == pytest.approx(ref, abs=1e-12)


# --------------------------------------------------------------------------- MRR, Hits@K


POS = torch.tensor([0.9, 0.5, 0.2])
NEG = torch.tensor([[0.1, 0.2, 0.3], [0.5, 0.7, 0.1], [0.2, 0.2, 0.9]])


def test_ranks_split_ties_as_ogb():
    # row 0: nothing above -> 1; row 1: 0.7 above, 0.5 tied -> 1 + (1 + 2) / 2 = 2.5;
    # row 2: 0.9 above, two 0.2 tied -> 1 + (1 + 3) / 2 = 3
    assert link_ranks(POS, NEG).tolist() == [1.0, 2.5, 3.0]
    assert mrr(POS, NEG) == pytest.approx((1 + 1 / 2.5 + 1 / 3) / 3)
    assert hits_at_k(POS, NEG, 1) == pytest.approx(1 / 3)
    assert hits_at_k(POS, NEG, 2) == pytest.approx(1 / 3)  # 2.5 > 2
    assert hits_at_k(POS, NEG, 3) == 1.0


def test_ranks_match_ogb_formula_on_random_scores():
    g = torch.Generator().manual_seed(1)
    pos = torch.randint(0, 4, (30,), generator=g).float()
    neg = torch.randint(0, 4, (30, 8), generator=g).float()
    optimistic = (neg > pos.view(-1, 1)).sum(1)
    pessimistic = (neg >= pos.view(-1, 1)).sum(1)
    ranks = 0.5 * (optimistic + pessimistic) + 1
    assert torch.equal(link_ranks(pos, neg), ranks.double())
    assert mrr(pos, neg) == pytest.approx(float((1 / ranks).mean()))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mrr(POS, NEG[:2]), r"3 positives but negatives for 2 rows"),
        (lambda: mrr(POS, NEG[0]), r"expected scores of shape \[n, K\]"),
        (lambda: roc_auc(torch.tensor([float("nan")]), torch.tensor([0.0])), "NaN score"),
        (lambda: roc_auc(torch.tensor([]), torch.tensor([0.0])), "no scores"),
        (lambda: hits_at_k(POS, NEG, 0), "k must be a positive integer"),
    ],
)
def test_metric_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------ decoders


def test_decoders_score_pairs_and_candidate_lists():
    torch.manual_seed(0)
    z = torch.randn(10, 4)
    src, dst = torch.tensor([0, 3, 7]), torch.tensor([[1, 2], [4, 5], [8, 9]])
    dot = DotProductDecoder()
    assert torch.allclose(dot.score(z, src, dst[:, 0]), (z[src] * z[dst[:, 0]]).sum(-1))
    full = dot.score(z, src, dst)
    assert full.shape == (3, 2)
    assert torch.allclose(full[2, 1], z[7] @ z[9])
    assert torch.allclose(dot.score(z, src, dst, chunk_size=2), full)  # chunking: same result
    mlp = build_link_decoder("mlp", 4, 8)
    assert isinstance(mlp, MLPDecoder)
    assert torch.allclose(mlp(z[src], z[dst[:, 0]]), mlp(z[dst[:, 0]], z[src]))  # symmetric
    assert torch.allclose(mlp.score(z, src, dst, chunk_size=3), mlp.score(z, src, dst))
    with pytest.raises(ValueError, match="unknown link decoder 'cosine'"):
        build_link_decoder("cosine", 4)
