r"""The downstream link-prediction protocol: a GNN link predictor trained on frozen node
embeddings (paper Appendix C, following PyG's ``examples/link_pred.py``).

After a method has produced node embeddings :obj:`x` :obj:`[N, d]` (TF-IDF, the frozen LM, or an
LM fine-tuned by supervised training or LEADING), :func:`evaluate_link_downstream` trains, per
GNN name, a :class:`GNNLinkPredictor`:

* **encoder**: a 2-layer GNN (GCN by default; hidden 128, output 64 as in PyG's example) over the
  *training* edges of the split only (:meth:`LinkSplit.message_passing_edge_index`); validation
  and test edges never enter message passing;
* **decoder**: dot product (or an MLP on the Hadamard product, :mod:`leading.graph.link_decoder`);
* **loss**: binary cross-entropy of the training positives against as many negative pairs,
  freshly sampled every epoch among the pairs that are not training edges;
* **model selection**: full-batch Adam for :obj:`epochs` epochs; the epoch with the best
  validation AUC (ties: the earlier one) is kept, and the test edges are scored once, with that
  epoch's weights.

**Full batch only.** Unlike node classification (:mod:`leading.eval.downstream`, which switches
to sampled mini-batches on large graphs), the link predictor has no mini-batch path: every
epoch encodes the whole message-passing graph and scores every training pair and every
validation pair (each positive, its fixed negative and its :math:`K` ranked negatives). Its
work per epoch is therefore :func:`link_epoch_size` = nodes + message-passing edges + 2 x
training positives + (2 + :math:`K`) x validation positives, and
:func:`evaluate_link_downstream` refuses, with a :class:`~leading.errors.ConfigError` naming
the size and the limit, a split whose size exceeds
:attr:`LinkPredictorConfig.max_full_batch_size` (5,000,000; :obj:`None` lifts it), before any
training. Measured with one thread on the 2-core CPU (GCN, random graphs of average degree 10,
the ``low`` split, :math:`K = 100`): an epoch costs about 2 s per million of size (6 s at
20,000 nodes, size 3.1M; 34 s at 100,000 nodes, size 15.5M), so the limit keeps the 100
default epochs within about 15 minutes; Cora's splits have sizes 166,000 (``low``) and 47,000
(``high``), PubMed's ``low`` about 1.4M. A 1M-node graph with 10M edges (size about 0.16
billion with the ``low`` split) and ogbl-citation2's canonical split (over 0.1 billion) are
refused; check a split up front with :func:`check_link_size`. On a GPU the limit can be
raised.

Metrics (:func:`evaluate_link`), on the split's fixed negatives:

* ``auc``: ROC-AUC of the positives against one fixed negative pair each. This is the metric of
  the paper's Table 9 (the Cora "Low"/"High" numbers, e.g. 83.3 / 95.7 for LEADING with SBERT):
  the paper follows PyG's ``link_pred`` example, which reports ROC-AUC, and its numbers are on
  that scale;
* ``mrr`` and ``hits@K``: each positive :math:`(u, v)` ranked among its :math:`K` corrupted
  destinations :math:`(u, w_k)`, OGB's tie convention (:func:`~leading.eval.metrics.link_ranks`).
  On ``ogbl-citation2`` (1,000 official negatives per positive) ``mrr`` is OGB's official
  metric and the one of the paper's Table 10.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leading.data.link_splits import LinkSplit
from leading.data.negative_sampling import EdgeSet, sample_negative_pairs
from leading.errors import ConfigError
from leading.eval.downstream import FEATURE_NORMS, normalize_features, torch_num_threads
from leading.eval.metrics import hits_at_k, mrr, roc_auc
from leading.graph.gnn import build_gnn
from leading.graph.link_decoder import DECODERS, LinkDecoder, build_link_decoder
from leading.seeding import seeded

__all__ = [
    "LinkPredictorConfig",
    "GNNLinkPredictor",
    "evaluate_link",
    "evaluate_link_downstream",
    "check_link_size",
    "link_epoch_size",
    "metric_names",
    "HEADLINE_METRIC",
]

#: The metric that maps to the single number per method of the paper's Table 9 (Cora).
HEADLINE_METRIC = "auc"

#: ``score(src, dst)``: logits of pairs, :obj:`dst` :obj:`[n]` or :obj:`[n, K]`.
PairScorer = Callable[[Tensor, Tensor], Tensor]


def metric_names(hits_k: Sequence[int]) -> list[str]:
    r"""``["auc", "mrr", "hits@K", ...]``, the keys of :func:`evaluate_link`'s result."""
    return ["auc", "mrr", *(f"hits@{k}" for k in hits_k)]


