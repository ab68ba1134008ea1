"""How fast does the LM encode in each precision on this machine? The evidence behind
``precision: auto`` (:mod:`leading.text.precision`): bf16 autocast only where it is native.

    HF_HUB_OFFLINE=1 python benchmarks/precision/encode_speed.py --threads 2

Encodes the first 64 texts of Cora at 128 tokens with the packaged MiniLM, once per precision
(fp32, bf16, auto; the encoder built by ``TextEncoder.from_pretrained`` as every entry point
builds it), after one warm-up pass each; the passes of the precisions are interleaved, so that
a load of the machine that comes and goes is shared by all. Reports the median of the repeats,
each precision's speed relative to fp32 and how far its embeddings are from fp32's. Prints the
JSON and writes it to benchmarks/results/precision/<cpu-tag>.json (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from leading.data import load_dataset
from leading.text import TextEncoder, native_bf16, resolve_precision
from leading.text.precision import cpu_flags

RESULTS = Path(__file__).resolve().parents[1] / "results" / "precision"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_tag() -> str:
    r"""A file name for this CPU: its model and whether it runs bf16 natively."""
    slug = re.sub(r"[^a-z0-9]+", "-", cpu_model().lower()).strip("-") or "cpu"
    return f"{slug}-{'native' if native_bf16('cpu') else 'no-native'}-bf16"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cora")
    p.add_argument("--lm", default="minilm")
    p.add_argument("--texts", type=int, default=64, help="first N node texts (one batch)")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "auto"])
    p.add_argument("--out", help="JSON file (default: benchmarks/results/precision/<cpu>.json)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    texts = load_dataset(args.dataset).texts[: args.texts]
    encoders = {
        name: TextEncoder.from_pretrained(args.lm, None, args.max_length, name, args.device)
        for name in args.precisions
    }
    tokens = next(iter(encoders.values())).tokenize(texts, cache=False)
    ids = torch.arange(len(texts))

    def encode(enc: TextEncoder) -> tuple[float, torch.Tensor]:
        t0 = time.perf_counter()
        x = enc.encode_all(tokens, ids, batch_size=args.batch_size, progress=False)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, x

    times: dict[str, list[float]] = {name: [] for name in encoders}
    warmup: dict[str, float] = {}
    emb: dict[str, torch.Tensor] = {}
    for name, enc in encoders.items():  # one warm-up pass each
        warmup[name], emb[name] = encode(enc)
    for _ in range(args.repeats):
        for name, enc in encoders.items():
            times[name].append(encode(enc)[0])

    ref = emb.get("fp32")
    median = {name: statistics.median(t) for name, t in times.items()}
    results = {}
    for name, enc in encoders.items():
        row = {
            "used": enc.precision,
            "reason": enc.precision_reason,
            "times_s": [round(t, 4) for t in times[name]],
            "warmup_s": round(warmup[name], 4),
            "median_s": round(median[name], 4),
        }
        if ref is not None:
            row["time_vs_fp32"] = round(median[name] / median["fp32"], 3)
            row["max_abs_diff_vs_fp32"] = float((emb[name] - ref).abs().max())
            row["min_cosine_vs_fp32"] = float(F.cosine_similarity(emb[name], ref, dim=1).min())
        results[name] = row
    used_auto = resolve_precision("auto", args.device)
    doc = {
        "command": "HF_HUB_OFFLINE=1 python " + " ".join(
            [str(Path(sys.argv[0]).as_posix()), *sys.argv[1:]]
        ),
        "machine": {
            "cpu": cpu_model(),
            "avx512_bf16": "avx512_bf16" in cpu_flags(),
            "amx_bf16": "amx_bf16" in cpu_flags(),
            "cpu_native_bf16": native_bf16("cpu"),
            "device": args.device,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "platform": platform.platform(),
        },
        "settings": {
            "dataset": args.dataset, "lm": args.lm, "texts": len(texts),
            "max_length": args.max_length, "batch_size": args.batch_size,
            "repeats": args.repeats, "tokens": int(tokens.num_tokens(ids)),
        },
        "auto": {"used": used_auto[0], "reason": used_auto[1]},
        "results": results,
    }
    if "auto" in median and "fp32" in median:
        doc["auto_time_vs_fp32"] = round(median["auto"] / median["fp32"], 3)
    text = json.dumps(doc, indent=1)
    print(text)
    out = Path(args.out) if args.out else RESULTS / f"{cpu_tag()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
