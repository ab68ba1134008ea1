r"""One typed configuration for every command.

A :class:`Config` is built from defaults, then a YAML file (``--config run.yaml``), then
command-line flags; every field is a flag (``max_length`` is ``--max-length``). The resolved
configuration is saved beside each run's outputs as ``config.yaml``, and loading that file
reproduces the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from leading.errors import ConfigError

__all__ = ["Config", "add_config_arguments", "config_from_args"]

METHODS = ("leading", "pretrained", "shallow", "supervised", "glem", "coupled", "gas")
TASKS = ("node", "link")
#: The methods of ``--task link`` (see :mod:`leading.run_link`).
LINK_METHODS = ("leading", "pretrained", "shallow", "supervised")


@dataclass
class Config:
    r"""Every setting of a run. Groups: data, language model, training, graph head, refresh
    (pipeline 2), propagation, evaluation, output."""

    # data
    dataset: str = "cora"  # built-in name or a directory in the documented format
    data_dir: str | None = None  # where downloaded datasets live ($LEADING_DATA_DIR)
    split: str = "per_class"  # per_class | per_class:K:V:T | 60/20/20 | canonical
    seeds: int = 3  # number of seeds; seed s uses its own split and its own fine-tuning
    seed: int = 0  # first seed
    task: str = "node"  # node (classification) | link (prediction)
    # link prediction (--task link; methods leading, pretrained, shallow, supervised; see
    # leading.run_link): auto (canonical if the dataset has one, else low) | low (10/30/60
    # train/valid/test edges) | high (85/5/10) | A/B/C percentages | canonical (e.g. OGB's)
    link_split: str = "auto"
    link_decoder: str = "dot"  # dot | mlp (MLP on the Hadamard product of the two embeddings)
    link_dim: int = 64  # output embedding size of the LEADING link head
    link_negatives: int = 1  # training negatives (corrupted destinations) per positive edge
    link_eval_negatives: int = 100  # fixed negatives ranked against each valid/test positive
    link_edges_per_epoch: int | None = 512  # training edges per LM epoch (None: all of them)
    hits_k: list[int] = field(default_factory=lambda: [10])  # Hits@K reported for each K
    # language model
    # leading | pretrained | shallow (TF-IDF/BoW, no LM) | supervised (LM + MLP head, no graph)
    # | glem (variational EM) | coupled (every sampled node with gradient) | gas (1 hop with
    # gradient, deeper hops from memory); see leading.train.methods
    method: str = "leading"
    lm: str = "minilm"  # alias, local path or hub name
    pooling: str | None = None  # cls | mean | last (default: mean, last for decoder-only)
    max_length: int = 128
    bf16: bool = True  # bfloat16 autocast for the LM
    lm_dropout: bool = False  # keep the LM's dropout on while fine-tuning (pipeline 1)
    lora_r: int = 0  # LoRA rank; 0 = full fine-tuning (see leading.text.lora)
    lora_alpha: float = 16.0  # LoRA scaling numerator (updates scaled by alpha / r)
    lora_dropout: float = 0.0
    lora_target_modules: list[str] | None = None  # default: per architecture
    # training
    # LM fine-tuning epochs after the head warm-up; None: 1 for LEADING on node classification
    # (every node a pseudo-labelled target, so one epoch visits the whole graph), 2 otherwise.
    # Read it through Config.lm_epochs.
    epochs: int | None = None
    head_epochs: int = 100  # epochs training the head on the frozen memory before LM updates
    batch_size: int = 32  # pipeline 1: target nodes encoded with gradient per step
    lr_lm: float = 2e-5
    lr_head: float = 1e-2  # head warm-up (LM frozen)
    lr_head_finetune: float = 1e-3  # head while the LM is fine-tuned
    weight_decay: float = 0.0
    head_weight_decay: float = 5e-4
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    grad_accum: int = 1
    pseudo_labels: float = 1.0  # fraction of unlabeled nodes added as pseudo-labelled targets
    # renew the pseudo-labels (from the current head over the refreshed memory) before every LM
    # epoch after the first, instead of keeping the warmed-up head's
    pseudo_relabel: bool = False
    # GLEM (--method glem; see leading.train.glem): after pre-training the LM and the GNN on the
    # training labels, glem_rounds EM rounds of an LM step (glem_lm_epochs epochs, training labels
    # + the GNN's pseudo-labels) and a GNN step (glem_gnn on the LM's embeddings, training labels
    # + the LM's pseudo-labels); each step pseudo-labels this fraction of the non-training nodes,
    # the most confident first
    glem_rounds: int = 1
    glem_pseudo_ratio: float = 0.2
    glem_lm_epochs: int = 1
    glem_gnn: str = "gcn"
    select_pretrained: bool = False  # let epoch 0 (the un-tuned LM) win model selection
    refit_head: bool = True  # refit the head on the final embeddings (its reported accuracy)
    patience: int = 3  # early stopping on validation accuracy (epochs without improvement)
    # graph head
    head: str = "implicit"  # implicit | appnp | gcn | sage (mlp: method supervised)
    hidden: int = 256
    dropout: float = 0.5
    fanouts: list[int] = field(default_factory=lambda: [10, 5])
    scope: str = "full"  # propagation over the full graph, or over each sampled subgraph
    # hops of the sampled subgraph encoded with gradient: 0 = targets only (neighbor
    # decoupling), 1 = targets and 1-hop neighbors (GAS), -1 = every node (no decoupling)
    grad_hops: int = 0
    # pipeline 2 (memory refresh)
    refresh_batch_size: int | None = None  # default: batch_size (the paper's setting)
    refresh_fraction: float | None = 1.0  # re-encode this fraction of the graph per epoch
    # cyclic (every node in turn, the paper's) | influence (drawn by the personalized PageRank
    # mass from the targets: the rows the targets' predictions read most; see
    # leading.train.refresh)
    refresh_order: str = "cyclic"
    prefill: bool = True  # fill the memory with one gradient-free pass before training
    # validate on nodes re-encoded by the current LM instead of the memory (uncounted, untimed)
    eval_reencode: bool = False
    # implicit propagation
    alpha: float = 0.1
    prop_steps: int = 10
    forward_warm_start: bool = True
    # grad | zero | history | damped (see benchmarks/results/propagation)
    backward_init: str = "grad"
    damping: float = 0.5
    eval_steps: int = 50  # propagation steps at evaluation time
    # evaluation
    downstream: list[str] = field(default_factory=lambda: ["gcn", "gat"])
    # shallow features (--method shallow; see leading.text.shallow)
    shallow_kind: str = "tfidf"  # tfidf | bow (binary word indicators)
    shallow_max_features: int = 3000  # vocabulary size (most frequent words)
    # output and runtime
    out_dir: str = "runs/latest"
    encode_batch_size: int = 64
    device: str = "auto"  # auto (cuda when available) | cpu | cuda | cuda:1 ...
    threads: int | None = None
    progress: bool = True
    resume: bool = False
    save_model: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_types(self)
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        # "mlp" (no graph) is the head of the supervised baseline (and of GLEM's LM steps),
        # which set it themselves
        if self.head not in ("implicit", "appnp", "gcn", "sage") and not (
            self.head == "mlp" and self.method in ("supervised", "glem")
        ):
            raise ConfigError(
                "head must be implicit, appnp, gcn or sage (mlp only with method supervised or "
                f"glem), got {self.head!r}"
            )
        if self.glem_gnn.lower() not in ("gcn", "gat", "sage", "graphsage", "appnp", "mlp"):
            raise ConfigError(
                f"glem_gnn must be gcn, gat, sage, appnp or mlp, got {self.glem_gnn!r}"
            )
        if self.glem_rounds < 0:
            raise ConfigError(f"glem_rounds must be >= 0, got {self.glem_rounds}")
        if not 0 <= self.glem_pseudo_ratio <= 1:
            raise ConfigError(f"glem_pseudo_ratio must be in [0, 1], got {self.glem_pseudo_ratio}")
        if self.shallow_kind not in ("tfidf", "bow"):
            raise ConfigError(f"shallow_kind must be tfidf or bow, got {self.shallow_kind!r}")
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {self.task!r}")
        self._validate_link()
        if self.grad_hops < -1:
            raise ConfigError(f"grad_hops must be >= -1 (-1 = every hop), got {self.grad_hops}")
        if self.grad_hops != 0 and self.scope != "subgraph":
            raise ConfigError(
                "grad_hops != 0 encodes sampled neighbors with gradient and needs "
                f"scope 'subgraph', got scope {self.scope!r}"
            )
        if self.scope not in ("full", "subgraph"):
            raise ConfigError(f"scope must be full or subgraph, got {self.scope!r}")
        if self.pooling not in (None, "cls", "mean", "last"):
            raise ConfigError(f"pooling must be cls, mean, last or None, got {self.pooling!r}")
        if self.backward_init not in ("zero", "grad", "history", "damped"):
            raise ConfigError(
                f"backward_init must be zero, grad, history or damped, got {self.backward_init!r}"
            )
        for name in (
            "seeds", "batch_size", "max_length", "grad_accum", "hidden", "shallow_max_features",
            "glem_lm_epochs",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.epochs is not None and self.epochs < 0:
            raise ConfigError(f"epochs must be >= 0 or None (the default), got {self.epochs}")
        if self.lora_r < 0:
            raise ConfigError(f"lora_r must be >= 0 (0 = no LoRA), got {self.lora_r}")
        if self.lora_alpha <= 0:
            raise ConfigError(f"lora_alpha must be > 0, got {self.lora_alpha}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if not 0 < self.alpha <= 1:
            raise ConfigError(f"alpha must be in (0, 1], got {self.alpha}")
        if self.refresh_order not in ("cyclic", "influence"):
            raise ConfigError(
                f"refresh_order must be cyclic or influence, got {self.refresh_order!r}"
            )
        if self.refresh_fraction is not None and self.refresh_fraction < 0:
            raise ConfigError(f"refresh_fraction must be >= 0, got {self.refresh_fraction}")

    def _validate_link(self) -> None:
        r"""Checks the link-prediction fields (``link_split`` with
        :func:`leading.data.link_splits.parse_link_split`)."""
        from leading.data.link_splits import parse_link_split

        if self.link_split.strip().lower() != "auto":
            parse_link_split(self.link_split)
        if self.task == "link" and self.method not in LINK_METHODS:
            raise ConfigError(
                f"task link supports methods {LINK_METHODS}, got method {self.method!r}"
            )
        if self.task == "link" and self.refresh_order != "cyclic":
            raise ConfigError(
                "task link refreshes the memory in cyclic order only, got refresh_order "
                f"{self.refresh_order!r}"
            )
        if self.task == "link" and self.grad_hops != 0:
            raise ConfigError(
                "task link trains with neighbor decoupling only (grad_hops 0), got "
                f"{self.grad_hops}"
            )
        if self.link_decoder not in ("dot", "mlp"):
            raise ConfigError(f"link_decoder must be dot or mlp, got {self.link_decoder!r}")
        for name in ("link_dim", "link_negatives", "link_eval_negatives"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.link_edges_per_epoch is not None and self.link_edges_per_epoch < 1:
            raise ConfigError(
                f"link_edges_per_epoch must be >= 1 or None (all), got {self.link_edges_per_epoch}"
            )
        if not self.hits_k or any(k < 1 for k in self.hits_k):
            raise ConfigError(f"hits_k must be one or more integers >= 1, got {self.hits_k}")

    @property
    def lm_epochs(self) -> int:
        r"""The LM epochs of a run: :obj:`epochs`, or by default 1 for LEADING on node
        classification and 2 for every other method and task (chosen on validation:
        ``benchmarks/results/node_classification/sweep.json``)."""
        if self.epochs is not None:
            return self.epochs
        return 1 if (self.method, self.task) == ("leading", "node") else 2

    def torch_device(self):
        r"""The :class:`torch.device` that :obj:`device` names (``auto``: CUDA when available)."""
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            return torch.device(self.device)
        except RuntimeError as e:
            raise ConfigError(f"device: {e}") from e

    # ------------------------------------------------------------------ I/O
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> Config:
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read YAML ({e})") from e
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of keys to values")
        return cls.from_dict(values, str(path))

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    r"""Checks one value against a field type; returns it (ints and numeric strings such as
    YAML's ``1e-5``, which YAML 1.1 reads as a string, become floats for float fields)."""
    if tp is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    elif tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    elif tp is str and isinstance(value, PathLike):
        return str(value)
    if isinstance(value, tp) and not (tp is not bool and isinstance(value, bool)):
        return value
    raise ConfigError(f"{key} must be {tp.__name__}, got {value!r} ({type(value).__name__})")


def _check_types(config: Config) -> None:
    r"""Raises :class:`ConfigError` for a value of the wrong type (from YAML or Python)."""
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        tp, optional = _base_type(hints[f.name])
        if value is None:
            if not optional:
                raise ConfigError(f"{f.name} must not be None")
            continue
        if typing.get_origin(tp) is list:
            (inner,) = typing.get_args(tp)
            if not isinstance(value, list | tuple):
                raise ConfigError(f"{f.name} must be a list, got {value!r}")
            value = [_coerce(v, inner, f.name) for v in value]
        else:
            value = _coerce(value, tp, f.name)
        setattr(config, f.name, value)


def _base_type(tp: Any) -> tuple[Any, bool]:
    r"""Returns the non-None type of an annotation and whether it is optional."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def _parse_bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    r"""Adds ``--config`` and one flag per :class:`Config` field (default: not given)."""
    parser.add_argument("--config", help="YAML file with configuration keys")
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        tp, optional = _base_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if tp is bool:
            kwargs.update(type=_parse_bool, nargs="?", const=True, metavar="BOOL")
        elif typing.get_origin(tp) is list:
            (inner,) = typing.get_args(tp)
            kwargs.update(type=inner, nargs="+")
        else:
            kwargs["type"] = (
                (lambda s, t=tp: None if s.lower() == "none" else t(s)) if optional else tp
            )
        parser.add_argument(flag, help=f"(default: {default})", **kwargs)


def config_from_args(args: argparse.Namespace, **overrides: Any) -> Config:
    r"""Defaults < YAML file < command-line flags < :obj:`overrides`."""
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        values.update(Config.load(args.config).to_dict())
    names = {f.name for f in dataclasses.fields(Config)}
    values.update({k: v for k, v in vars(args).items() if k in names})
    values.update(overrides)
    return Config.from_dict(values)
