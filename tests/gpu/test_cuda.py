r"""The GPU path: the trainers on a CUDA device (every tensor there, results back on the CPU),
resume with the CUDA random state, the embedding memory's pinned host transfers, propagation on
the device against the CPU, and the precision ``auto`` picks.

Skipped without a CUDA device (``LEADING_CUDA_TESTS_ON_CPU=1`` runs what can run on the CPU, to
check the tests themselves; see ``conftest.py``). Run on a GPU by ``benchmarks/gpu/check.sh``.
"""

from __future__ import annotations

import math
import os
import shutil

import pytest
import torch

from leading.data.link_splits import make_link_split
from leading.graph.appnp import APPNPPropagation
from leading.graph.head import EndToEndHead
from leading.graph.implicit import ImplicitPropagation
from leading.text.precision import resolve_precision
from leading.train import LeadingTrainer, LinkTrainer
from leading.train import memory as memory_module
from leading.train.checkpoint import load_checkpoint, save_checkpoint
from leading.train.memory import EmbeddingMemory
from leading.train.methods import method_overrides

#: As in ``conftest.py``: run on the CPU instead (a check of the tests themselves).
ON_CPU = os.environ.get("LEADING_CUDA_TESTS_ON_CPU", "") == "1"
CUDA = torch.cuda.is_available()

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not (CUDA or ON_CPU), reason="needs a CUDA device"),
]
#: The checks that only mean something on a CUDA device (pinned memory, the CUDA generators,
#: bf16 support): skipped on the CPU even with ``LEADING_CUDA_TESTS_ON_CPU=1``.
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


def on(t: torch.Tensor, device: torch.device) -> bool:
    return t.device.type == device.type


def sync() -> None:
    if CUDA:
        torch.cuda.synchronize()


def assert_on_device(trainer, device: torch.device) -> None:
    r"""The trainer's encoder, head, task modules, memory and full graph are on :obj:`device`."""
    assert trainer.device.type == device.type
    for name, p in [*trainer.encoder.named_parameters(), *trainer.model.named_parameters()]:
        assert on(p, device), name
    mem = trainer.memory
    store = torch.device("cpu") if mem.pinned else device
    for k in ("values", "filled", "last_write", "grad_encodings", "free_encodings"):
        assert on(getattr(mem, k), store), k
    node_ids, edge_index = trainer.full_graph()
    assert on(node_ids, device) and on(edge_index, device)


def assert_finite_history(history: list[dict], epochs: int) -> None:
    assert [r["epoch"] for r in history] == list(range(epochs + 1))
    assert math.isnan(history[0]["train_loss"])  # epoch 0: the head warm-up, no LM step
    for row in history[1:]:
        for k, v in row.items():
            if isinstance(v, float):
                assert math.isfinite(v), (row["epoch"], k)


def assert_states_close(a: dict, b: dict, atol: float, where: str = "") -> None:
    r"""Nested state dicts: the same keys, tensors within :obj:`atol`, other values equal."""
    assert a.keys() == b.keys(), where
    for k in a:
        key = f"{where}.{k}"
        if isinstance(a[k], torch.Tensor):
            assert a[k].shape == b[k].shape and a[k].dtype == b[k].dtype, key
            diff = (a[k].double().cpu() - b[k].double().cpu()).abs()
            assert diff.numel() == 0 or float(diff.max()) <= atol, (key, float(diff.max()))
        elif isinstance(a[k], dict):
            assert_states_close(a[k], b[k], atol, key)
        else:
            assert a[k] == b[k], key


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double().cpu() - b.double().cpu()).abs().max())