@torch.no_grad()
def evaluate_link(
    score: PairScorer, split: LinkSplit, part: str, hits_k: Sequence[int] = (10,)
) -> dict[str, float]:
    r"""AUC, MRR and Hits@K of one held-out part of a split.

    Args:
        score (Callable): ``score(src, dst)`` returns logits :obj:`[n]` for :obj:`dst`
            :obj:`[n]` and :obj:`[n, K]` for :obj:`dst` :obj:`[n, K]`.
        split (LinkSplit): The split.
        part (str): ``"valid"`` or ``"test"``.
        hits_k (Sequence[int]): The :math:`K` of each Hits@K.

    Returns:
        dict: ``auc``, ``mrr`` and ``hits@K`` for each :math:`K`, floats in :obj:`[0, 1]`.
    """
    if part not in ("valid", "test"):
        raise ValueError(f"evaluate_link: part must be 'valid' or 'test', got {part!r}")
    pos_edges: Tensor = getattr(split, part)
    neg_edges: Tensor = getattr(split, f"{part}_neg")
    neg_targets: Tensor = getattr(split, f"{part}_neg_targets")
    pos = score(pos_edges[0], pos_edges[1]).float().cpu()
    neg = score(neg_edges[0], neg_edges[1]).float().cpu()
    ranked = score(pos_edges[0], neg_targets).float().cpu()
    out = {"auc": roc_auc(pos, neg), "mrr": mrr(pos, ranked)}
    for k in hits_k:
        out[f"hits@{k}"] = hits_at_k(pos, ranked, k)
    return out


@dataclass
class LinkPredictorConfig:
    r"""Settings of :func:`evaluate_link_downstream`; the defaults are those of PyG's
    ``examples/link_pred.py`` (2-layer GCN 128/64, Adam lr 0.01, 100 epochs, no dropout, no
    weight decay, one fresh negative per training positive per epoch).

    Args:
        epochs (int): Training epochs (full batch). (default: :obj:`100`)
        lr (float): Adam learning rate. (default: :obj:`0.01`)
        hidden_channels (int): Hidden width. (default: :obj:`128`)
        out_channels (int): Output embedding size. (default: :obj:`64`)
        num_layers (int): GNN layers. (default: :obj:`2`)
        dropout (float): Dropout of the GNN (and of an MLP decoder). (default: :obj:`0.0`)
        weight_decay (float): Adam's L2 penalty. (default: :obj:`0.0`)
        feature_norm (str): ``"l2"``, ``"standardize"`` or ``"none"``
            (:func:`~leading.eval.downstream.normalize_features`). (default: :obj:`"l2"`)
        decoder (str): ``"dot"`` or ``"mlp"``. (default: :obj:`"dot"`)
        hits_k (Sequence[int]): The :math:`K` of the reported Hits@K. (default: :obj:`(10,)`)
        patience (int): Stop after this many epochs without a better validation AUC
            (:obj:`0`: never). (default: :obj:`0`)
        num_threads (int, optional): CPU threads during the call (restored afterwards).
        max_full_batch_size (int, optional): The largest :func:`link_epoch_size` trained
            (full batch, the only mode); a larger split raises
            :class:`~leading.errors.ConfigError`. :obj:`None`: no limit.
            (default: :obj:`5_000_000`)
    """

    epochs: int = 100
    lr: float = 0.01
    hidden_channels: int = 128
    out_channels: int = 64
    num_layers: int = 2
    dropout: float = 0.0
    weight_decay: float = 0.0
    feature_norm: str = "l2"
    decoder: str = "dot"
    hits_k: Sequence[int] = (10,)
    patience: int = 0
    num_threads: int | None = None
    max_full_batch_size: int | None = 5_000_000

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"link predictor: epochs must be >= 1, got {self.epochs}")
        if self.feature_norm not in FEATURE_NORMS:
            raise ConfigError(
                f"link predictor: feature_norm must be one of {FEATURE_NORMS}, got "
                f"{self.feature_norm!r}"
            )
        if self.decoder not in DECODERS:
            raise ConfigError(
                f"link predictor: decoder must be one of {DECODERS}, got {self.decoder!r}"
            )
        if any(isinstance(k, bool) or int(k) != k or k < 1 for k in self.hits_k):
            raise ConfigError(
                f"link predictor: hits_k must be positive integers, got {self.hits_k}"
            )
        if self.num_threads is not None and self.num_threads < 1:
            raise ConfigError(f"link predictor: num_threads must be >= 1, got {self.num_threads}")
        if self.max_full_batch_size is not None and self.max_full_batch_size < 0:
            raise ConfigError(
                f"link predictor: max_full_batch_size must be >= 0, got {self.max_full_batch_size}"
            )


