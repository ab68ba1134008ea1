r"""Synthetic text-attributed graphs of any size: power-law degrees, homophilous edges and texts
drawn from class-conditioned vocabularies, so that both the text and the structure carry signal.

Two entry points build the same graph for the same arguments:

* :func:`synthetic_graph` builds it in memory (``load_dataset("synth:...")`` and
  ``--dataset synth:...`` call it);
* :func:`write_synthetic` streams it to a directory in the documented format
  (``nodes.jsonl[.gz]``, ``edges.csv[.gz]``, ``classes.json``, plus ``synth.json`` with the
  parameters), chunk by chunk, so that 10M nodes fit (``leading data synth``).

**Specification string** (``--dataset``)::

    synth:N[,key=value,...]

``N`` is the number of nodes (``2000``, ``100_000``, ``100k``, ``1M``); keys are ``classes``,
``degree`` (average undirected degree), ``homophily``, ``seed``, ``signal``, ``power_law``,
``max_degree``, ``class_skew``, ``min_words``, ``max_words``, ``class_words``, ``common_words``
(or the keyword names of :func:`synthetic_graph`). Example: ``synth:1M,classes=40,degree=12``.
The graph has no canonical split: use ``--split per_class`` or ``60/20/20``.

**Model.** Every quantity is a pure function of ``(seed, node, slot)`` through a counter-based
hash (SplitMix64), so the output does not depend on the chunk size, and chunks are generated
independently with vectorised numpy (no Python loop per node).

* *Classes*: node :math:`i` gets class :math:`c` with probability
  :math:`\propto (c+1)^{-\text{class\_skew}}` (0: balanced; 0.5, the default, a mild skew).
* *Degrees*: each node draws an out-degree :math:`k_i = \min(\lfloor s\,U^{-1/(\gamma-1)}
  \rfloor, k_{\max})` (a discrete Pareto law of exponent :math:`\gamma` = ``power_law``, capped
  at ``max_degree``, default :math:`\sqrt{N\,D}`), with the scale :math:`s` solved so that the
  mean out-degree is :math:`D/2`; the undirected average degree is then :math:`D` (a little less
  after self-loops and duplicate pairs are dropped).
* *Edges*: each of the :math:`k_i` edges of node :math:`i` picks its other endpoint among the
  nodes of :math:`i`'s class with probability :math:`H` (``homophily``), else among the nodes of
  the other classes, in both cases with probability proportional to :math:`k_j + 1`
  (preferential attachment, Chung--Lu style), so hubs have high in- and out-degree and the
  fraction of intra-class edges is :math:`\approx H`.
* *Texts*: a vocabulary of pronounceable pseudo-words (syllables, so real tokenizers split them
  into known pieces): ``common_words`` shared words and ``class_words`` words per class. Node
  :math:`i` has between ``min_words`` and ``max_words`` words; its signal strength
  :math:`\sigma_i` is uniform on :math:`[0, 2\,\text{signal}]` (capped at 1), and each word is,
  with probability :math:`\sigma_i`, a word of its class's vocabulary (Zipfian), else a word of
  the shared distribution (Zipfian over all words, common words first, so other classes' words
  appear as noise). Some nodes are thus nearly uninformative and need their neighbours: a
  bag-of-words classifier beats chance clearly but not perfectly (TF-IDF and logistic regression
  on 2,000 nodes, 5 classes, the defaults: about 73% with 1,000 training texts, 69% with 20 per
  class, against 30% for the majority class).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from leading.data.graph import TextAttributedGraph
from leading.errors import DataError

__all__ = [
    "SynthSpec",
    "parse_synth_spec",
    "synthetic_graph",
    "load_synthetic",
    "write_synthetic",
    "register_cli",
    "synth_main",
    "SPEC_FORM",
]

#: The expected form of a specification, quoted in error messages.
SPEC_FORM = (
    "synth:N[,key=value,...] with N like 2000, 100k or 1M and keys "
    "classes, degree, homophily, seed, signal, power_law, max_degree, class_skew, min_words, "
    "max_words, class_words, common_words (e.g. synth:100k,classes=10,degree=10,homophily=0.8)"
)

# ------------------------------------------------------------------------ counter-based hashing
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_SLOT_BITS = 24  # a node's slots (words, edges) are numbered below 2**24
_STREAMS = {"node": 1, "word": 2, "edge_same": 3, "edge_pick": 4, "vocab": 5, "rank": 6}
# slots of the "node" stream: 0 label, 1 out-degree, 2 text length, 3 text signal


def _mix_int(z: int) -> int:
    r"""SplitMix64's finaliser on a Python int."""
    z &= _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _mix(z: np.ndarray) -> np.ndarray:
    r"""SplitMix64's finaliser, in place on a uint64 array (wrapping arithmetic)."""
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def _stream_key(seed: int, stream: str) -> int:
    return _mix_int(_mix_int(seed * _GOLDEN + 0x632BE59BD9B4E019) + _STREAMS[stream])


