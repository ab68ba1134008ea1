r"""Evaluation on frozen node embeddings: downstream GNN classifiers
(:mod:`~leading.eval.downstream`), GNN link predictors (:mod:`~leading.eval.link`), their
metrics (:mod:`~leading.eval.metrics`) and the figures over seeds (:mod:`~leading.eval.report`)."""

from leading.eval.downstream import (
    FEATURE_NORMS,
    MODES,
    DownstreamConfig,
    downstream_mode,
    evaluate_downstream,
    fit_downstream,
    normalize_features,
    torch_num_threads,
)
from leading.eval.link import (
    HEADLINE_METRIC,
    GNNLinkPredictor,
    LinkPredictorConfig,
    check_link_size,
    evaluate_link,
    evaluate_link_downstream,
    link_epoch_size,
    metric_names,
)
from leading.eval.metrics import accuracy, hits_at_k, link_ranks, mrr, roc_auc
from leading.eval.report import format_table, summarize

__all__ = [
    "FEATURE_NORMS",
    "HEADLINE_METRIC",
    "DownstreamConfig",
    "GNNLinkPredictor",
    "LinkPredictorConfig",
    "MODES",
    "accuracy",
    "check_link_size",
    "downstream_mode",
    "evaluate_downstream",
    "evaluate_link",
    "evaluate_link_downstream",
    "fit_downstream",
    "format_table",
    "hits_at_k",
    "link_epoch_size",
    "link_ranks",
    "metric_names",
    "mrr",
    "normalize_features",
    "roc_auc",
    "summarize",
    "torch_num_threads",
]