def link_epoch_size(split: LinkSplit) -> dict[str, int]:
    r"""The work of one full-batch epoch of the link predictor on :obj:`split`: ``size`` =
    ``nodes`` + ``edges`` (message passing) + 2 x ``train`` (positives and as many negatives) +
    (2 + ``negatives``) x ``valid`` (each validation positive, its fixed negative and its ranked
    negatives), with the parts."""
    parts = {
        "nodes": int(split.num_nodes),
        "edges": int(split.message_passing_edge_index().size(1)),
        "train": int(split.train.size(1)),
        "valid": int(split.valid.size(1)),
        "negatives": int(split.valid_neg_targets.size(1)),
    }
    size = (parts["nodes"] + parts["edges"] + 2 * parts["train"]
            + (2 + parts["negatives"]) * parts["valid"])
    return {"size": size, **parts}


def check_link_size(split: LinkSplit, config: LinkPredictorConfig | None = None) -> int:
    r"""Returns :func:`link_epoch_size` of :obj:`split`, or raises
    :class:`~leading.errors.ConfigError` naming it and the limit when it exceeds
    :attr:`LinkPredictorConfig.max_full_batch_size` (the link predictor trains full batch only).
    """
    config = config or LinkPredictorConfig()
    s = link_epoch_size(split)
    limit = config.max_full_batch_size
    if limit is not None and s["size"] > limit:
        raise ConfigError(
            f"link predictor: this split is too large for full-batch training, the only mode of "
            f"the downstream link predictor: size {s['size']:,} = {s['nodes']:,} nodes + "
            f"{s['edges']:,} message-passing edges + 2 x {s['train']:,} training edges + "
            f"{2 + s['negatives']} x {s['valid']:,} validation edges (positive, fixed negative "
            f"and {s['negatives']} ranked negatives each), above max_full_batch_size="
            f"{limit:,} (about 2 s per million per epoch on a 2-core CPU). Use a smaller graph "
            "or split, fewer evaluation negatives, or raise LinkPredictorConfig."
            "max_full_batch_size (None: no limit)"
        )
    return s["size"]


class GNNLinkPredictor(nn.Module):
    r"""A GNN encoder and a link decoder: :math:`s(u, v) = \mathrm{dec}(\mathbf{z}_u,
    \mathbf{z}_v)`, :math:`\mathbf{Z} = \mathrm{GNN}(\mathbf{X}, \mathcal{E}_{\text{train}})`.

    Args:
        gnn (str): A :func:`~leading.graph.gnn.build_gnn` name (``"gcn"``, ``"sage"``, ...).
        in_channels (int): Input width :math:`d`.
        hidden_channels (int): Hidden width.
        out_channels (int): Embedding size of :math:`\mathbf{Z}`.
        num_layers (int): GNN layers. (default: :obj:`2`)
        dropout (float): Dropout. (default: :obj:`0.0`)
        decoder (str): ``"dot"`` or ``"mlp"``. (default: :obj:`"dot"`)
        **gnn_kwargs: Passed to :func:`~leading.graph.gnn.build_gnn`.

    Shapes:
        - :meth:`encode`: :obj:`x` :math:`(N, d)`, :obj:`edge_index` :math:`(2, E)` ->
          :math:`(N, d_{out})`
        - :meth:`forward`: as :meth:`encode`, plus :obj:`src` :math:`(n)` and :obj:`dst`
          :math:`(n)` or :math:`(n, K)` -> logits of their shape
    """

    def __init__(
        self,
        gnn: str,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.0,
        decoder: str = "dot",
        **gnn_kwargs: Any,
    ) -> None:
        super().__init__()
        self.encoder = build_gnn(
            gnn, in_channels, hidden_channels, out_channels, num_layers=num_layers,
            dropout=dropout, input_dropout=0.0, **gnn_kwargs,
        )
        self.decoder: LinkDecoder = build_link_decoder(
            decoder, out_channels, hidden_channels, dropout
        )

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.encoder(x, edge_index)

    def forward(self, x: Tensor, edge_index: Tensor, src: Tensor, dst: Tensor) -> Tensor:
        return self.decoder.score(self.encode(x, edge_index), src, dst)