# --------------------------------------------------------------------------------------------
# (1) the node trainer on the device
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["full", "subgraph"])
def test_leading_trainer_fits_on_the_device(
    graph, splits, make_encoder, tiny_config, device, tmp_path, scope
):
    enc = make_encoder(device=device)
    trainer = LeadingTrainer(graph, splits, enc, tiny_config(epochs=2, patience=10, scope=scope),
                             run_dir=tmp_path, seed=0)
    assert not trainer.memory.pinned  # 36 rows: "auto" keeps them on the device
    assert_on_device(trainer, device)
    if CUDA:
        torch.cuda.reset_peak_memory_stats()
    res = trainer.fit()
    sync()

    n, t = graph.num_nodes, splits["train"].numel()
    assert res.embeddings.device.type == "cpu" and res.embeddings.shape == (n, 32)
    assert res.embeddings.dtype == torch.float32 and bool(torch.isfinite(res.embeddings).all())
    assert_finite_history(res.history, 2)
    assert_on_device(trainer, device)  # nothing moved back during training
    assert res.encoder is enc and all(on(p, device) for p in enc.parameters())
    if trainer.head.kind == "implicit":  # the propagation histories live there too
        assert on(trainer.head.prop.history.x.values, device)
    # the encoding counters: every target once per epoch with gradient
    assert [r["lm_encodings"] for r in res.history] == [0, 2 * t, 2 * t]
    assert trainer.memory.counters()["with_grad"] == 2 * t
    for part in ("valid", "test"):
        assert 0.0 <= res.e2e[f"{part}_acc"] <= 1.0
    assert res.stats["lm_epochs_run"] == 2 and res.stats["epoch_time_s"] > 0
    if CUDA:
        assert torch.cuda.max_memory_allocated() > 0
    assert not (tmp_path / "checkpoint.pt").exists() and (tmp_path / "metrics.csv").exists()


