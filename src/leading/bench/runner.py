r"""``leading bench``: runs the efficiency studies, one fresh process per configuration, and
writes ``efficiency.json``, ``summary.md`` and the plots.

Points of different studies that run the same configuration (:func:`~leading.bench.studies.
config_key`) are measured once and reported in each study. ``efficiency.json`` is rewritten
after every measurement; with ``resume`` the rows already there with status ``ok`` or ``oom``
are kept and not run again (``error`` and ``skipped`` rows are retried).

Layout of ``efficiency.json``::

    {"mode", "command", "argv", "machine", "settings", "notes", "started", "updated",
     "wall_time_s", "rows": [{"study", "method", "setting", <the setting's parameters>,
     "status", "peak_rss_mb", "peak_gpu_mb", "peak_mem_mb", "epoch_time_s",
     "encodings_per_target_per_epoch", "encodings_per_node_per_epoch", "test_acc",
     "valid_acc", "finetune_time_s", "wall_time_s", "history", "config", "config_key", ...}]}
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from leading.bench.measure import DEFAULT_MEMORY_BUDGET_MB, machine_info, measure
from leading.bench.studies import MODES, Point, plan, row_key
from leading.rundir import RunLock, prepare_run_dir

__all__ = ["DEFAULT_OUT", "format_row", "run_bench"]

DEFAULT_OUT = {
    "full": "benchmarks/results/efficiency",
    "quick": "benchmarks/results/efficiency-quick",
}

#: What the figures of a row mean (copied into ``efficiency.json``).
NOTES = {
    "peak_rss_mb": "peak resident set size (MiB) of the fresh process that ran the "
    "configuration (resource.getrusage), start-up included; on OOM rows the watchdog's last "
    "reading",
    "peak_gpu_mb": "torch.cuda.max_memory_allocated (MiB) on a CUDA device, else null",
    "peak_mem_mb": "peak_gpu_mb on a CUDA device, else peak_rss_mb (what the plots show)",
    "epoch_time_s": "mean wall time of an LM epoch, first step to last: model load, "
    "tokenization, memory prefill, head warm-up and evaluation excluded",
    "encodings_per_target_per_epoch": "LM encodings (with and without gradient) per training "
    "target per LM epoch, from the EmbeddingMemory counters",
    "encodings_per_node_per_epoch": "the same per node of the graph",
    "test_acc": "end-to-end head's test accuracy at the best validation epoch (after the refit "
    "of the head on the final embeddings); GLEM: its final GNN's. Not the downstream GNNs",
    "precision": "the LM's precision: asked (the precision setting, auto by default), used "
    "(bf16 autocast or fp32) and why (leading.text.precision: bf16 only where native)",
    "finetune_time_s": "the whole fine-tuning of the seed (Table 4's running time): model load, "
    "prefill, head warm-up, LM epochs, evaluation and the final encoding",
    "leading": "LEADING with the paper's settings: pipeline 2 encodes as many nodes per step as "
    "pipeline 1 (refresh_fraction and refresh_batch_size null), no pseudo-labels. In table5, "
    "fig3, table4 and refresh it propagates over the whole graph (scope full, as leading run "
    "does; fanouts unused); in fig4_5_* over the sampled subgraphs like coupled and GAS",
    "supervised": "graph-free MLP head, pipeline 2 off (one encoding per target per epoch); its "
    "scope is full, so one run stands for every number of hops in fig4_5_hops",
    "same_run_as": "rows of different studies with the same configuration share one run",
    "status": "ok | oom (above the memory budget, or torch.OutOfMemoryError / MemoryError) | "
    "error (see error) | skipped (see error)",
}

#: Row fields printed on the progress line, with their format.
_SHOWN = (
    ("test_acc", "test {:.1%}"),
    ("peak_mem_mb", "peak {:.0f} MB"),
    ("epoch_time_s", "epoch {:.1f} s"),
    ("encodings_per_target_per_epoch", "enc/target {:.2f}"),
    ("encodings_per_node_per_epoch", "enc/node {:.3f}"),
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _setting_text(setting: dict[str, Any]) -> str:
    return " ".join(f"{k}={json.dumps(v)}" for k, v in setting.items())


def format_row(row: dict[str, Any]) -> str:
    r"""One line: the point and its figures (or why it has none)."""
    head = f"{row['study']} {row['method']}"
    if row.get("setting"):
        head += " " + _setting_text(row["setting"])
    parts = [f"{row['status']}"]
    if row["status"] in ("ok", "oom"):
        parts += [fmt.format(row[k]) for k, fmt in _SHOWN if row.get(k) is not None]
    if row["status"] != "ok" and row.get("error"):
        parts.append(str(row["error"]).splitlines()[0][:200])
    if row.get("wall_time_s") is not None:
        parts.append(f"({row['wall_time_s']:.0f} s)")
    return f"{head}: " + "  ".join(parts)


#: Figures every row has (null when the run did not get that far).
METRICS = (
    "status", "peak_rss_mb", "peak_gpu_mb", "epoch_time_s", "encodings_per_target_per_epoch",
    "encodings_per_node_per_epoch", "test_acc", "valid_acc", "finetune_time_s", "wall_time_s",
)

#: Row fields that describe the point rather than the measurement.
_POINT_FIELDS = ("study", "method", "setting", "config", "config_key", "same_run_as")


def _measurement(row: dict[str, Any]) -> dict[str, Any]:
    r"""The measured part of a row (what another point with the same configuration shares)."""
    setting = row.get("setting") or {}
    return {k: v for k, v in row.items() if k not in _POINT_FIELDS and k not in setting}


def _study_row(point: Point, measured: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "study": point.study, "method": point.method, "setting": point.setting, **point.setting
    }
    row.update({k: v for k, v in measured.items() if k not in row})
    for k in METRICS:  # the same fields in every row (null where not measured)
        row.setdefault(k, None)
    gpu = row.get("peak_gpu_mb")
    row["peak_mem_mb"] = gpu if gpu is not None else row.get("peak_rss_mb")
    row.update(config=point.config, config_key=point.config_key)
    return row


def _command(mode: str, options: dict[str, Any]) -> str:
    r"""The ``leading bench`` command line that runs this benchmark again."""
    argv = ["leading", "bench"] + (["--quick"] if mode == "quick" else [])
    for name, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, list | tuple):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return shlex.join(argv)


def _load(path: Path, mode: str, settings: dict[str, Any]) -> list[dict[str, Any]]:
    r"""The rows of an earlier run (``--resume``), if it ran the same mode and settings."""
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    old = {k: doc.get("settings", {}).get(k) for k in settings}
    if doc.get("mode") != mode or old != settings:
        raise ValueError(
            f"{path}: --resume needs the same mode and settings; it has mode "
            f"{doc.get('mode')!r} and {old}, this run {mode!r} and {settings}. Use another --out."
        )
    return list(doc.get("rows", []))


def run_bench(
    mode: str = "full",
    out: str | Path | None = None,
    studies: list[str] | None = None,
    resume: bool = False,
    memory_budget_mb: float | None = DEFAULT_MEMORY_BUDGET_MB,
    timeout_s: float | None = None,
    threads: int | None = None,
    device: str = "auto",
    dataset: str = "cora",
    lm: str = "minilm",
    max_length: int | None = None,
    epochs: int | None = None,
    head_epochs: int | None = None,
    dry_run: bool = False,
    plots: bool = True,
    command: str | None = None,
    measure_fn: Callable[..., dict[str, Any]] = measure,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    r"""Runs the studies of :obj:`mode` and writes their results under :obj:`out`.

    Args:
        mode (str): ``"full"`` or ``"quick"`` (see :mod:`leading.bench.studies`).
        out (str or Path, optional): Results directory (default: :data:`DEFAULT_OUT`).
        studies (list[str], optional): A subset of :data:`~leading.bench.studies.STUDIES`.
        resume (bool): Keep the ``ok`` / ``oom`` rows of an earlier ``efficiency.json``.
        memory_budget_mb (float, optional): Memory watchdog limit per configuration (MiB).
        timeout_s (float, optional): Wall-time limit per configuration.
        threads (int, optional): Torch threads of each run (default: torch's choice).
        device (str): ``auto``, ``cpu``, ``cuda``, ...
        dataset (str): Dataset name or directory.
        lm (str): LM alias, path or hub name.
        max_length, epochs, head_epochs (int, optional): Replace the mode's values.
        dry_run (bool): Print the plan and write nothing.
        plots (bool): Write the plots and ``summary.md``.
        command (str, optional): The command line recorded in the JSON.
        measure_fn (callable): :func:`~leading.bench.measure.measure` (tests swap it).
        log (callable, optional): Where progress lines go (default: above the progress bar).
        progress (bool): Show the overall progress bar.

    Returns:
        dict: The content of ``efficiency.json``.
    """
    t0 = time.perf_counter()
    out = Path(out if out is not None else DEFAULT_OUT[mode])
    points = plan(
        mode, studies, max_length=max_length, epochs=epochs, head_epochs=head_epochs,
        dataset=dataset, lm=lm, device=device, threads=threads,
    )
    m = {**MODES[mode], **{k: v for k, v in (("max_length", max_length), ("epochs", epochs),
                                             ("head_epochs", head_epochs)) if v is not None}}
    settings = {
        "dataset": dataset, "lm": lm, "device": device, "threads": threads,
        "max_length": m["max_length"], "epochs": m["epochs"], "head_epochs": m["head_epochs"],
    }
    say = log or (lambda s: tqdm.write(s, file=sys.stderr))
    path = out / "efficiency.json"
    kept = {
        row_key(r["study"], r["method"], r.get("setting") or {}): r
        for r in (_load(path, mode, settings) if resume else [])
        if r.get("status") in ("ok", "oom")
    }
    measured = {r["config_key"]: _measurement(r) for r in kept.values() if "config_key" in r}
    groups: dict[str, list[Point]] = {}  # configuration -> the points that run it
    for p in points:
        if p.key not in kept:
            groups.setdefault(p.config_key, []).append(p)
    todo = [k for k, ps in groups.items() if k not in measured and ps[0].skip is None]
    kept_text = f" ({len(kept)} kept from {path})" if resume else ""
    say(
        f"leading bench ({mode}): {len(points)} rows{kept_text}, {len(todo)} configurations "
        "to measure, each in a fresh process"
    )
    if dry_run:
        for key, ps in groups.items():
            names = "; ".join(f"{p.study} {p.method} {_setting_text(p.setting)}".strip()
                              for p in ps)
            note = f"  [skipped: {ps[0].skip}]" if ps[0].skip else ""
            say(f"  {key}  {names}{note}")
        return {"mode": mode, "rows": [],
                "plan": {k: [p.key for p in ps] for k, ps in groups.items()}}

    options = {
        "out": str(out), "studies": studies, "resume": resume,
        "memory_budget_mb": memory_budget_mb, "timeout_s": timeout_s, "threads": threads,
        "device": device if device != "auto" else None,
        "dataset": dataset if dataset != "cora" else None,
        "lm": lm if lm != "minilm" else None,
        "max_length": max_length, "epochs": epochs, "head_epochs": head_epochs,
    }
    prepare_run_dir(out)
    lock = RunLock(out, "leading bench").__enter__()  # released in the finally below
    (out / "logs").mkdir(exist_ok=True)
    doc: dict[str, Any] = {
        "mode": mode,
        "command": command or _command(mode, options),
        "argv": list(sys.argv),
        "machine": machine_info(threads),
        "settings": {**settings, "memory_budget_mb": memory_budget_mb, "timeout_s": timeout_s},
        "notes": NOTES,
        "started": _now(),
        "rows": [],
    }
    rows: dict[str, dict[str, Any]] = dict(kept)

    def write() -> None:
        doc["rows"] = [rows[p.key] for p in points if p.key in rows]
        doc["updated"] = _now()
        doc["wall_time_s"] = time.perf_counter() - t0
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1, default=str))
        tmp.replace(path)

    bar = tqdm(total=len(todo), desc="leading bench", unit="config", disable=not progress,
               file=sys.stderr)
    done = 0
    try:
        for key, ps in groups.items():
            first = ps[0]
            if first.skip is not None:
                result: dict[str, Any] = {"status": "skipped", "error": first.skip}
            elif key in measured:
                result = measured[key]
            else:
                bar.set_postfix_str(f"{first.study} {first.method} {_setting_text(first.setting)}")
                result = measure_fn(
                    {"config": first.config}, memory_budget_mb=memory_budget_mb,
                    timeout_s=timeout_s, log_path=out / "logs" / f"{key}.log", threads=threads,
                )
                measured[key] = result
                done += 1
                bar.update(1)
            for i, p in enumerate(ps):
                row = _study_row(p, result)
                if i > 0:
                    row["same_run_as"] = first.key
                rows[p.key] = row
                say(("    same run: " if i > 0 else f"[{done}/{len(todo)}] ") + format_row(row))
            write()
    finally:
        bar.close()
        lock.__exit__()
    write()
    if plots and doc["rows"]:
        from leading.bench.plots import write_plots
        from leading.bench.report import write_summary

        files = [*write_plots(doc, out), write_summary(doc, out)]
        say("wrote " + ", ".join(str(f) for f in [path, *files]))
    say(f"leading bench: done in {time.perf_counter() - t0:.0f} s")
    return doc