def evaluate_link_downstream(
    x: Tensor,
    split: LinkSplit,
    gnns: Sequence[str] = ("gcn",),
    seed: int = 0,
    config: LinkPredictorConfig | None = None,
) -> dict[str, dict[str, Any]]:
    r"""Trains a :class:`GNNLinkPredictor` per GNN on frozen embeddings and scores it (see the
    module docstring for the protocol).

    Args:
        x (Tensor): Node embeddings :obj:`[N, d]`.
        split (LinkSplit): Positives, fixed negatives and the message-passing graph.
        gnns (Sequence[str]): GNN names. (default: :obj:`("gcn",)`)
        seed (int): Seed of weight initialization and of the training negatives.
        config (LinkPredictorConfig, optional): Settings.

    Raises:
        ConfigError: If :func:`link_epoch_size` exceeds the config's
            :attr:`~LinkPredictorConfig.max_full_batch_size` (see the module docstring).

    Returns:
        dict: Per GNN, ``valid`` and ``test`` metric dicts (:func:`evaluate_link`, at the
        selected epoch), ``best_epoch`` (1-based), ``epochs_run`` and ``time_s``.
    """
    config = config or LinkPredictorConfig()
    x = torch.as_tensor(x)
    if x.dim() != 2 or x.size(0) != split.num_nodes:
        raise ConfigError(
            f"link predictor: expected embeddings [{split.num_nodes}, d] (one row per node), "
            f"got {tuple(x.shape)}"
        )
    check_link_size(split, config)  # full batch only: refuse what it cannot train
    x = normalize_features(x, config.feature_norm)
    edge_index = split.message_passing_edge_index().to(x.device)
    with torch_num_threads(config.num_threads):
        return {str(g): _fit_one(str(g), x, edge_index, split, seed, config) for g in gnns}


def _fit_one(
    gnn: str, x: Tensor, edge_index: Tensor, split: LinkSplit, seed: int,
    config: LinkPredictorConfig,
) -> dict[str, Any]:
    start = time.perf_counter()
    train = split.train.to(x.device)
    exclude = EdgeSet(edge_index, split.num_nodes)  # training negatives avoid training edges
    gen = torch.Generator().manual_seed(int(seed))
    kwargs = {"cached": True} if gnn.lower() == "gcn" else {}  # the graph never changes
    with seeded(seed, x.device):
        model = GNNLinkPredictor(
            gnn, x.size(1), config.hidden_channels, config.out_channels, config.num_layers,
            config.dropout, config.decoder, **kwargs,
        ).to(x.device)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        labels = torch.cat([torch.ones(train.size(1)), torch.zeros(train.size(1))]).to(x.device)
        best: dict[str, Any] | None = None
        since, epoch = 0, 0
        for epoch in range(1, config.epochs + 1):
            model.train()
            opt.zero_grad()
            neg = sample_negative_pairs(train.size(1), exclude, gen, unique=False).to(x.device)
            pairs = torch.cat([train, neg], dim=1)
            logits = model(x, edge_index, pairs[0], pairs[1])
            F.binary_cross_entropy_with_logits(logits, labels).backward()
            opt.step()

            model.eval()
            with torch.no_grad():
                z = model.encode(x, edge_index)
            valid = evaluate_link(
                lambda s, d, z=z: model.decoder.score(z, s, d), split, "valid", config.hits_k
            )
            if best is None or valid["auc"] > best["valid"]["auc"]:
                best = {"valid": valid, "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
                since = 0
            else:
                since += 1
                if config.patience and since >= config.patience:
                    break
        assert best is not None
        # the only place test edges are scored: the selected epoch's weights
        model.load_state_dict(best["state"])
        model.eval()
        with torch.no_grad():
            z = model.encode(x, edge_index)
        test = evaluate_link(
            lambda s, d: model.decoder.score(z, s, d), split, "test", config.hits_k
        )
    return {
        "valid": best["valid"],
        "test": test,
        "best_epoch": best["epoch"],
        "epochs_run": epoch,
        "time_s": time.perf_counter() - start,
    }
