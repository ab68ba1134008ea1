r"""The methods of ``leading run --method M`` and what each changes in the configuration.

Every method yields node embeddings :obj:`[N, d]` that the downstream evaluation treats alike:

* ``"leading"``: the LM fine-tuned end to end with the graph head (two pipelines).
* ``"pretrained"``: the un-tuned LM's embeddings.
* ``"shallow"``: bag-of-words / TF-IDF features of the node texts, no LM
  (:func:`leading.text.shallow.shallow_features`).
* ``"supervised"``: the LM fine-tuned with a graph-less MLP head on the training labels only
  ("Supervised-FT"). It reuses :class:`~leading.train.node.LeadingTrainer` with the overrides
  of :func:`method_overrides`: with the ``"mlp"`` head each target's loss depends on its own LM
  embedding alone, and pipeline 2 is off, so this is plain supervised fine-tuning (its cost is
  the targets' encodings alone) with the same optimizer, head warm-up (a probe on the frozen LM
  first), epochs, early stopping and model selection on validation as LEADING; validation
  re-encodes the validation and test nodes with the current LM (``eval_reencode``: uncounted,
  untimed).
* ``"coupled"``: LM + GraphSAGE trained end to end the naive way: every node of each target's
  sampled subgraph (``fanouts``) is encoded with gradient (``grad_hops=-1``); no memory is read
  during training, so pipeline 2 is off, and validation re-encodes every node. The
  memory-hungry reference that LEADING replaces.
* ``"gas"``: GNNAutoScale style: the targets and their sampled 1-hop neighbors are encoded with
  gradient (``grad_hops=1``), deeper hops are read from the memory, which only these encodings
  keep fresh (historical embeddings; pipeline 2 off); validation re-encodes every node.
* ``"glem"``: GLEM's variational EM between the LM and a GNN (:mod:`leading.train.glem`): LM
  steps with the supervised configuration (the MLP head's overrides, here plus no head refit)
  on the training labels plus the GNN's pseudo-labels, alternating with GNN steps
  (``glem_gnn``) on the LM's frozen embeddings with the training labels plus the LM's
  pseudo-labels. Its embeddings are the final LM's; its end-to-end accuracy is the final GNN's.

The ablation of LEADING's two ideas needs no method of its own: ``--grad-hops -1 --scope
subgraph`` turns neighbor decoupling off, ``--head appnp`` (explicit, unrolled propagation)
turns implicit modeling off, and ``--prop-steps L`` sets :math:`L`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FINETUNING_METHODS",
    "LINK_METHODS",
    "METHODS",
    "METHOD_DESCRIPTIONS",
    "METHOD_OVERRIDES",
    "method_overrides",
]

#: Every method of ``leading run --method M`` with a one-line description (the registry that
#: :class:`~leading.config.Config` and the CLI take their choices from; see above for details).
METHOD_DESCRIPTIONS: dict[str, str] = {
    "leading": "the LM fine-tuned end to end with the graph head (two pipelines)",
    "pretrained": "the un-tuned LM's embeddings",
    "shallow": "TF-IDF or bag-of-words features of the node texts, no LM",
    "supervised": "the LM fine-tuned with a graph-less MLP head on the training labels",
    "glem": "GLEM's variational EM between the LM and a GNN (see leading.train.glem)",
    "coupled": "LM + GraphSAGE end to end, every sampled node encoded with gradient",
    "gas": "GNNAutoScale style: the targets and their 1-hop neighbors with gradient, deeper "
    "hops from the memory",
}
#: The names of :data:`METHOD_DESCRIPTIONS`, in order.
METHODS: tuple[str, ...] = tuple(METHOD_DESCRIPTIONS)
#: The methods of ``--task link`` (see :mod:`leading.protocols`).
LINK_METHODS: tuple[str, ...] = ("leading", "pretrained", "shallow", "supervised")

#: The methods that fine-tune the LM with :class:`~leading.train.node.LeadingTrainer`
#: (GLEM in each of its LM steps).
FINETUNING_METHODS = ("leading", "supervised", "coupled", "gas", "glem")

#: Configuration changes per method (methods not listed use the configuration unchanged).
METHOD_OVERRIDES: dict[str, dict[str, Any]] = {
    "supervised": {
        "head": "mlp", "refresh_batch_size": 0, "refresh_fraction": None, "pseudo_labels": 0.0,
        "eval_reencode": True,
    },
    "coupled": {
        "head": "sage", "scope": "subgraph", "grad_hops": -1, "refresh_batch_size": 0,
        "refresh_fraction": None, "pseudo_labels": 0.0, "eval_reencode": True,
    },
    "gas": {
        "head": "sage", "scope": "subgraph", "grad_hops": 1, "refresh_batch_size": 0,
        "refresh_fraction": None, "pseudo_labels": 0.0, "eval_reencode": True,
    },
}
# GLEM's LM steps: supervised fine-tuning (its pseudo-labels come from the GNN, not from the
# head); the LM's predictions come from the classifier trained with it, so no head refit
METHOD_OVERRIDES["glem"] = {**METHOD_OVERRIDES["supervised"], "refit_head": False}


def method_overrides(method: str) -> dict[str, Any]:
    r"""The :class:`~leading.config.Config` fields that :obj:`method` sets, whatever the user
    gave (a copy; empty for ``"leading"``, ``"pretrained"`` and ``"shallow"``).

    Example::

        cfg = cfg.replace(**method_overrides(cfg.method))
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    return dict(METHOD_OVERRIDES.get(method, {}))
