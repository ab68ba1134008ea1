r"""The child side of a measurement: ``python -m leading.bench.worker SPEC RESULT``.

It runs one configuration in this fresh process and writes one result row (JSON) to
:obj:`RESULT`. :obj:`SPEC` is a JSON file ``{"config": {...}}`` holding every
:class:`~leading.config.Config` field. The configuration goes through the same path as
``leading run`` (:func:`leading.run.run_seed`, one seed, no downstream GNNs), so every method,
GLEM included, is measured as it is run.

What the row holds (see :mod:`leading.bench.measure` for the parent side):

* ``peak_rss_mb``: the peak resident set size of this whole process
  (:func:`resource.getrusage`, MiB), start-up included (``import_rss_mb``: the part that is
  Python with torch and transformers imported, before any data or model); ``peak_gpu_mb``:
  :func:`torch.cuda.max_memory_allocated` on a CUDA device (else :obj:`None`).
* ``epoch_time_s``, ``encodings_per_target_per_epoch``, ``encodings_per_node_per_epoch``: the
  trainer's own figures (:attr:`leading.train.trainer.TrainResult.stats`): epochs are timed from
  their first step to their last, so start-up (model load, tokenization, memory prefill, head
  warm-up) is excluded, and LM encodings come from the exact counters of the
  :class:`~leading.train.memory.EmbeddingMemory`.
* ``test_acc`` / ``valid_acc``: the end-to-end head's accuracy at the best validation epoch;
  ``history``: its per-epoch rows (``metrics.csv``).
* ``status``: ``"ok"``, ``"oom"`` (:class:`torch.OutOfMemoryError`, :class:`MemoryError` or the
  CPU allocator's "can't allocate memory") or ``"error"`` with ``error``, the exception and the
  end of its traceback.
* ``precision``: the LM's precision, ``{"asked", "used", "reason"}``
  (:func:`leading.run.lm_precision`, as in ``results.json``).

The process exits with 0 whenever it wrote a row, whatever its status.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = ["classify_exception", "main", "run_spec"]

#: Fields of :attr:`~leading.train.trainer.TrainResult.stats` copied into the row.
TRAIN_FIELDS = (
    "epoch_time_s",
    "step_time_s",
    "encodings_per_target_per_epoch",
    "encodings_per_node_per_epoch",
    "refresh_batch_size",
    "steps_per_epoch",
    "lm_epochs_run",
)


def _rss_mb() -> float:
    r"""Current resident set size of this process in MiB (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):  # pragma: no cover - not Linux
        return 0.0


def _peak_rss_mb() -> float:
    r"""Peak resident set size of this process so far in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def classify_exception(exc: BaseException) -> str:
    r"""``"oom"`` for an out-of-memory failure, else ``"error"``."""
    if isinstance(exc, MemoryError):
        return "oom"
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return "oom"
    except ImportError:  # pragma: no cover
        pass
    msg = str(exc).lower()
    if isinstance(exc, RuntimeError) and (
        "out of memory" in msg or "can't allocate memory" in msg
    ):
        return "oom"
    return "error"


def _read_history(path: Path) -> list[dict[str, Any]]:
    r"""The rows of a trainer's ``metrics.csv`` (numbers as floats, ``epoch`` as int)."""
    if not path.exists():
        return []
    rows = []
    with path.open() as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {}
            for k, v in raw.items():
                try:
                    row[k] = int(v) if k in ("epoch", "lm_encodings") else float(v)
                except (TypeError, ValueError):
                    row[k] = v
            rows.append(row)
    return rows


def _check_method(method: str) -> None:
    r"""Refuses a method whose implementation is missing, instead of measuring another one."""
    if method == "glem":
        import importlib.util

        if importlib.util.find_spec("leading.train.glem") is None:
            raise NotImplementedError(
                "method glem: leading.train.glem is not in this checkout yet"
            )


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    r"""Runs the configuration of :obj:`spec` in this process and returns its result row.

    Exceptions propagate (:func:`main` turns them into ``oom`` / ``error`` rows).
    """
    import torch

    from leading.config import Config
    from leading.data import load_dataset
    from leading.run import lm_precision, run_seed

    import_rss = _rss_mb()  # the interpreter with torch and transformers imported
    cfg = Config.from_dict(dict(spec["config"]), "bench spec")
    _check_method(cfg.method)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = cfg.torch_device()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    graph = load_dataset(cfg.dataset, root=cfg.data_dir)
    with tempfile.TemporaryDirectory(prefix="leading-bench-run-") as tmp:
        seed_dir = Path(tmp) / f"seed_{cfg.seed}"
        out = run_seed(cfg, graph, cfg.seed, seed_dir, {})
        history = _read_history(seed_dir / "metrics.csv")
    train = out.get("train") or {}
    e2e = out.get("e2e") or {}
    row: dict[str, Any] = {
        "status": "ok",
        "peak_rss_mb": _peak_rss_mb(),
        "peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
        "import_rss_mb": import_rss,
        **{k: train.get(k) for k in TRAIN_FIELDS},
        "test_acc": e2e.get("test_acc"),
        "valid_acc": e2e.get("valid_acc"),
        "best_epoch": out.get("best_epoch"),
        "finetune_time_s": out.get("finetune_time_s"),
        "num_nodes": graph.num_nodes,
        "device": str(device),
        "precision": lm_precision(cfg),
        "torch_threads": torch.get_num_threads(),
        "history": history,
    }
    return row


def _error_row(exc: BaseException) -> dict[str, Any]:
    tb = "".join(traceback.format_exception(exc))
    return {
        "status": classify_exception(exc),
        "error": f"{type(exc).__name__}: {exc}"[:2000],
        "traceback": tb[-4000:],
        "peak_rss_mb": _peak_rss_mb(),
    }


def _write(path: Path, row: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(row, indent=1, default=str))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m leading.bench.worker SPEC.json RESULT.json", file=sys.stderr)
        return 2
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    t0 = time.perf_counter()
    try:
        spec = json.loads(spec_path.read_text())
        row = run_spec(spec)
    except Exception as exc:  # every failure becomes a row; the parent reports it
        row = _error_row(exc)
    row["child_time_s"] = time.perf_counter() - t0
    _write(result_path, row)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
