r"""The paper's efficiency studies (section 4.3, Tables 4-6, Figures 3-5) as data.

A study is a list of :class:`Point`\ s: (study, method label, setting) plus the
:class:`~leading.config.Config` values that realise it. :func:`plan` builds them for a mode:

* ``"full"``: MiniLM, 64 tokens, 3 LM epochs for the studies that report accuracy (1 for the
  memory / encoding sweeps), 100 head warm-up epochs; batch sizes 8, 16, 32, 64, 128; 1-4 hops;
  L = 2, 3, 5, 10; refresh fractions null, 0.1, 0.25, 0.5, 1 (60 rows, 48 runs);
* ``"quick"``: 32 tokens, 1 LM epoch, 10 head warm-up epochs; batch sizes 8 and 32; 1-2 hops;
  L = 2; refresh fractions null and 1 (30 rows, 17 runs).

Common to every point (the paper's LEADING settings): batch size 32, fanouts ``[10, 5]``,
pipeline 2 as large as pipeline 1 (``refresh_fraction=None``, ``refresh_batch_size=None``), no
pseudo-labels, one seed (0), no early stopping (``patience`` = epochs), no downstream GNNs. What
:mod:`leading.train.methods` sets per method (``coupled``: SAGE head, every sampled node with
gradient; ``gas``: 1 hop with gradient; ``supervised``: MLP head, no pipeline 2) is applied on
top, as ``leading run`` does.

The studies (``STUDIES``):

* ``table5``: accuracy and peak memory of ``coupled`` (LM + GraphSAGE), ``gas`` and ``leading``
  (LEADING as ``leading run`` runs it: implicit head over the whole graph).
* ``fig3``: validation accuracy per epoch of the same three runs.
* ``table6``: the ablation: LM + APPNP without neighbor decoupling (``grad_hops=-1``), with it
  (``grad_hops=0``), and with implicit modeling too (``head=implicit``), for :math:`L` =
  ``prop_steps`` 2, 3, 5, 10 (batch 32), and LM + ND + IM with :math:`L` = 2 at batch 32 and
  128; all on sampled 2-hop subgraphs, 5 neighbors per hop, as in the paper.
* ``fig4_5_batch_size`` and ``fig4_5_hops``: peak memory (Figure 4) and LM encodings per node
  and per target per epoch (Figure 5) of ``coupled``, ``gas``, ``supervised`` (targets only) and
  ``leading``, against the batch size (2 hops, fanouts 10 and 5) and the number of hops
  (fanouts 10, 5, 5, ...; batch 32). Every method propagates over the sampled subgraph (scope
  ``subgraph``) so that they are comparable; the graph-free supervised head needs no subgraph
  (scope ``full``), so one run stands for every number of hops.
* ``table4``: peak memory and running time of ``supervised``, ``glem`` and ``leading``.
* ``refresh``: the refresh budget: LEADING with pipeline 2 re-encoding as many nodes per step as
  pipeline 1 (``refresh_fraction`` null) or a fraction of the graph per epoch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from leading.config import Config
from leading.train.methods import method_overrides

__all__ = ["MODES", "STUDIES", "Point", "config_key", "plan", "row_key"]

STUDIES = (
    "table5", "fig3", "table6", "fig4_5_batch_size", "fig4_5_hops", "table4", "refresh"
)

MODES: dict[str, dict[str, Any]] = {
    "full": {
        "max_length": 64,
        "head_epochs": 100,
        "epochs": 3,  # studies that report accuracy
        "sweep_epochs": 1,  # the memory / encoding sweeps (Figures 4 and 5)
        "ablation_steps": [2, 3, 5, 10],
        "ablation_batch_sizes": [32, 128],
        "batch_sizes": [8, 16, 32, 64, 128],
        "hops": [1, 2, 3, 4],
        "refresh_fractions": [None, 0.1, 0.25, 0.5, 1.0],
    },
    "quick": {
        "max_length": 32,
        "head_epochs": 10,
        "epochs": 1,
        "sweep_epochs": 1,
        "ablation_steps": [2],
        "ablation_batch_sizes": [32],
        "batch_sizes": [8, 32],
        "hops": [1, 2],
        "refresh_fractions": [None, 1.0],
    },
}

#: Settings of every point (the paper's LEADING: equal pipeline batches, no pseudo-labels).
COMMON: dict[str, Any] = {
    "split": "per_class",
    "seed": 0,
    "seeds": 1,
    "batch_size": 32,
    "fanouts": [10, 5],
    "refresh_fraction": None,
    "refresh_batch_size": None,
    "pseudo_labels": 0.0,
    "downstream": [],
    "progress": False,
    "save_model": False,
    "resume": False,
}

#: Fields that do not change what a run computes (left out of :func:`config_key`).
_NOT_MEASURED = ("out_dir", "progress", "resume", "save_model", "downstream", "seeds")


@dataclass
class Point:
    r"""One configuration of one study.

    Args:
        study (str): One of :data:`STUDIES`.
        method (str): The label in tables and plots (``coupled``, ``lm+appnp+nd``, ...).
        setting (dict): The swept parameters that tell this point from the others of its study
            and method (e.g. ``{"batch_size": 32, "hops": 2}``).
        config (dict): Every :class:`~leading.config.Config` field of the run.
        skip (str, optional): Why the point is not run (then its row is ``"skipped"``).
    """

    study: str
    method: str
    setting: dict[str, Any]
    config: dict[str, Any] = field(repr=False)
    skip: str | None = None

    @property
    def key(self) -> str:
        return row_key(self.study, self.method, self.setting)

    @property
    def config_key(self) -> str:
        return config_key(self.config)


def row_key(study: str, method: str, setting: dict[str, Any]) -> str:
    r"""The identity of a result row: study, method and setting (what ``--resume`` matches)."""
    return f"{study}/{method}/{json.dumps(setting, sort_keys=True)}"


def config_key(config: dict[str, Any]) -> str:
    r"""A hash of what a run computes: the configuration after the method's overrides, without
    the fields that only steer output, and without ``fanouts`` when nothing is sampled (scope
    ``full``). Points with the same key are measured once."""
    cfg = Config.from_dict(dict(config))
    values = cfg.replace(**method_overrides(cfg.method)).to_dict()
    for k in _NOT_MEASURED:
        values.pop(k, None)
    if values["scope"] == "full":
        values.pop("fanouts")
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _glem_missing() -> str | None:
    import importlib.util

    if importlib.util.find_spec("leading.train.glem") is None:
        return "GLEM (leading.train.glem, --method glem) is not in this checkout yet"
    return None


def plan(
    mode: str = "full",
    studies: list[str] | tuple[str, ...] | None = None,
    max_length: int | None = None,
    epochs: int | None = None,
    head_epochs: int | None = None,
    **base: Any,
) -> list[Point]:
    r"""The points of the :obj:`studies` (default: all) in :obj:`mode`.

    Args:
        mode (str): ``"full"`` or ``"quick"``.
        studies (list[str], optional): A subset of :data:`STUDIES`.
        max_length (int, optional): Tokens per node text instead of the mode's.
        epochs (int, optional): LM epochs of the studies that report accuracy instead of the
            mode's (the sweeps of Figures 4 and 5 keep theirs).
        head_epochs (int, optional): Head warm-up epochs instead of the mode's.
        **base: :class:`~leading.config.Config` values for every point (``dataset``, ``lm``,
            ``device``, ``threads``, ...).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {tuple(MODES)}, got {mode!r}")
    studies = list(STUDIES if studies is None else studies)
    unknown = [s for s in studies if s not in STUDIES]
    if unknown:
        raise ValueError(f"unknown studies {unknown}; expected some of {STUDIES}")
    m = dict(MODES[mode])
    given = {"max_length": max_length, "epochs": epochs, "head_epochs": head_epochs}
    m.update({k: v for k, v in given.items() if v is not None})
    common = {**COMMON, "max_length": m["max_length"], "head_epochs": m["head_epochs"], **base}

    def point(study: str, label: str, setting: dict, num_epochs: int, **values: Any) -> Point:
        cfg = {**common, "epochs": num_epochs, "patience": max(1, num_epochs), **values}
        cfg = Config(**cfg).to_dict()  # validated, every field
        skip = _glem_missing() if cfg["method"] == "glem" else None
        return Point(study, label, setting, cfg, skip)

    e, sweep = m["epochs"], m["sweep_epochs"]
    # LEADING as `leading run --method leading` runs it, with the paper's pipeline settings
    leading_full: dict[str, Any] = {"method": "leading"}
    leading_sub = {"method": "leading", "scope": "subgraph"}
    points: list[Point] = []
    for study in studies:
        if study in ("table5", "fig3"):
            s = {"batch_size": 32, "fanouts": [10, 5]}
            points += [
                point(study, "coupled", s, e, method="coupled"),
                point(study, "gas", s, e, method="gas"),
                point(study, "leading", s, e, **leading_full),
            ]
        elif study == "table6":
            ablation = {"scope": "subgraph", "fanouts": [5, 5], "method": "leading"}
            for L in m["ablation_steps"]:
                s = {"prop_steps": L, "batch_size": 32}
                # without neighbor decoupling every sampled node is encoded with gradient and no
                # memory is read: pipeline 2 is off and validation re-encodes (as "coupled")
                points.append(point(
                    study, "lm+appnp", s, e, **ablation, head="appnp", prop_steps=L,
                    grad_hops=-1, refresh_batch_size=0, eval_reencode=True,
                ))
                points.append(point(
                    study, "lm+appnp+nd", s, e, **ablation, head="appnp", prop_steps=L
                ))
            for bs in m["ablation_batch_sizes"]:
                s = {"prop_steps": 2, "batch_size": bs}
                points.append(point(
                    study, "lm+nd+im", s, e, **ablation, head="implicit", prop_steps=2,
                    batch_size=bs,
                ))
        elif study == "fig4_5_batch_size":
            for bs in m["batch_sizes"]:
                s = {"batch_size": bs, "hops": 2}
                for label, values in _sweep_methods(leading_sub):
                    points.append(point(study, label, s, sweep, **values, batch_size=bs))
        elif study == "fig4_5_hops":
            for hops in m["hops"]:
                s = {"batch_size": 32, "hops": hops}
                fanouts = [10] + [5] * (hops - 1)
                for label, values in _sweep_methods(leading_sub):
                    points.append(point(study, label, s, sweep, **values, fanouts=fanouts))
        elif study == "table4":
            points += [
                point(study, "supervised", {}, e, method="supervised"),
                point(study, "glem", {}, e, method="glem"),
                point(study, "leading", {}, e, **leading_full),
            ]
        elif study == "refresh":
            for frac in m["refresh_fractions"]:
                s = {"refresh_fraction": frac}
                points.append(point(study, "leading", s, e, **leading_full, refresh_fraction=frac))
    return points


def _sweep_methods(leading_sub: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("coupled", {"method": "coupled"}),
        ("gas", {"method": "gas"}),
        ("supervised", {"method": "supervised", "scope": "full"}),
        ("leading", leading_sub),
    ]
