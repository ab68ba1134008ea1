r"""The parameters of a synthetic graph and the ``synth:N[,key=value,...]`` specification string."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

import numpy as np

from leading.errors import DataError

__all__ = ["SLOT_BITS", "SPEC_FORM", "SynthSpec", "parse_count", "parse_synth_spec"]

SLOT_BITS = 24  # a node's slots (words, edges) are numbered below 2**24

#: The expected form of a specification, quoted in error messages.
SPEC_FORM = (
    "synth:N[,key=value,...] with N like 2000, 100k or 1M and keys "
    "classes, degree, homophily, seed, signal, power_law, max_degree, class_skew, min_words, "
    "max_words, class_words, common_words (e.g. synth:100k,classes=10,degree=10,homophily=0.8)"
)


# ------------------------------------------------------------------------------ the parameters
_ALIASES = {
    "classes": "num_classes",
    "degree": "avg_degree",
    "nodes": "num_nodes",
}


@dataclass(frozen=True)
class SynthSpec:
    r"""Parameters of a synthetic graph (see the module docstring for the model).

    Args:
        num_nodes (int): :math:`N`.
        num_classes (int): :math:`C`.
        avg_degree (float): Average undirected degree :math:`D`.
        homophily (float): Fraction of intra-class edges :math:`H` in :math:`[0, 1]`.
        seed (int): Seed (non-negative); the same parameters always give the same graph.
        signal (float): Mean fraction of a text's words taken from its class's vocabulary.
        power_law (float): Exponent :math:`\gamma > 1` of the out-degree law.
        max_degree (int, optional): Cap on the out-degree (default :math:`\sqrt{N D}`).
        class_skew (float): Class :math:`c` has probability :math:`\propto (c+1)^{-skew}`.
        min_words, max_words (int): Range of the number of words of a text.
        class_words (int): Words in each class's vocabulary.
        common_words (int): Words shared by all classes.
    """

    num_nodes: int
    num_classes: int = 10
    avg_degree: float = 10.0
    homophily: float = 0.8
    seed: int = 0
    signal: float = 0.1
    power_law: float = 2.5
    max_degree: int | None = None
    class_skew: float = 0.5
    min_words: int = 20
    max_words: int = 60
    class_words: int = 200
    common_words: int = 2000

    def __post_init__(self) -> None:
        def check(ok: bool, what: str) -> None:
            if not ok:
                raise DataError(f"synthetic graph: {what}")

        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("avg_degree", "homophily", "signal", "power_law", "class_skew"):
                check(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
                    f"{f.name} must be a number, got {v!r}",
                )
            elif v is not None or f.name != "max_degree":
                check(
                    isinstance(v, int | np.integer) and not isinstance(v, bool),
                    f"{f.name} must be an integer, got {v!r}",
                )
        n = self.num_nodes
        check(1 <= n < 1 << 40, f"num_nodes must be in [1, 2**40), got {n}")
        check(
            1 <= self.num_classes <= 1 << 20,
            f"num_classes must be in [1, 2**20], got {self.num_classes}",
        )
        check(self.avg_degree >= 0, f"avg_degree must be >= 0, got {self.avg_degree}")
        check(0 <= self.homophily <= 1, f"homophily must be in [0, 1], got {self.homophily}")
        check(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        check(0 <= self.signal <= 1, f"signal must be in [0, 1], got {self.signal}")
        check(self.power_law > 1, f"power_law must be > 1, got {self.power_law}")
        check(self.class_skew >= 0, f"class_skew must be >= 0, got {self.class_skew}")
        check(
            1 <= self.min_words <= self.max_words < 1 << SLOT_BITS,
            f"need 1 <= min_words <= max_words, got {self.min_words} and {self.max_words}",
        )
        check(self.class_words >= 1, f"class_words must be >= 1, got {self.class_words}")
        check(self.common_words >= 1, f"common_words must be >= 1, got {self.common_words}")
        vocab = self.common_words + self.class_words * self.num_classes
        check(vocab <= 1 << 22, f"the vocabulary ({vocab} words) must be at most 2**22 words")
        cap = self.degree_cap
        check(
            1 <= cap < 1 << SLOT_BITS or self.avg_degree == 0,
            f"max_degree must be in [1, 2**24), got {cap}",
        )
        check(
            self.avg_degree == 0 or self.avg_degree / 2 < min(cap, n - 1),
            f"avg_degree {self.avg_degree} is too large for {n} nodes and an out-degree cap "
            f"of {cap} (the mean out-degree, avg_degree / 2, must be below both)",
        )

    @property
    def degree_cap(self) -> int:
        r"""The out-degree cap: :attr:`max_degree`, else :math:`\sqrt{N D}` (at most
        :math:`N - 1`, at least :math:`D`)."""
        if self.max_degree is not None:
            return int(self.max_degree)
        default = max(math.ceil(self.avg_degree), int(math.sqrt(self.num_nodes * self.avg_degree)))
        return max(1, min(self.num_nodes - 1, default))

    def to_spec(self) -> str:
        r"""The short specification string (``synth:N`` plus the non-default settings)."""
        parts = [f"synth:{self.num_nodes}"]
        short = {v: k for k, v in _ALIASES.items()}
        for f in dataclasses.fields(self)[1:]:
            v = getattr(self, f.name)
            if v != f.default:
                parts.append(
                    f"{short.get(f.name, f.name)}={v:g}"
                    if isinstance(v, float)
                    else f"{short.get(f.name, f.name)}={v}"
                )
        return ",".join(parts)


def parse_count(text: str) -> int:
    m = re.fullmatch(r"(\d[\d_]*)(\.\d+)?([kKmMgG]?)", text.strip())
    if not m:
        raise ValueError(text)
    value = float(m.group(1).replace("_", "") + (m.group(2) or ""))
    value *= {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(3).lower()]
    if value != int(value):
        raise ValueError(text)
    return int(value)


def parse_synth_spec(spec: str) -> SynthSpec:
    r"""Parses ``synth:N[,key=value,...]`` (see the module docstring) into a :class:`SynthSpec`.

    Raises:
        DataError: naming the specification and the expected form when it is malformed.
    """
    text = str(spec).strip()
    if not text.lower().startswith("synth:"):
        raise DataError(f"bad synthetic dataset {spec!r}: expected {SPEC_FORM}")
    head, *rest = text[len("synth:") :].split(",")
    try:
        kwargs: dict = {"num_nodes": parse_count(head)}
    except ValueError:
        raise DataError(
            f"bad synthetic dataset {spec!r}: the node count {head.strip()!r} is not a whole "
            f"number; expected {SPEC_FORM}"
        ) from None
    fields = {f.name: f for f in dataclasses.fields(SynthSpec)}
    for item in rest:
        key, eq, value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        name = _ALIASES.get(key, key)
        if not eq or name not in fields or name == "num_nodes":
            what = f"unknown key {key!r}" if eq else f"{item.strip()!r} is not key=value"
            raise DataError(f"bad synthetic dataset {spec!r}: {what}; expected {SPEC_FORM}")
        if name in kwargs:
            raise DataError(f"bad synthetic dataset {spec!r}: {key!r} given twice")
        try:
            if fields[name].type in ("float",):
                kwargs[name] = float(value)
            else:
                kwargs[name] = parse_count(value)
        except ValueError:
            kind = "a number" if fields[name].type == "float" else "a whole number"
            raise DataError(
                f"bad synthetic dataset {spec!r}: {key}={value.strip()!r} is not {kind}; "
                f"expected {SPEC_FORM}"
            ) from None
    try:
        return SynthSpec(**kwargs)
    except DataError as e:
        raise DataError(f"bad synthetic dataset {spec!r}: {str(e).split(': ', 1)[1]}") from None