@pytest.mark.parametrize("scope", ["full", "subgraph"])
def test_a_training_step_on_the_device_equals_the_cpu_step(
    graph, splits, make_encoder, tiny_config, device, scope
):
    r"""Without dropout, one LM training step (pipeline 2, the memory, pipeline 1, the head and
    the backward into the LM) gives on the device the loss and gradients of the CPU, within
    float32 tolerance (relative 1e-3, absolute 1e-5)."""
    cfg = tiny_config(scope=scope, dropout=0.0)
    trainers = [LeadingTrainer(graph, splits, make_encoder(seed=1, device=d), cfg, seed=0)
                for d in ("cpu", device)]
    for tr in trainers:
        tr.prefill()
    targets = splits["train"][torch.tensor([5, 0, 9, 2])]
    losses = [tr.training_step(targets, with_lm=True) for tr in trainers]
    sync()
    assert losses[1] == pytest.approx(losses[0], rel=1e-4, abs=1e-6)
    cpu, dev = trainers
    for (k, p), (_, q) in zip(
        [*cpu.encoder.named_parameters(), *cpu.model.named_parameters()],
        [*dev.encoder.named_parameters(), *dev.model.named_parameters()],
        strict=True,
    ):
        assert (p.grad is None) == (q.grad is None), k
        if p.grad is not None:
            torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-3, atol=1e-5, msg=k)
    # the memory got the same rows and counts
    torch.testing.assert_close(dev.memory.values.cpu(), cpu.memory.values, rtol=1e-4, atol=1e-5)
    assert torch.equal(dev.memory.grad_encodings.cpu(), cpu.memory.grad_encodings)
    assert torch.equal(dev.memory.free_encodings.cpu(), cpu.memory.free_encodings)
    torch.testing.assert_close(dev.predict().cpu(), cpu.predict(), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("method", ["coupled", "gas"])
def test_subgraph_gradient_methods_fit_on_the_device(
    graph, splits, make_encoder, tiny_config, device, method
):
    r"""``grad_hops != 0`` (coupled, GAS): the rows encoded with gradient are node ids of the
    sampled subgraph, which lives on the device."""
    cfg = tiny_config(epochs=1, method=method)
    cfg = cfg.replace(**method_overrides(method))
    trainer = LeadingTrainer(graph, splits, make_encoder(device=device), cfg, seed=0)
    res = trainer.fit()
    sync()
    assert_finite_history(res.history, 1)
    assert res.embeddings.shape == (graph.num_nodes, 32)
    assert trainer.memory.counters()["with_grad"] > splits["train"].numel()  # neighbors too


# --------------------------------------------------------------------------------------------
# (2) resume: the CUDA random state travels in the checkpoint
# --------------------------------------------------------------------------------------------


#: Resumed and uninterrupted runs agree within this (deterministic algorithms: exactly, in
#: practice; a lost random state moves the LM by far more, see the control below).
RESUME_ATOL = 1e-5


def test_resume_on_the_device_continues_to_the_uninterrupted_result(
    graph, splits, make_encoder, tiny_config, device, tmp_path, crash_after_epoch, deterministic
):
    r"""Dropout on (the LM's and the head's, drawn from the CUDA generator on a GPU): a run
    interrupted after epoch 1 and resumed ends where the uninterrupted run ends, within
    :data:`RESUME_ATOL`. Control (CUDA only): the same resume from a checkpoint without the CUDA
    random state does not."""
    cfg = tiny_config(epochs=2, patience=100, scope="subgraph", lm_dropout=True, dropout=0.5,
                      lr_lm=1e-3)

    def make(run: str, **changes) -> LeadingTrainer:
        return LeadingTrainer(graph, splits, make_encoder(seed=3, device=device),
                              cfg.replace(**changes), run_dir=tmp_path / run, seed=1)

    a = make("a")
    res_a = a.fit()

    disarm = crash_after_epoch(1)
    with pytest.raises(KeyboardInterrupt):
        make("b").fit()
    disarm()
    ckpt = tmp_path / "b" / "checkpoint.pt"
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 1
    if CUDA:
        assert state["cuda_rng"] is not None
        assert len(state["cuda_rng"]) == torch.cuda.device_count()
        # the control's checkpoint: the same, without the CUDA random state
        shutil.copytree(tmp_path / "b", tmp_path / "d")
        save_checkpoint({**state, "cuda_rng": None}, tmp_path / "d" / "checkpoint.pt")

    torch.manual_seed(12345)  # the random state must come from the checkpoint, not from here
    c = make("b", resume=True)
    res_c = c.fit()
    sync()
    assert not ckpt.exists()
    assert res_c.best_epoch == res_a.best_epoch
    assert_states_close(res_a.encoder.state_dict(), res_c.encoder.state_dict(), RESUME_ATOL)
    assert_states_close(a.head.state_dict(), c.head.state_dict(), RESUME_ATOL)
    assert_states_close(a.memory.state_dict(), c.memory.state_dict(), RESUME_ATOL)
    assert max_diff(res_a.embeddings, res_c.embeddings) <= RESUME_ATOL
    assert len(res_a.history) == len(res_c.history) == 3
    for ra, rc in zip(res_a.history, res_c.history, strict=True):
        for k, v in ra.items():
            if k != "epoch_time_s" and isinstance(v, float) and not math.isnan(v):
                assert rc[k] == pytest.approx(v, abs=RESUME_ATOL), (ra["epoch"], k)

    # the state after the last epoch, not only the best one's: the optimiser's moments
    opt_a, opt_c = a.optimizer.state_dict()["state"], c.optimizer.state_dict()["state"]
    assert opt_a.keys() == opt_c.keys()
    for k in opt_a:
        assert_states_close(opt_a[k], opt_c[k], RESUME_ATOL, f"optimizer.{k}")

    if CUDA:  # control: without the CUDA generators' state, dropout draws other masks
        torch.manual_seed(12345)
        d = make("d", resume=True)
        res_d = d.fit()
        opt_d = d.optimizer.state_dict()["state"]
        moved = max(
            max_diff(opt_a[k]["exp_avg"], opt_d[k]["exp_avg"]) / max(
                float(opt_a[k]["exp_avg"].abs().max()), 1e-12)
            for k in opt_a
        )
        assert moved > 1e-3, moved  # relative change of the LM's and head's Adam moments
        assert len(res_d.history) == 3


# --------------------------------------------------------------------------------------------
# (3) the embedding memory's transfers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("pin", [True, False], ids=["pinned", "on-device"])
def test_memory_on_the_device_reads_and_counts_as_on_the_cpu(device, dtype, pin):
    n, d = 50, 8
    g = torch.Generator().manual_seed(0)
    mem = EmbeddingMemory(n, d, dtype, device, pin_memory=pin)
    ref = EmbeddingMemory(n, d, dtype, "cpu")
    assert mem.pinned == (pin and device.type == "cuda")
    if mem.pinned:
        assert mem.values.device.type == "cpu" and mem.values.is_pinned()
    else:
        assert on(mem.values, device)
    writes = [
        (torch.randperm(n, generator=g)[:20], True),
        (torch.randperm(n, generator=g)[:30], False),
        (torch.arange(10), True),
    ]
    for step, (ids, with_grad) in enumerate(writes):
        values = torch.randn(ids.numel(), d, generator=g) * 10
        # written from the device (the encoder's output) with device or host ids
        mem.write(ids.to(device) if step % 2 else ids, values.to(device), with_grad=with_grad)
        ref.write(ids, values, with_grad=with_grad)
        mem.tick()
        ref.tick()
    ids = torch.cat([torch.arange(n), torch.tensor([3, 3, 49])])
    out = mem.read(ids.to(device))
    sync()
    assert on(out, device) and out.dtype == torch.float32 and out.shape == (ids.numel(), d)
    assert torch.equal(out.cpu(), ref.read(ids))  # the same casts: exactly equal
    assert mem.counters() == ref.counters()
    for k in ("filled", "last_write", "grad_encodings", "free_encodings"):
        assert torch.equal(getattr(mem, k).cpu(), getattr(ref, k)), k
    assert torch.equal(mem.staleness().cpu(), ref.staleness())
    # a read is a snapshot: a later write to the same rows does not reach it
    before = mem.read(torch.arange(5, device=device))
    mem.write(torch.arange(5), torch.full((5, d), 7.0, device=device))
    sync()
    assert torch.equal(before.cpu(), ref.read(torch.arange(5)))
    assert bool((mem.read(torch.arange(5)) == 7.0).all())
    # checkpoint round trip through the CPU
    state = {k: (v.cpu() if isinstance(v, torch.Tensor) else v)
             for k, v in mem.state_dict().items()}
    again = EmbeddingMemory(n, d, dtype, device, pin_memory=pin)
    again.load_state_dict(state)
    assert again.pinned == mem.pinned
    assert torch.equal(again.read(ids).cpu(), mem.read(ids).cpu())
    assert again.counters() == mem.counters() and again.step == mem.step


@needs_cuda
def test_memory_auto_pins_when_the_rows_would_crowd_the_device(monkeypatch):
    assert not EmbeddingMemory(100, 8, "fp32", "cuda", pin_memory="auto").pinned
    free, total = torch.cuda.mem_get_info()
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (1024, total))
    mem = EmbeddingMemory(100, 8, "fp16", "cuda", pin_memory="auto")
    assert mem.pinned and mem.values.is_pinned()
    assert not EmbeddingMemory(100, 8, "fp16", "cpu", pin_memory="auto").pinned


