r"""Counter-based randomness (SplitMix64) and the vectorised generator of labels, texts and
edges, chunk by chunk."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from leading.data.datasets.synthetic.spec import SLOT_BITS, SynthSpec
from leading.errors import DataError

__all__ = ["SyntheticGenerator", "uniform", "below"]

# ------------------------------------------------------------------------ counter-based hashing
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
STREAMS = {"node": 1, "word": 2, "edge_same": 3, "edge_pick": 4, "vocab": 5, "rank": 6}
# slots of the "node" stream: 0 label, 1 out-degree, 2 text length, 3 text signal


def mix_int(z: int) -> int:
    r"""SplitMix64's finaliser on a Python int."""
    z &= MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def mix(z: np.ndarray) -> np.ndarray:
    r"""SplitMix64's finaliser, in place on a uint64 array (wrapping arithmetic)."""
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def stream_key(seed: int, stream: str) -> int:
    return mix_int(mix_int(seed * GOLDEN + 0x632BE59BD9B4E019) + STREAMS[stream])


def hash(key: int, node: np.ndarray, slot: np.ndarray | int) -> np.ndarray:
    r"""64 random bits per ``(node, slot)``: ``mix(counter * golden + key)``."""
    z = node.astype(np.uint64) << np.uint64(SLOT_BITS)
    z |= np.asarray(slot).astype(np.uint64)
    z *= np.uint64(GOLDEN)
    z += np.uint64(key)
    return mix(z)


def uniform(key: int, node: np.ndarray, slot: np.ndarray | int) -> np.ndarray:
    r"""A uniform float64 in :math:`[0, 1)` (53 bits) per ``(node, slot)``."""
    return (hash(key, node, slot) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def below(u: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    r"""``floor(u * n)`` as int64, clipped to ``n - 1`` against rounding."""
    n = np.asarray(n, dtype=np.int64)
    return np.minimum((u * n).astype(np.int64), np.maximum(n - 1, 0))


# ------------------------------------------------------------------------------ the vocabulary
_ONSETS = [""] + "b c d f g h j k l m n p r s t v w z br ch cl dr fl gr pl pr sh st th tr".split()
_VOWELS = "a e i o u ai ea ou io".split()
_CODAS = ["", "", ""] + "n r s l m t nd st".split()


def _vocabulary(spec: SynthSpec) -> list[str]:
    r"""``common_words`` words of 1-2 syllables, then ``class_words`` words of 2-3 syllables per
    class, all distinct, drawn (like everything else) from the seed's hash stream."""
    key = stream_key(spec.seed, "vocab")
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
                return (hash(key, cand, slot) % np.uint64(choices)).tolist()

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
class SyntheticGenerator:
    r"""Holds the per-node arrays (labels, out-degrees, the class-sorted weights: about 25 bytes a
    node) and generates any chunk of texts and edges from them."""

    def __init__(self, spec: SynthSpec, chunk_size: int = 1 << 16):
        self.spec = spec
        self.chunk_size = int(chunk_size)
        if self.chunk_size < 1:
            raise DataError(f"chunk_size must be >= 1, got {chunk_size}")
        s, n, C = spec, spec.num_nodes, spec.num_classes
        self.keys = {k: stream_key(s.seed, k) for k in STREAMS}

        words = _vocabulary(s)
        width = max(len(w) for w in words) + 1
        self.table = np.zeros((len(words), width), dtype=np.uint8)
        for i, w in enumerate(words):  # the vocabulary, not the nodes
            self.table[i, : len(w) + 1] = np.frombuffer(w.encode("ascii") + b" ", dtype=np.uint8)
        self.word_len = np.array([len(w) for w in words], dtype=np.int64)
        self.class_alias = _alias_table(_zipf(s.class_words))
        num_class_words = s.class_words * C
        perm = np.argsort(hash(self.keys["rank"], np.arange(num_class_words), 0), kind="stable")
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
            self.labels[a:b] = _pick(self.label_cdf, uniform(self.keys["node"], nodes, 0))
            self.degrees[a:b] = _pick(self.deg_cdf, uniform(self.keys["node"], nodes, 1))
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
        length = s.min_words + below(uniform(key, nodes, 2), span)
        sigma = np.minimum(1.0, 2.0 * s.signal * uniform(key, nodes, 3))
        sigma = (sigma * 65536.0).astype(np.uint64)  # in units of 2**-16
        total = int(length.sum())
        ends = np.cumsum(length)
        owner = np.repeat(np.arange(b - a, dtype=np.int32), length)
        counter = np.arange(total, dtype=np.uint64)  # (node << 24) | slot, as in _hash
        counter += np.repeat(
            (nodes.astype(np.uint64) << np.uint64(SLOT_BITS)) - (ends - length).astype(np.uint64),
            length,
        )
        counter *= np.uint64(GOLDEN)
        counter += np.uint64(self.keys["word"])
        h = mix(counter)  # 16 bits: own class or not; 48 bits: which word
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
        same = uniform(self.keys["edge_same"], src, slot) < self.spec.homophily
        u = uniform(self.keys["edge_pick"], src, slot)
        c = self.labels[src]
        lo, hi = self.class_lo[c], self.class_hi[c]
        other = self.total_weight - (hi - lo)
        same |= other == 0
        r = np.where(same, lo + below(u, hi - lo), 0)
        r_other = below(u, np.maximum(other, 1))
        r_other += (r_other >= lo) * (hi - lo)  # skip the own class's weight range
        r = np.where(same, r, r_other)
        dst = self.order[np.searchsorted(self.cum_weight, r, side="right")].astype(np.int64)
        keep = dst != src
        return src[keep], dst[keep]
