r"""Evaluation metrics: accuracy (node classification); ROC-AUC, MRR and Hits@K (link
prediction, :func:`roc_auc`, :func:`link_ranks`, :func:`mrr`, :func:`hits_at_k`)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["accuracy", "roc_auc", "link_ranks", "mrr", "hits_at_k"]


def accuracy(logits_or_pred: Tensor, y: Tensor) -> float:
    r"""Fraction of correctly classified items.

    Args:
        logits_or_pred (Tensor): Either scores :obj:`[n, C]` (the arg-max is the prediction) or
            predicted class ids :obj:`[n]`.
        y (Tensor): True class ids :obj:`[n]` (an OGB-style :obj:`[n, 1]` is accepted).

    Returns:
        float: Accuracy in :obj:`[0, 1]`.

    Raises:
        ValueError: If the shapes do not match or there is nothing to score.
    """
    pred = torch.as_tensor(logits_or_pred)
    y = torch.as_tensor(y)
    if y.dim() == 2 and y.size(1) == 1:
        y = y.view(-1)
    if pred.dim() == 2:
        pred = pred.argmax(dim=-1)
    if pred.dim() != 1 or y.dim() != 1 or pred.numel() != y.numel():
        raise ValueError(
            f"accuracy: expected predictions [n] or logits [n, C] and labels [n], got "
            f"{tuple(torch.as_tensor(logits_or_pred).shape)} and {tuple(y.shape)}"
        )
    if y.numel() == 0:
        raise ValueError("accuracy: no items to score")
    return float((pred.to(y.device).long() == y.long()).sum()) / y.numel()


def _scores(x: Tensor, name: str, dim: int) -> Tensor:
    x = torch.as_tensor(x).detach()
    if x.dim() != dim:
        shape = "[n]" if dim == 1 else "[n, K]"
        raise ValueError(f"{name}: expected scores of shape {shape}, got {tuple(x.shape)}")
    x = x.double().cpu()
    if x.numel() == 0:
        raise ValueError(f"{name}: no scores")
    if bool(torch.isnan(x).any()):
        raise ValueError(f"{name}: NaN score at position {int(torch.isnan(x).nonzero()[0][0])}")
    return x


def roc_auc(pos: Tensor, neg: Tensor) -> float:
    r"""Area under the ROC curve of positive against negative scores: the probability that a
    random positive scores higher than a random negative, ties counting one half
    (Mann-Whitney),

    .. math::
        \mathrm{AUC} = \frac{1}{|P|\,|N|} \sum_{p \in P} \sum_{q \in N}
        \left( [s_p > s_q] + \tfrac{1}{2} [s_p = s_q] \right),

    computed from average ranks in :math:`O((|P|+|N|) \log(|P|+|N|))`; equal to
    :func:`sklearn.metrics.roc_auc_score` and OGB's ``rocauc``.

    Args:
        pos (Tensor): Scores of positive pairs :obj:`[n_pos]` (logits or probabilities).
        neg (Tensor): Scores of negative pairs :obj:`[n_neg]`.

    Returns:
        float: AUC in :obj:`[0, 1]`.
    """
    pos, neg = _scores(pos, "roc_auc: pos", 1), _scores(neg, "roc_auc: neg", 1)
    n_pos, n_neg = pos.numel(), neg.numel()
    _, inverse, counts = torch.unique(torch.cat([pos, neg]), return_inverse=True,
                                      return_counts=True)
    counts = counts.double()
    avg_rank = counts.cumsum(0) - (counts - 1) / 2  # 1-based average rank of each value
    rank_sum = float(avg_rank[inverse[:n_pos]].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def link_ranks(pos: Tensor, neg: Tensor) -> Tensor:
    r"""Rank of each positive among its own negatives, OGB's convention
    (:obj:`ogb.linkproppred.Evaluator`, metric ``mrr``): ties are split evenly between the
    optimistic and the pessimistic rank,

    .. math::
        r_i = 1 + \tfrac{1}{2} \left( |\{k : s^-_{ik} > s^+_i\}| +
        |\{k : s^-_{ik} \ge s^+_i\}| \right).

    Args:
        pos (Tensor): Scores of the positives :obj:`[n]`.
        neg (Tensor): Scores of each positive's :math:`K` negatives :obj:`[n, K]`.

    Returns:
        Tensor: float64 ranks :obj:`[n]` in :obj:`[1, K + 1]` (multiples of 0.5).
    """
    pos, neg = _scores(pos, "link_ranks: pos", 1), _scores(neg, "link_ranks: neg", 2)
    if neg.size(0) != pos.numel():
        raise ValueError(
            f"link_ranks: {pos.numel()} positives but negatives for {neg.size(0)} rows "
            f"(shape {tuple(neg.shape)}); expected [{pos.numel()}, K]"
        )
    pos = pos.view(-1, 1)
    return 1.0 + 0.5 * ((neg > pos).sum(1) + (neg >= pos).sum(1)).double()


def mrr(pos: Tensor, neg: Tensor) -> float:
    r"""Mean reciprocal rank :math:`\frac{1}{n} \sum_i 1 / r_i` of each positive among its own
    negatives (ranks :math:`r_i` of :func:`link_ranks`).

    Args:
        pos (Tensor): :obj:`[n]`.
        neg (Tensor): :obj:`[n, K]`.
    """
    return float((1.0 / link_ranks(pos, neg)).mean())


def hits_at_k(pos: Tensor, neg: Tensor, k: int) -> float:
    r"""Hits@K: the fraction of positives ranked within the top :math:`K` among their own
    negatives, :math:`\frac{1}{n} \sum_i [r_i \le K]` (ranks of :func:`link_ranks`; OGB's
    ``hits@K_list`` for ``ogbl-citation2``).

    Args:
        pos (Tensor): :obj:`[n]`.
        neg (Tensor): :obj:`[n, K']`.
        k (int): :math:`K \ge 1`.
    """
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"hits_at_k: k must be a positive integer, got {k!r}")
    return float((link_ranks(pos, neg) <= k).double().mean())
