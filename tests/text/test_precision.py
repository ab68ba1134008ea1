r"""The LM's precision (:mod:`leading.text.precision`): bf16 autocast only where the hardware
runs it natively, fp32 elsewhere, and the choice recorded by ``leading run``."""

import contextlib
import json

import pytest
import torch

import leading.run as run_module
import leading.text.precision as precision_module
from leading.config import PRECISIONS, Config
from leading.text import native_bf16, resolve_precision
from leading.text.precision import cpu_flags

#: /proc/cpuinfo excerpts: an AVX2-only AMD EPYC, Cooper Lake (AVX-512-BF16), Sapphire Rapids
#: (both flags).
AVX2 = "processor : 0\nmodel name : AMD EPYC\nflags : fpu sse sse2 avx avx2 fma bmi2\n"
AVX512_BF16 = "flags : fpu avx2 avx512f avx512bw avx512vl avx512_bf16 avx512_vnni\n"
AMX = "flags : avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_the_config_and_the_resolver_know_the_same_settings():
    assert PRECISIONS == precision_module.PRECISIONS == ("auto", "fp32", "bf16")


@pytest.mark.parametrize(
    "flags, native",
    [(AVX2, False), (AVX512_BF16, True), (AMX, True), ("amx_bf16", True), ("", False),
     ("flags : avx512f avx512bw", False)],  # AVX-512 without its BF16 extension: emulated
)
def test_native_bf16_on_a_cpu_from_its_flags(flags, native):
    assert native_bf16("cpu", flags) is native
    assert native_bf16(torch.device("cpu"), flags) is native


def test_cpu_flags_of_a_cpuinfo_and_of_this_machine():
    assert {"avx2", "fma", "sse2"} <= cpu_flags(AVX2) and "avx512_bf16" not in cpu_flags(AVX2)
    mine = cpu_flags()  # read once from /proc/cpuinfo (empty where there is none)
    assert native_bf16("cpu") is bool(mine & {"avx512_bf16", "amx_bf16"})


@pytest.mark.parametrize(
    "flags, used, reason",
    [
        (AVX2, "fp32", "auto: CPU without AVX-512-BF16/AMX"),
        (AVX512_BF16, "bf16", "auto: CPU with AVX-512-BF16"),
        (AMX, "bf16", "auto: CPU with AVX-512-BF16/AMX"),
        ("amx_bf16", "bf16", "auto: CPU with AMX"),
    ],
)
def test_auto_on_a_cpu(flags, used, reason):
    assert resolve_precision("auto", "cpu", flags) == (used, reason)


@pytest.mark.parametrize("flags", [AVX2, AMX])
def test_explicit_settings_are_kept(flags):
    assert resolve_precision("fp32", "cpu", flags) == ("fp32", "set explicitly")
    used, reason = resolve_precision("bf16", "cpu", flags)
    assert used == "bf16" and reason.startswith("set explicitly")
    # bf16 asked on a CPU that emulates it: kept, with a warning in the reason
    assert ("slower than fp32" in reason) is (flags == AVX2)
    assert resolve_precision(" BF16 ", "cpu", flags)[0] == "bf16"  # as typed


@pytest.mark.parametrize("bad", ["fp16", "float32", "", True, None])
def test_an_unknown_precision_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="unknown precision .*expected one of auto, fp32, bf16"):
        resolve_precision(bad, "cpu")


def test_other_devices_have_no_native_bf16():
    assert not native_bf16("meta")
    assert resolve_precision("auto", "meta") == ("fp32", "auto: no native bf16 known on meta")


@pytest.fixture
def fake_gpu(monkeypatch):
    r"""A CUDA runtime that says it has a device (named "Fake GPU"), bf16 natively or not."""
    state = {"native": True}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "device", lambda d: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: state["native"] or including_emulation)
    return state


def test_auto_on_a_cuda_device_follows_its_native_support(fake_gpu):
    assert native_bf16("cuda") and native_bf16("cuda:1")
    assert resolve_precision("auto", "cuda") == (
        "bf16", "auto: cuda:0 (Fake GPU) with native bf16"
    )
    fake_gpu["native"] = False  # e.g. a V100 or T4: bf16 only emulated, which does not count
    assert not native_bf16("cuda:0")
    assert resolve_precision("auto", "cuda:0") == (
        "fp32", "auto: cuda:0 (Fake GPU) without native bf16"
    )
    assert resolve_precision("bf16", "cuda:0")[0] == "bf16"


def test_no_cuda_runtime_means_no_native_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not native_bf16("cuda:0")
    assert resolve_precision("auto", "cuda:0") == ("fp32", "auto: CUDA device without native bf16")


@pytest.mark.cuda
@cuda
def test_native_bf16_of_this_cuda_device():
    expected = torch.cuda.is_bf16_supported(including_emulation=False)
    assert native_bf16("cuda") is expected and native_bf16("cuda:0") is expected
    assert resolve_precision("auto", "cuda")[0] == ("bf16" if expected else "fp32")


# ------------------------------------------------------------------ leading run


def fake_seed(cfg, graph, seed, seed_dir, frozen) -> dict:
    return {"seed": seed, "method": cfg.method,
            "downstream": {"gcn": {"test_acc": 0.5, "valid_acc": 0.25}}}


@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16"])
def test_run_prints_and_records_the_precision(precision, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(run_module, "run_seed", fake_seed)
    cfg = Config(method="pretrained", precision=precision, seeds=1, downstream=["gcn"],
                 device="cpu", out_dir=str(tmp_path), progress=False)
    result, _ = run_module.run_seeds(cfg)
    used, reason = resolve_precision(precision, "cpu")
    printed = capsys.readouterr()
    assert printed.err.count("LM precision") == 1  # once, on stderr
    assert f"leading: LM precision {used} ({reason})\n" in printed.err
    assert "LM precision" not in printed.out
    on_disk = json.loads((tmp_path / "results.json").read_text())
    expected = {"asked": precision, "used": used, "reason": reason}
    assert on_disk["precision"] == result["precision"] == expected
    assert run_module.lm_precision(cfg) == expected


def test_a_run_without_lm_records_no_precision(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(run_module, "run_seed", fake_seed)
    cfg = Config(method="shallow", seeds=1, downstream=["gcn"], out_dir=str(tmp_path))
    result, _ = run_module.run_seeds(cfg)
    assert "LM precision" not in capsys.readouterr().err
    assert result["precision"] == {"asked": "auto", "used": None,
                                   "reason": "no LM (method shallow)"}