def _hash(key: int, node: np.ndarray, slot: np.ndarray | int) -> np.ndarray:
    r"""64 random bits per ``(node, slot)``: ``mix(counter * golden + key)``."""
    z = node.astype(np.uint64) << np.uint64(_SLOT_BITS)
    z |= np.asarray(slot).astype(np.uint64)
    z *= np.uint64(_GOLDEN)
    z += np.uint64(key)
    return _mix(z)


def _uniform(key: int, node: np.ndarray, slot: np.ndarray | int) -> np.ndarray:
    r"""A uniform float64 in :math:`[0, 1)` (53 bits) per ``(node, slot)``."""
    return (_hash(key, node, slot) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _below(u: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    r"""``floor(u * n)`` as int64, clipped to ``n - 1`` against rounding."""
    n = np.asarray(n, dtype=np.int64)
    return np.minimum((u * n).astype(np.int64), np.maximum(n - 1, 0))


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
            1 <= self.min_words <= self.max_words < 1 << _SLOT_BITS,
            f"need 1 <= min_words <= max_words, got {self.min_words} and {self.max_words}",
        )
        check(self.class_words >= 1, f"class_words must be >= 1, got {self.class_words}")
        check(self.common_words >= 1, f"common_words must be >= 1, got {self.common_words}")
        vocab = self.common_words + self.class_words * self.num_classes
        check(vocab <= 1 << 22, f"the vocabulary ({vocab} words) must be at most 2**22 words")
        cap = self.degree_cap
        check(
            1 <= cap < 1 << _SLOT_BITS or self.avg_degree == 0,
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


def _parse_count(text: str) -> int:
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
        kwargs: dict = {"num_nodes": _parse_count(head)}
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
                kwargs[name] = _parse_count(value)
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


# ------------------------------------------------------------------------------ the vocabulary
_ONSETS = [""] + "b c d f g h j k l m n p r s t v w z br ch cl dr fl gr pl pr sh st th tr".split()
_VOWELS = "a e i o u ai ea ou io".split()
_CODAS = ["", "", ""] + "n r s l m t nd st".split()


def _vocabulary(spec: SynthSpec) -> list[str]:
    r"""``common_words`` words of 1-2 syllables, then ``class_words`` words of 2-3 syllables per
    class, all distinct, drawn (like everything else) from the seed's hash stream."""
    key = _stream_key(spec.seed, "vocab")
    seen: set[str] = set()
    words: list[str] = []
    drawn = 0  # candidates drawn so far: candidate j uses the hashes of (j, 0..9)

    def draw(count: int, syllables: tuple[int, int]) -> None:
        nonlocal drawn
        target = len(words) + count
        while len(words) < target:
            cand = np.arange(drawn, drawn + 2 * (target - len(words)) + 16, dtype=np.int64)
            drawn += cand.size

            def parts(slot: int, choices: int, cand: np.ndarray = cand) -> list[int]:
                return (_hash(key, cand, slot) % np.uint64(choices)).tolist()

            n_syl = [syllables[0] + k for k in parts(0, syllables[1] - syllables[0] + 1)]
            syl = [
                (parts(1 + j, len(_ONSETS)), parts(4 + j, len(_VOWELS)), parts(7 + j, len(_CODAS)))
                for j in range(3)
            ]
            for b in range(cand.size):  # a loop over the vocabulary, not the nodes
                w = "".join(
                    _ONSETS[o[b]] + _VOWELS[v[b]] + _CODAS[c[b]] for o, v, c in syl[: n_syl[b]]
                )
                if len(w) >= 3 and w not in seen:
                    seen.add(w)
                    words.append(w)
                    if len(words) == target:
                        break

    draw(spec.common_words, (1, 2))
    draw(spec.class_words * spec.num_classes, (2, 3))
    return words


def _zipf(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64)
    return w / w.sum()


def _pick(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, u, side="right"), cdf.size - 1)


def _alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Walker's alias table (Vose's construction) of a distribution: ``(threshold, alias)``,
    thresholds in units of :math:`2^{-16}`."""
    n = p.size
    scaled = (p / p.sum() * n).tolist()
    alias = list(range(n))
    small = [i for i, q in enumerate(scaled) if q < 1.0]
    large = [i for i, q in enumerate(scaled) if q >= 1.0]
    while small and large:  # a loop over the vocabulary, not the nodes
        s, g = small.pop(), large.pop()
        alias[s] = g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    for i in small + large:
        scaled[i] = 1.0
    thr = np.clip(np.round(np.array(scaled) * 65536.0), 0, 65536).astype(np.uint64)
    return thr, np.array(alias, dtype=np.int64)


def _alias_pick(table: tuple[np.ndarray, np.ndarray], bits: np.ndarray) -> np.ndarray:
    r"""Samples from an alias table with 48 random bits: 32 choose the column, 16 accept it."""
    thr, alias = table
    col = (((bits >> np.uint64(16)) & np.uint64(0xFFFFFFFF)) * np.uint64(thr.size)) >> np.uint64(32)
    col = col.astype(np.int64)
    return np.where((bits & np.uint64(0xFFFF)) < thr[col], col, alias[col])


def _degree_cdf(mean: float, gamma: float, cap: int) -> np.ndarray:
    r"""CDF over ``0..cap`` of :math:`\min(\lfloor s U^{-1/(\gamma-1)}\rfloor, cap)`, with
    :math:`s` solved (bisection) for the given mean."""
    if mean <= 0:
        return np.ones(cap + 1)
    a = gamma - 1.0
    K = np.arange(1, cap + 1, dtype=np.float64)

    def tail(s: float) -> np.ndarray:  # P(k >= K), K = 1..cap
        return np.minimum(1.0, (s / K) ** a)

    lo, hi = 0.0, 1.0
    while tail(hi).sum() < mean:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if tail(mid).sum() < mean else (lo, mid)
    t = tail(hi)
    cdf = np.empty(cap + 1)
    cdf[0] = 1.0 - t[0]
    cdf[1:] = 1.0 - np.append(t[1:], 0.0)
    return cdf


# ------------------------------------------------------------------------------- the generator
class _Synth:
    r"""Holds the per-node arrays (labels, out-degrees, the class-sorted weights: about 25 bytes a
    node) and generates any chunk of texts and edges from them."""

    def __init__(self, spec: SynthSpec, chunk_size: int = 1 << 16):
        self.spec = spec
        self.chunk_size = int(chunk_size)
        if self.chunk_size < 1:
            raise DataError(f"chunk_size must be >= 1, got {chunk_size}")
        s, n, C = spec, spec.num_nodes, spec.num_classes
        self.keys = {k: _stream_key(s.seed, k) for k in _STREAMS}

        words = _vocabulary(s)
        width = max(len(w) for w in words) + 1
        self.table = np.zeros((len(words), width), dtype=np.uint8)
        for i, w in enumerate(words):  # the vocabulary, not the nodes
            self.table[i, : len(w) + 1] = np.frombuffer(w.encode("ascii") + b" ", dtype=np.uint8)
        self.word_len = np.array([len(w) for w in words], dtype=np.int64)
        self.class_alias = _alias_table(_zipf(s.class_words))
        num_class_words = s.class_words * C
        perm = np.argsort(_hash(self.keys["rank"], np.arange(num_class_words), 0), kind="stable")
        self.shared_word = np.concatenate([np.arange(s.common_words), s.common_words + perm])
        self.shared_alias = _alias_table(_zipf(self.shared_word.size))

        p = (np.arange(1, C + 1, dtype=np.float64)) ** -s.class_skew
        self.label_cdf = np.cumsum(p / p.sum())
        self.deg_cdf = _degree_cdf(s.avg_degree / 2, s.power_law, s.degree_cap)

        idx_dtype = np.int32 if n < 1 << 31 else np.int64
        self.labels = np.empty(n, dtype=np.int32)
        self.degrees = np.empty(n, dtype=np.int32)
        for a in range(0, n, self.chunk_size):
            b = min(n, a + self.chunk_size)
            nodes = np.arange(a, b, dtype=np.int64)
            self.labels[a:b] = _pick(self.label_cdf, _uniform(self.keys["node"], nodes, 0))
            self.degrees[a:b] = _pick(self.deg_cdf, _uniform(self.keys["node"], nodes, 1))
        self.order = np.argsort(self.labels, kind="stable").astype(idx_dtype)
        self.cum_weight = np.cumsum(self.degrees[self.order].astype(np.int64) + 1)
        counts = np.bincount(self.labels, minlength=C)
        ends = np.cumsum(counts)
        cw = np.concatenate([[0], self.cum_weight])
        self.class_lo = cw[ends - counts]
        self.class_hi = cw[ends]
        self.total_weight = int(cw[-1])

    @property
    def class_names(self) -> list[str]:
        return [f"class_{c}" for c in range(self.spec.num_classes)]

    def chunks(self) -> Iterator[tuple[int, int]]:
        n = self.spec.num_nodes
        for a in range(0, n, self.chunk_size):
            yield a, min(n, a + self.chunk_size)

    def texts(self, a: int, b: int) -> list[str]:
        r"""The texts of nodes ``a..b-1``."""
        s = self.spec
        nodes = np.arange(a, b, dtype=np.int64)
        key = self.keys["node"]
        span = s.max_words - s.min_words + 1
        length = s.min_words + _below(_uniform(key, nodes, 2), span)
        sigma = np.minimum(1.0, 2.0 * s.signal * _uniform(key, nodes, 3))
        sigma = (sigma * 65536.0).astype(np.uint64)  # in units of 2**-16
        total = int(length.sum())
        ends = np.cumsum(length)
        owner = np.repeat(np.arange(b - a, dtype=np.int32), length)
        counter = np.arange(total, dtype=np.uint64)  # (node << 24) | slot, as in _hash
        counter += np.repeat(
            (nodes.astype(np.uint64) << np.uint64(_SLOT_BITS)) - (ends - length).astype(np.uint64),
            length,
        )
        counter *= np.uint64(_GOLDEN)
        counter += np.uint64(self.keys["word"])
        h = _mix(counter)  # 16 bits: own class or not; 48 bits: which word
        own = (h >> np.uint64(48)) < sigma[owner]
        tok = self.shared_word[_alias_pick(self.shared_alias, h)]
        cls = self.labels[a:b][owner[own]].astype(np.int64)
        tok[own] = s.common_words + cls * s.class_words + _alias_pick(self.class_alias, h[own])
        rows = self.table[tok]  # [words, width], each word followed by a space and 0 padding
        last = ends - 1
        rows[last, self.word_len[tok[last]]] = ord("\n")
        return rows[rows != 0].tobytes().decode("ascii").split("\n")[:-1]

    def edges(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        r"""The edges drawn by nodes ``a..b-1`` (sources in that range), self-loops dropped."""
        k = self.degrees[a:b].astype(np.int64)
        total = int(k.sum())
        src = np.repeat(np.arange(a, b, dtype=np.int64), k)
        slot = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)
        same = _uniform(self.keys["edge_same"], src, slot) < self.spec.homophily
        u = _uniform(self.keys["edge_pick"], src, slot)
        c = self.labels[src]
        lo, hi = self.class_lo[c], self.class_hi[c]
        other = self.total_weight - (hi - lo)
        same |= other == 0
        r = np.where(same, lo + _below(u, hi - lo), 0)
        r_other = _below(u, np.maximum(other, 1))
        r_other += (r_other >= lo) * (hi - lo)  # skip the own class's weight range
        r = np.where(same, r, r_other)
        dst = self.order[np.searchsorted(self.cum_weight, r, side="right")].astype(np.int64)
        keep = dst != src
        return src[keep], dst[keep]


def _progress(total: int, desc: str, enabled: bool | None):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="node",
        unit_scale=True,
        disable=None if enabled is None else not enabled,
        leave=False if enabled is None else True,
        dynamic_ncols=True,
    )


def _spec_of(num_nodes: int | SynthSpec, kwargs: dict) -> SynthSpec:
    if isinstance(num_nodes, SynthSpec):
        if kwargs:
            return dataclasses.replace(num_nodes, **kwargs)
        return num_nodes
    return SynthSpec(num_nodes=num_nodes, **kwargs)


def synthetic_graph(
    num_nodes: int | SynthSpec,
    num_classes: int = 10,
    avg_degree: float = 10.0,
    homophily: float = 0.8,
    seed: int = 0,
    *,
    name: str | None = None,
    chunk_size: int = 1 << 16,
    progress: bool | None = None,
    **settings,
) -> TextAttributedGraph:
    r"""Builds a synthetic text-attributed graph in memory (see the module docstring).

    Args:
        num_nodes (int or SynthSpec): Number of nodes, or a full :class:`SynthSpec`.
        num_classes, avg_degree, homophily, seed: See :class:`SynthSpec`.
        name (str, optional): Graph name; defaults to the specification string.
        chunk_size (int): Nodes generated at a time (does not change the result).
        progress (bool, optional): Show a progress bar (default: when on a terminal).
        **settings: Other :class:`SynthSpec` fields (``signal``, ``power_law``, ...).

    Returns:
        TextAttributedGraph: labelled, without splits (use ``per_class`` or ``60/20/20``).
    """
    if isinstance(num_nodes, SynthSpec):
        spec = _spec_of(num_nodes, settings)
    else:
        spec = SynthSpec(num_nodes, num_classes, avg_degree, homophily, seed, **settings)
    gen = _Synth(spec, chunk_size)
    texts: list[str] = []
    srcs, dsts = [], []
    with _progress(spec.num_nodes, "synth", progress) as bar:
        for a, b in gen.chunks():
            texts.extend(gen.texts(a, b))
            s, d = gen.edges(a, b)
            srcs.append(s)
            dsts.append(d)
            bar.update(b - a)
    edge_index = torch.from_numpy(np.stack([np.concatenate(srcs), np.concatenate(dsts)]))
    return TextAttributedGraph(
        texts,
        edge_index,
        torch.from_numpy(gen.labels.astype(np.int64)),
        gen.class_names,
        name=name or spec.to_spec(),
    )


def load_synthetic(spec: str, progress: bool | None = None) -> TextAttributedGraph:
    r"""Builds the graph of a ``synth:N[,key=value,...]`` specification (see
    :func:`parse_synth_spec`); ``load_dataset`` routes ``synth:`` names here."""
    return synthetic_graph(parse_synth_spec(spec), name=str(spec).strip(), progress=progress)


# ------------------------------------------------------------------------------- the writer
def _digits(x: np.ndarray, width: int) -> np.ndarray:
    r"""ASCII digits of non-negative ints as a ``[n, width]`` uint8 matrix, leading zeros as 0
    bytes (dropped when the matrix is flattened without zeros)."""
    out = np.zeros((x.size, width), dtype=np.uint8)
    for j in range(width):
        p = 10 ** (width - 1 - j)
        d = (x // p) % 10
        out[:, j] = np.where((x >= p) | (p == 1), d + 48, 0)
    return out


def _edge_rows(src: np.ndarray, dst: np.ndarray, width: int) -> bytes:
    mat = np.zeros((src.size, 2 * width + 2), dtype=np.uint8)
    mat[:, :width] = _digits(src, width)
    mat[:, width] = ord(",")
    mat[:, width + 1 : 2 * width + 1] = _digits(dst, width)
    mat[:, -1] = ord("\n")
    return mat[mat != 0].tobytes()


def write_synthetic(
    out_dir: str | Path,
    num_nodes: int | SynthSpec,
    num_classes: int = 10,
    avg_degree: float = 10.0,
    homophily: float = 0.8,
    seed: int = 0,
    *,
    compress: bool = False,
    overwrite: bool = False,
    chunk_size: int = 1 << 16,
    progress: bool | None = True,
    **settings,
) -> Path:
    r"""Streams a synthetic graph to :obj:`out_dir` in the documented directory format.

    Writes ``nodes.jsonl`` (``{"node_id", "label", "text"}`` per line), ``edges.csv`` (header
    ``src,dst``; each drawn edge once, in the direction it was drawn, without self-loops; a pair
    drawn from both ends appears twice, which readers deduplicate), ``classes.json`` and
    ``synth.json`` (the parameters and counts). Memory is about 25 bytes a node plus one chunk;
    files are written under ``.part`` names and renamed at the end. ``read_directory`` of the
    result equals :func:`synthetic_graph` of the same arguments (up to the graph name).

    Args:
        out_dir (str or Path): Output directory (created if missing).
        num_nodes, num_classes, avg_degree, homophily, seed, **settings: As
            :func:`synthetic_graph`.
        compress (bool): Gzip the node and edge files (``.gz``, compression level 1).
        overwrite (bool): Replace an existing dataset in :obj:`out_dir`.
        chunk_size (int): Nodes per chunk (does not change the output).
        progress (bool, optional): Show a progress bar (rate, ETA).
    """
    if isinstance(num_nodes, SynthSpec):
        spec = _spec_of(num_nodes, settings)
    else:
        spec = SynthSpec(num_nodes, num_classes, avg_degree, homophily, seed, **settings)
    out = Path(out_dir)
    names = [
        "nodes.jsonl",
        "nodes.jsonl.gz",
        "edges.csv",
        "edges.csv.gz",
        "classes.json",
        "splits.json",
        "synth.json",
    ]
    existing = [n for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise DataError(
            f"{out}: already holds a dataset ({', '.join(existing)}); pass "
            "overwrite=True (--force) to replace it"
        )
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    gen = _Synth(spec, chunk_size)
    suffix = ".gz" if compress else ""
    final = {k: out / f"{k}{suffix}" for k in ("nodes.jsonl", "edges.csv")}
    part = {k: p.with_name(p.name + ".part") for k, p in final.items()}

    def open_out(path: Path):
        return gzip.open(path, "wb", compresslevel=1) if compress else open(path, "wb")

    width = len(str(max(spec.num_nodes - 1, 0)))
    num_rows = 0
    try:
        with (
            open_out(part["nodes.jsonl"]) as fn,
            open_out(part["edges.csv"]) as fe,
            _progress(spec.num_nodes, f"synth {out.name}", progress) as bar,
        ):
            fe.write(b"src,dst\n")
            for a, b in gen.chunks():
                texts = gen.texts(a, b)
                labels = gen.labels[a:b].tolist()
                fn.write(
                    "".join(
                        [  # texts are [a-z ] only: no JSON escaping needed
                            f'{{"node_id": {i}, "label": {c}, "text": "{t}"}}\n'
                            for i, c, t in zip(range(a, b), labels, texts, strict=True)
                        ]
                    ).encode("ascii")
                )
                src, dst = gen.edges(a, b)
                fe.write(_edge_rows(src, dst, width))
                num_rows += src.size
                bar.update(b - a)
    except BaseException:
        for p in part.values():
            p.unlink(missing_ok=True)
        raise
    for n in existing:
        (out / n).unlink()
    for k in final:
        os.replace(part[k], final[k])
    (out / "classes.json").write_text(json.dumps(gen.class_names) + "\n", encoding="utf-8")
    meta = {
        "spec": spec.to_spec(),
        **dataclasses.asdict(spec),
        "degree_cap": spec.degree_cap,
        "edge_rows": num_rows,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "synth.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return out


# ----------------------------------------------------------------------------------- the CLI
def register_cli(data_subparsers) -> argparse.ArgumentParser:
    r"""Adds ``synth`` to the subparsers of ``leading data``."""
    d = argparse.Namespace(**{f.name: f.default for f in dataclasses.fields(SynthSpec)})
    p = data_subparsers.add_parser(
        "synth",
        help="write a synthetic text-attributed graph (power-law, homophilous, class-worded)",
        description="Streams a synthetic text-attributed graph to --out in the directory format "
        "(nodes.jsonl, edges.csv, classes.json); the same arguments always give the same graph, "
        "equal to --dataset synth:N,classes=C,degree=D,homophily=H,seed=S.",
    )
    p.add_argument("--nodes", type=_count_arg, required=True, help="number of nodes (1M, 100k)")
    p.add_argument("--classes", type=int, default=d.num_classes, help="number of classes")
    p.add_argument(
        "--avg-degree", type=float, default=d.avg_degree, help="average undirected degree"
    )
    p.add_argument(
        "--homophily", type=float, default=d.homophily, help="fraction of intra-class edges"
    )
    p.add_argument("--seed", type=int, default=d.seed, help="seed")
    p.add_argument(
        "--signal",
        type=float,
        default=d.signal,
        help="mean fraction of a text's words drawn from its class's vocabulary",
    )
    p.add_argument(
        "--power-law", type=float, default=d.power_law, help="exponent of the out-degree law (> 1)"
    )
    p.add_argument(
        "--max-degree",
        type=int,
        default=None,
        help="out-degree cap (default sqrt(nodes * avg-degree))",
    )
    p.add_argument(
        "--class-skew",
        type=float,
        default=d.class_skew,
        help="class c has probability proportional to (c+1)^-skew (0: balanced)",
    )
    p.add_argument("--min-words", type=int, default=d.min_words, help="shortest text, in words")
    p.add_argument("--max-words", type=int, default=d.max_words, help="longest text, in words")
    p.add_argument(
        "--class-words", type=int, default=d.class_words, help="vocabulary size of each class"
    )
    p.add_argument(
        "--common-words", type=int, default=d.common_words, help="size of the shared vocabulary"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--gzip", action="store_true", help="write nodes.jsonl.gz and edges.csv.gz")
    p.add_argument("--force", action="store_true", help="replace a dataset already in --out")
    p.add_argument(
        "--chunk-size", type=int, default=1 << 16, help="nodes per chunk (memory, not output)"
    )
    p.add_argument("--quiet", action="store_true", help="hide the progress bar")
    p.set_defaults(func=synth_main)
    return p


def _count_arg(text: str) -> int:
    try:
        return _parse_count(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number like 2000, 100k or 1M, got {text!r}"
        ) from None


def synth_main(args: argparse.Namespace) -> None:
    r"""``leading data synth``: writes the graph and prints a summary line."""
    spec = SynthSpec(
        num_nodes=args.nodes,
        num_classes=args.classes,
        avg_degree=args.avg_degree,
        homophily=args.homophily,
        seed=args.seed,
        signal=args.signal,
        power_law=args.power_law,
        max_degree=args.max_degree,
        class_skew=args.class_skew,
        min_words=args.min_words,
        max_words=args.max_words,
        class_words=args.class_words,
        common_words=args.common_words,
    )
    t0 = time.perf_counter()
    out = write_synthetic(
        args.out,
        spec,
        compress=args.gzip,
        overwrite=args.force,
        chunk_size=args.chunk_size,
        progress=not args.quiet,
    )
    meta = json.loads((out / "synth.json").read_text(encoding="utf-8"))
    print(
        f"wrote {out}: {spec.num_nodes} nodes, {meta['edge_rows']} edge rows, "
        f"{spec.num_classes} classes ({spec.to_spec()}, {time.perf_counter() - t0:.1f} s)"
    )