@needs_cuda
def test_pinned_memory_trains_as_the_device_memory(
    graph, splits, make_encoder, tiny_config, monkeypatch, deterministic
):
    r"""A fit whose memory sits in pinned host memory (forced through ``pin_memory="auto"``)
    ends where the same fit with the memory on the device ends."""
    cfg = tiny_config(epochs=2, patience=10, memory_dtype="fp16")

    def fit(pinned: bool):
        monkeypatch.setattr(memory_module, "AUTO_PIN_FRACTION", 0.0 if pinned else 1e9)
        trainer = LeadingTrainer(graph, splits, make_encoder(device="cuda"), cfg, seed=0)
        assert trainer.memory.pinned == pinned
        assert_on_device(trainer, torch.device("cuda"))
        return trainer, trainer.fit()

    dev, res_dev = fit(False)
    pin, res_pin = fit(True)
    torch.cuda.synchronize()
    assert res_pin.best_epoch == res_dev.best_epoch
    assert max_diff(res_pin.embeddings, res_dev.embeddings) <= 1e-5
    assert_states_close(dev.memory.state_dict(), pin.memory.state_dict(), 1e-5)
    assert dev.memory.counters() == pin.memory.counters()


# --------------------------------------------------------------------------------------------
# (4) propagation on the device equals the CPU's
# --------------------------------------------------------------------------------------------


