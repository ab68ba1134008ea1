r"""Which precision the LM runs in: bfloat16 autocast where the hardware runs it natively,
float32 elsewhere.

bfloat16 autocast halves the activations and, on hardware with bf16 arithmetic, speeds the LM
up; without it every bf16 matmul is emulated and the LM gets several times *slower* than in
float32 (MiniLM encoding 64 Cora texts at 128 tokens on an AVX2-only AMD EPYC: 12.2 s with bf16
autocast, 2.2 s in fp32; ``benchmarks/precision``). So ``precision="auto"`` (the default of
:class:`~leading.config.Config`) picks bf16 only where it is native:

* a CUDA device that supports bf16 (compute capability 8.0 and up: A100, H100, ...; not
  emulated support),
* a CPU with AVX-512-BF16 or AMX (the ``avx512_bf16`` / ``amx_bf16`` flags of Linux's
  ``/proc/cpuinfo``),

and fp32 on every other device. ``fp32`` and ``bf16`` are kept as asked.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

__all__ = ["PRECISIONS", "CPU_BF16_FLAGS", "cpu_flags", "native_bf16", "resolve_precision"]

#: The precision settings: auto (bf16 where native, else fp32), fp32, bf16.
PRECISIONS = ("auto", "fp32", "bf16")
#: ``/proc/cpuinfo`` flags of native bf16 arithmetic, and how a reason names them.
CPU_BF16_FLAGS = {"avx512_bf16": "AVX-512-BF16", "amx_bf16": "AMX"}


@functools.lru_cache(maxsize=1)
def _proc_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no flags known, so no native bf16 assumed
        return ""


def cpu_flags(text: str | None = None) -> set[str]:
    r"""The CPU feature flags in :obj:`text` (default: this machine's ``/proc/cpuinfo``; empty
    where it cannot be read). :obj:`text` may be a whole ``cpuinfo`` or just the flags."""
    text = _proc_cpuinfo() if text is None else text
    return set(text.replace(":", " ").lower().split())


def _device(device: torch.device | str) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def native_bf16(device: torch.device | str, flags: str | None = None) -> bool:
    r"""Whether :obj:`device` runs bfloat16 arithmetic natively.

    Args:
        device (torch.device or str): ``cpu``, ``cuda``, ``cuda:1``, ...
        flags (str, optional): For a CPU: its ``/proc/cpuinfo`` text or flags (default: read
            from this machine; tests pass their own).

    Returns:
        bool: CUDA: :func:`torch.cuda.is_bf16_supported` of that device, emulation excluded;
        CPU: whether it has the ``avx512_bf16`` or ``amx_bf16`` flag; any other device:
        :obj:`False`.
    """
    device = _device(device)
    if device.type == "cpu":
        return bool(cpu_flags(flags) & CPU_BF16_FLAGS.keys())
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        with torch.cuda.device(device):
            try:
                return bool(torch.cuda.is_bf16_supported(including_emulation=False))
            except TypeError:  # torch < 2.3: no emulation to exclude
                return bool(torch.cuda.is_bf16_supported())
    return False


def resolve_precision(
    precision: str, device: torch.device | str, flags: str | None = None
) -> tuple[str, str]:
    r"""The precision an LM on :obj:`device` runs in, and why.

    Args:
        precision (str): ``"auto"`` (bf16 where :func:`native_bf16`, else fp32), ``"fp32"`` or
            ``"bf16"``.
        device (torch.device or str): The LM's device.
        flags (str, optional): CPU flags for :func:`native_bf16` (tests).

    Returns:
        tuple: ``("bf16" or "fp32", reason)``, the reason a short phrase for logs, e.g.
        ``"auto: CPU without AVX-512-BF16/AMX"``.

    Raises:
        ValueError: For a precision other than those of :data:`PRECISIONS`.
    """
    key = precision.strip().lower() if isinstance(precision, str) else precision
    if key not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of "
                         f"{', '.join(PRECISIONS)}")
    device = _device(device)
    native = native_bf16(device, flags)
    if key != "auto":
        emulated = key == "bf16" and not native and device.type in ("cpu", "cuda")
        return key, "set explicitly" + (" (not native here: slower than fp32)" if emulated else "")
    if device.type == "cpu":
        have = [name for flag, name in CPU_BF16_FLAGS.items() if flag in cpu_flags(flags)]
        if have:
            return "bf16", f"auto: CPU with {'/'.join(have)}"
        return "fp32", f"auto: CPU without {'/'.join(CPU_BF16_FLAGS.values())}"
    if device.type == "cuda":
        what = "CUDA device" if not torch.cuda.is_available() else (
            f"{device} ({torch.cuda.get_device_name(device)})"
        )
        return ("bf16", f"auto: {what} with native bf16") if native else (
            "fp32", f"auto: {what} without native bf16"
        )
    return "fp32", f"auto: no native bf16 known on {device.type}"
