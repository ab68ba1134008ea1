r"""Fresh-process measurement of one configuration, with a memory watchdog.

:func:`measure` runs a configuration in a new ``python -m leading.bench.worker`` process, so
that its peak memory is its own (no allocator state, cached model or tensors left over from a
previous configuration), and returns one result row:

* the child's own figures (:mod:`leading.bench.worker`): ``peak_rss_mb``
  (:func:`resource.getrusage` of the child), ``peak_gpu_mb``, ``epoch_time_s``, LM encodings
  per target / per node per epoch, accuracies and the per-epoch history;
* ``watch_peak_rss_mb``: the largest resident set size of the child's process tree that the
  watchdog saw (polled every :obj:`poll_s` seconds; a lower bound of the true peak);
* ``wall_time_s``: the child's wall time, start-up included.

The watchdog kills the child's process group as soon as its resident set size goes above
:obj:`memory_budget_mb` (or the machine's available memory falls below :obj:`min_free_mb`), and
the row becomes ``status="oom"`` instead of the machine swapping or the kernel killing something
else. A child killed by ``SIGKILL`` that the watchdog did not
kill (the kernel's OOM killer) is an ``oom`` row too. Any other failure is ``status="error"``
with the message and the end of the child's log: nothing is dropped silently.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

__all__ = ["DEFAULT_MEMORY_BUDGET_MB", "STATUSES", "machine_info", "measure", "tree_rss_mb"]

#: Statuses of a row: measured, out of memory, failed, or not run (with a reason).
STATUSES = ("ok", "oom", "error", "skipped")

#: Default memory budget of one configuration (MiB): safely below a 24 GB machine.
DEFAULT_MEMORY_BUDGET_MB = 16384.0


def tree_rss_mb(pid: int) -> float:
    r"""Resident set size of process :obj:`pid` and its descendants, in MiB (0 when gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or platform.machine()


def machine_info(threads: int | None = None) -> dict[str, Any]:
    r"""The machine a benchmark ran on: platform, CPU, cores, memory, threads, library versions,
    the GPU, if any, and whether each runs bf16 natively (:mod:`leading.text.precision`)."""
    import torch
    import transformers

    from leading.text.precision import native_bf16

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_total_mb": psutil.virtual_memory().total / 2**20,
        "threads": threads if threads else torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.cuda.is_available(),
        "cpu_native_bf16": native_bf16("cpu"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_native_bf16"] = native_bf16("cuda:0")
    return info


def _kill_group(proc: subprocess.Popen) -> None:
    r"""Kills the child's process group (the child leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def measure(
    spec: dict[str, Any],
    memory_budget_mb: float | None = DEFAULT_MEMORY_BUDGET_MB,
    timeout_s: float | None = None,
    log_path: str | Path | None = None,
    threads: int | None = None,
    poll_s: float = 0.1,
    command: Sequence[str] | None = None,
    min_free_mb: float | None = 512.0,
) -> dict[str, Any]:
    r"""Runs one configuration in a fresh process and returns its result row.

    Args:
        spec (dict): ``{"config": {...}}``, every :class:`~leading.config.Config` field.
        memory_budget_mb (float, optional): Kill the child above this resident set size (MiB)
            and report ``"oom"``; :obj:`None` = no limit.
        timeout_s (float, optional): Kill the child after this many seconds (``"error"``).
        log_path (str or Path, optional): Where the child's stdout and stderr go (default: a
            temporary file, deleted).
        threads (int, optional): ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` of the child.
        poll_s (float): Seconds between two memory readings.
        command (Sequence[str], optional): The child's command line instead of the worker's
            (tests); it receives the spec and result paths as its last two arguments.
        min_free_mb (float, optional): Also kill the child (``"oom"``) when the machine has
            less memory than this available, whatever the budget: other processes need it too.

    Returns:
        dict: The row: ``status`` (``ok``, ``oom`` or ``error``), the figures listed in the
        module docstring, ``error`` when not ``ok``, and ``exit_code``.
    """
    with tempfile.TemporaryDirectory(prefix="leading-bench-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(spec, default=str))
        log = Path(log_path) if log_path is not None else Path(tmp) / "child.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        argv = list(command) if command is not None else [
            sys.executable, "-m", "leading.bench.worker"
        ]
        argv += [str(spec_path), str(result_path)]
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
        if threads:
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        killed: str | None = None
        watch_peak = 0.0
        t0 = time.perf_counter()
        with log.open("w") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
            try:
                while True:
                    try:
                        proc.wait(timeout=poll_s)
                        break
                    except subprocess.TimeoutExpired:
                        pass
                    rss = tree_rss_mb(proc.pid)
                    watch_peak = max(watch_peak, rss)
                    if memory_budget_mb is not None and rss > memory_budget_mb:
                        killed = (
                            f"killed by the memory watchdog: resident set {rss:.0f} MiB above "
                            f"the budget of {memory_budget_mb:.0f} MiB"
                        )
                        _kill_group(proc)
                        break
                    free = psutil.virtual_memory().available / 2**20
                    if min_free_mb is not None and free < min_free_mb:
                        killed = (
                            f"killed by the memory watchdog: {free:.0f} MiB left on the machine "
                            f"(below {min_free_mb:.0f} MiB) at a resident set of {rss:.0f} MiB"
                        )
                        _kill_group(proc)
                        break
                    if timeout_s is not None and time.perf_counter() - t0 > timeout_s:
                        killed = f"killed after the timeout of {timeout_s:.0f} s"
                        _kill_group(proc)
                        break
            except BaseException:  # Ctrl-C in the parent: leave no child behind
                _kill_group(proc)
                raise
        wall = time.perf_counter() - t0
        row: dict[str, Any] = {}
        if killed is None and result_path.exists():
            row = json.loads(result_path.read_text())
        elif killed is not None:
            oom = killed.startswith("killed by the memory watchdog")
            row = {"status": "oom" if oom else "error", "error": killed,
                   "peak_rss_mb": watch_peak}
        elif proc.returncode == -signal.SIGKILL:
            row = {
                "status": "oom",
                "error": "killed by SIGKILL, not by the watchdog (presumably the kernel's OOM "
                "killer)",
                "peak_rss_mb": watch_peak,
            }
        else:
            row = {
                "status": "error",
                "error": f"the child exited with code {proc.returncode} without a result; "
                f"end of its log:\n{_tail(log)}",
            }
        if killed is not None and row["status"] == "error":  # the timeout
            row["log_tail"] = _tail(log)
        row.update(exit_code=proc.returncode, wall_time_s=wall, watch_peak_rss_mb=watch_peak)
        if memory_budget_mb is not None:
            row["memory_budget_mb"] = memory_budget_mb
        return row