def ring_with_chords(n: int, seed: int = 0) -> torch.Tensor:
    r"""A symmetric ring plus random chords, without self-loops or duplicates."""
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(n)
    extra = torch.randint(0, n, (2, n // 2), generator=g)
    edges = torch.cat([torch.stack([src, (src + 1) % n]), extra], 1)
    edges = torch.cat([edges, edges.flip(0)], 1)
    edges = edges[:, edges[0] != edges[1]]
    key = torch.unique(edges[0] * n + edges[1])
    return torch.stack([key // n, key % n])


#: Tolerances of device against CPU, per dtype (absolute and relative).
PROP_TOL = {torch.float32: dict(atol=1e-5, rtol=1e-4), torch.float64: dict(atol=1e-10, rtol=1e-9)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("init", ["grad", "zero", "history", "damped"])
def test_implicit_propagation_on_the_device_equals_the_cpu(device, dtype, init):
    r"""Forward and implicit backward over three calls (warm starts and stored gradients from
    the histories), on the full graph and on a sub-graph by global ids."""
    n, c = 40, 3
    ei = ring_with_chords(n)
    g = torch.Generator().manual_seed(1)
    props = [ImplicitPropagation(0.1, num_steps=5, backward_init=init, num_nodes=n)
             for _ in range(2)]
    sub_ids = torch.randperm(n, generator=g)[:15]
    sub_ei = ring_with_chords(15, seed=2)
    for call in range(3):
        x = torch.randn(n, c, generator=g, dtype=dtype)
        y = torch.randn(n, c, generator=g, dtype=dtype)
        outs, grads = [], []
        for prop, dev in zip(props, ("cpu", device), strict=True):
            xi = x.to(dev).requires_grad_()
            if call == 1:  # a sub-graph by global ids
                out = prop(xi[:15], sub_ei.to(dev), sub_ids.to(dev))
                (out * y[:15].to(dev)).sum().backward()
            else:
                out = prop(xi, ei.to(dev))
                (out * y.to(dev)).sum().backward()
            assert out.device.type == torch.device(dev).type
            outs.append(out.detach().cpu())
            grads.append(xi.grad.cpu())
        sync()
        torch.testing.assert_close(outs[1], outs[0], **PROP_TOL[dtype], msg=f"forward {call}")
        torch.testing.assert_close(grads[1], grads[0], **PROP_TOL[dtype], msg=f"backward {call}")
    cpu_hist, dev_hist = (p.history for p in props)
    assert on(dev_hist.x.values, device)
    torch.testing.assert_close(dev_hist.x.values.cpu(), cpu_hist.x.values, **PROP_TOL[dtype])
    torch.testing.assert_close(dev_hist.g.values.cpu(), cpu_hist.g.values, **PROP_TOL[dtype])
    # evaluation mode reads the history, writes nothing
    for p in props:
        p.eval()
    x = torch.randn(n, c, generator=g, dtype=dtype)
    torch.testing.assert_close(props[1](x.to(device), ei.to(device)).cpu(), props[0](x, ei),
                               **PROP_TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_appnp_propagation_on_the_device_equals_the_cpu(device, dtype):
    n = 40
    ei = ring_with_chords(n)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g, dtype=dtype)
    y = torch.randn(n, 4, generator=g, dtype=dtype)
    res = []
    for dev in ("cpu", device):
        xi = x.to(dev).requires_grad_()
        out = APPNPPropagation(0.1, num_steps=10, cached=True)(xi, ei.to(dev))
        (out * y.to(dev)).sum().backward()
        res.append((out.detach().cpu(), xi.grad.cpu()))
    sync()
    torch.testing.assert_close(res[1][0], res[0][0], **PROP_TOL[dtype])
    torch.testing.assert_close(res[1][1], res[0][1], **PROP_TOL[dtype])


@pytest.mark.parametrize("kind", ["implicit", "appnp", "gcn", "sage", "mlp"])
def test_heads_on_the_device_equal_the_cpu(device, kind):
    r"""Every head kind: the same weights give the same logits and input gradients."""
    n = 40
    ei = ring_with_chords(n)
    torch.manual_seed(0)
    head = EndToEndHead(kind, n, 16, 8, 3, dropout=0.0, num_steps=4)
    heads = [head, EndToEndHead(kind, n, 16, 8, 3, dropout=0.0, num_steps=4)]
    heads[1].load_state_dict(head.state_dict())
    heads[1].to(device)
    h = torch.randn(n, 16)
    y = torch.randn(n, 3)
    res = []
    for hd, dev in zip(heads, ("cpu", device), strict=True):
        hi = h.to(dev).requires_grad_()
        out = hd(hi, ei.to(dev), torch.arange(n, device=dev))
        (out * y.to(dev)).sum().backward()
        res.append((out.detach().cpu(), hi.grad.cpu(),
                    {k: p.grad.cpu() for k, p in hd.named_parameters()}))
    sync()
    torch.testing.assert_close(res[1][0], res[0][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(res[1][1], res[0][1], atol=1e-5, rtol=1e-4)
    for k in res[0][2]:
        torch.testing.assert_close(res[1][2][k], res[0][2][k], atol=1e-5, rtol=1e-4, msg=k)


# --------------------------------------------------------------------------------------------
# (5) the link trainer on the device
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["full", "subgraph"])
def test_link_trainer_fits_on_the_device(tiny_graph, make_encoder, tiny_config, device, scope):
    graph = tiny_graph(labelled=False)
    split = make_link_split(graph, "60/20/20", seed=0, num_neg_targets=10)
    cfg = tiny_config(task="link", epochs=2, patience=10, scope=scope, link_decoder="mlp")
    trainer = LinkTrainer(graph, split, make_encoder(device=device), cfg, seed=0)
    assert_on_device(trainer, device)
    res = trainer.fit()
    sync()
    assert res.embeddings.device.type == "cpu" and res.embeddings.shape == (graph.num_nodes, 32)
    assert bool(torch.isfinite(res.embeddings).all())
    assert_finite_history(res.history, 2)
    assert_on_device(trainer, device)
    for key in ("valid_auc", "valid_mrr", "test_hits@5"):
        assert 0.0 <= res.e2e[key] <= 1.0
    assert res.stats["lm_epochs_run"] == 2


# --------------------------------------------------------------------------------------------
# (6) precision: auto is bf16 on a CUDA device with native bf16
# --------------------------------------------------------------------------------------------


def cuda_native_bf16() -> bool:
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch < 2.3
        return bool(torch.cuda.is_bf16_supported())


@needs_cuda
def test_auto_precision_on_cuda_is_bf16_where_native(
    graph, splits, make_encoder, tiny_config
):
    native = cuda_native_bf16()
    used, reason = resolve_precision("auto", "cuda")
    assert used == ("bf16" if native else "fp32")
    assert torch.cuda.get_device_name(0) in reason
    assert resolve_precision("fp32", "cuda")[0] == "fp32"
    enc = make_encoder(device="cuda", bf16="auto")
    assert enc.precision == used and enc.precision_reason == reason
    # bf16 autocast: float32 embeddings close to the fp32 LM's
    ref = make_encoder(device="cuda")
    tokens = enc.tokenize(graph.texts, cache=False)
    ids = torch.arange(graph.num_nodes)
    with torch.no_grad():
        out, out_ref = enc.encode(tokens, ids), ref.encode(tokens, ids)
    assert out.dtype == torch.float32 and on(out, torch.device("cuda"))
    assert bool(torch.isfinite(out).all())
    tol = 0.05 * float(out_ref.abs().max()) if used == "bf16" else 1e-6
    assert max_diff(out, out_ref) <= tol
    # a whole fit in that precision
    res = LeadingTrainer(graph, splits, enc, tiny_config(epochs=1), seed=0).fit()
    torch.cuda.synchronize()
    assert_finite_history(res.history, 1)
    assert bool(torch.isfinite(res.embeddings).all())


def test_seeded_block_leaves_the_callers_cuda_stream_alone():
    from leading.seeding import seeded

    torch.cuda.manual_seed(7)
    before = torch.cuda.get_rng_state()
    with seeded(0, "cuda"):
        a = torch.rand(3, device="cuda")
    assert torch.equal(torch.cuda.get_rng_state(), before)  # the caller's stream did not move
    with seeded(0, "cuda"):
        b = torch.rand(3, device="cuda")
    assert torch.equal(a, b)  # the block's draws are the seed's
