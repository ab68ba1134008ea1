r"""The two-pipeline LEADING trainer on a tiny text-attributed graph (36 nodes, 3 classes, texts
whose words give the class away, mostly homophilous edges) with a tiny random BERT."""

import copy
import math
from collections.abc import Callable

import pytest
import torch
from tiny import tiny_config as small_config  # noqa: F401  (test_scale.py imports it from here)
from tiny import tiny_graph  # noqa: F401  (test_scale.py imports it from here)

from leading.data.graph import TextAttributedGraph
from leading.text.encoder import TextEncoder
from leading.train import LeadingTrainer


def lm_grads(encoder: TextEncoder) -> dict[str, torch.Tensor]:
    return {
        k: (p.grad.clone() if p.grad is not None else torch.zeros_like(p))
        for k, p in encoder.named_parameters()
    }


def fill_memory(trainer) -> None:
    r"""Writes every node's embedding by the current LM to the trainer's memory, without
    gradient."""
    n = trainer.memory.values.size(0)
    embeddings = trainer.encoder.encode_all(trainer.tokens, progress=False)
    trainer.memory.write(torch.arange(n), embeddings, with_grad=False)


def spy_encode(encoder: TextEncoder) -> tuple[list[tuple[torch.Tensor, bool]], Callable]:
    r"""Replaces ``encoder.encode`` with a spy that records ``(node ids, grad enabled)`` of every
    LM call; returns the record and the original ``encode``."""
    calls = []
    encode = encoder.encode

    def spy(tokens, node_ids):
        calls.append((node_ids.clone(), torch.is_grad_enabled()))
        return encode(tokens, node_ids)

    encoder.encode = spy
    return calls, encode


def capture_head_inputs(head: torch.nn.Module) -> list[tuple]:
    r"""Records the arguments of every forward call of :obj:`head`, keeping the gradient of the
    first (the node embeddings)."""
    inputs = []

    def capture(module, args):
        args[0].retain_grad()
        inputs.append(args)

    head.register_forward_pre_hook(capture)
    return inputs


def assert_step_encodings(trainer, calls: list[tuple[torch.Tensor, bool]],
                          before: tuple[torch.Tensor, torch.Tensor],
                          with_grad: torch.Tensor) -> None:
    r"""The LM :obj:`calls` (see :func:`spy_encode`) of one training step: one with gradient, on
    exactly :obj:`with_grad` (pipeline 1), the others without, on ``refresh_size`` nodes in all
    (pipeline 2); since :obj:`before` (the memory's ``grad_encodings`` and ``free_encodings``),
    the memory counted exactly these: one encoding per node and call."""
    grad_calls = [ids for ids, g in calls if g]
    assert len(grad_calls) == 1 and torch.equal(grad_calls[0], with_grad)
    refreshed = torch.cat([ids for ids, g in calls if not g])
    assert refreshed.numel() == trainer.refresh_size
    n = trainer.memory.grad_encodings.numel()

    def per_node(ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n, dtype=torch.long).index_add_(0, ids, torch.ones_like(ids))

    assert torch.equal(trainer.memory.grad_encodings - before[0], per_node(with_grad))
    assert torch.equal(trainer.memory.free_encodings - before[1], per_node(refreshed))


def assert_lm_grad_is_vjp(encoder: TextEncoder, encode: Callable, tokens, ids: torch.Tensor,
                          h: torch.Tensor, rows: torch.Tensor) -> None:
    r"""The LM's gradient is non-zero, and exactly the vector-Jacobian product of the embeddings
    of :obj:`ids` alone with the gradient ``h.grad[rows]`` of their rows of the head input
    :obj:`h`; the other rows of :obj:`h` (neighbors) have a gradient too, which never reached the
    LM. Leaves the reference gradient in :obj:`encoder`."""
    got = lm_grads(encoder)
    assert sum(float(g.abs().sum()) for g in got.values()) > 0
    assert float(h.grad.abs().sum()) > float(h.grad[rows].abs().sum())  # neighbors got grad too
    encoder.zero_grad(set_to_none=True)
    torch.autograd.backward(encode(tokens, ids), h.grad[rows])
    ref = lm_grads(encoder)
    for k in got:
        torch.testing.assert_close(got[k], ref[k], atol=1e-7, rtol=1e-5, msg=k)


def assert_same_state(a: dict, b: dict, atol: float = 1e-6, where: str = "") -> None:
    r"""Recursive comparison of (nested) state dicts: tensors within :obj:`atol`."""
    assert a.keys() == b.keys(), where
    for k in a:
        key = f"{where}.{k}"
        if isinstance(a[k], torch.Tensor):
            assert a[k].shape == b[k].shape and a[k].dtype == b[k].dtype, key
            assert torch.allclose(a[k].double(), b[k].double(), atol=atol, rtol=0), key
        elif isinstance(a[k], dict):
            assert_same_state(a[k], b[k], atol, key)
        else:
            assert a[k] == b[k], key


def comparable(history: list[dict], drop=("epoch_time_s",)) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in drop} for row in history]


def assert_same_history(a: list[dict], b: list[dict], drop=("epoch_time_s",)) -> None:
    a, b = comparable(a, drop), comparable(b, drop)
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            if isinstance(ra[k], float) and math.isnan(ra[k]):
                assert math.isnan(rb[k]), k
            else:
                assert ra[k] == pytest.approx(rb[k], abs=1e-6), (ra["epoch"], k)


# --------------------------------------------------------------------------------------------
# pipeline 1: only the targets are encoded with gradient
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["full", "subgraph"])
def test_only_target_rows_receive_lm_gradient(graph, splits, make_encoder, tiny_config, scope):
    enc = make_encoder()
    trainer = LeadingTrainer(graph, splits, enc, tiny_config(scope=scope), seed=0)
    n = graph.num_nodes
    fill_memory(trainer)
    calls, encode = spy_encode(enc)  # (node ids, grad enabled) of every LM call
    head_inputs = capture_head_inputs(trainer.head)

    targets = splits["train"][torch.tensor([5, 0, 9, 2])]
    before = trainer.memory.grad_encodings.clone(), trainer.memory.free_encodings.clone()
    loss = trainer.training_step(targets, with_lm=True)
    assert math.isfinite(loss)

    # the LM ran with gradient exactly once, on the targets; pipeline 2 ran without, on 4
    # nodes; counted as such in memory: one grad encoding per target, one free per refresh
    assert trainer.refresh_size == 4
    assert_step_encodings(trainer, calls, before, targets)
    # the memory stores no graph, and the targets' rows hold their fresh embeddings
    assert not trainer.memory.values.requires_grad
    others = torch.ones(n, dtype=torch.bool)
    others[targets] = False
    assert not trainer.memory.read(others.nonzero().view(-1)).requires_grad
    with torch.no_grad():
        fresh = encode(trainer.tokens, targets)
    torch.testing.assert_close(trainer.memory.read(targets), fresh)

    # the LM gradient is exactly the vector-Jacobian product of the target embeddings alone with
    # the head-input gradient of their rows: no other row reached the LM
    ((h, *_),) = head_inputs
    rows = targets if scope == "full" else torch.arange(targets.numel())
    if scope == "subgraph":
        assert h.size(0) > targets.numel()  # there really are neighbors in the batch
    assert_lm_grad_is_vjp(enc, encode, trainer.tokens, targets, h, rows)


def test_head_warmup_step_leaves_the_lm_alone(graph, splits, make_encoder, tiny_config):
    enc = make_encoder()
    trainer = LeadingTrainer(graph, splits, enc, tiny_config(), seed=0)
    calls = []
    enc.encode = lambda *a: calls.append(a)
    trainer.training_step(trainer.targets, with_lm=False)
    assert calls == [] and trainer.memory.counters()["total"] == 0
    assert all(p.grad is None for p in enc.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.head.parameters())


# --------------------------------------------------------------------------------------------
# cost: LM encodings per epoch
# --------------------------------------------------------------------------------------------


def test_equal_batch_sizes_encode_each_target_twice_per_epoch(
    graph, splits, make_encoder, tiny_config
):
    trainer = LeadingTrainer(graph, splits, make_encoder(), tiny_config(), seed=0)
    res = trainer.fit()
    n, t = graph.num_nodes, splits["train"].numel()
    assert trainer.refresh_size == 4 and trainer.steps_per_epoch == 3
    assert res.stats["lm_epochs_run"] == 2
    assert res.stats["encodings_per_target_per_epoch"] == 2.0
    assert res.stats["encodings_per_node_per_epoch"] == pytest.approx(2.0 * t / n)
    assert [r["lm_encodings"] for r in res.history] == [0, 2 * t, 2 * t]
    # with gradient: every target once per epoch, nothing else ever
    expect = torch.zeros(n, dtype=torch.long)
    expect[splits["train"]] = 2
    assert torch.equal(trainer.memory.grad_encodings, expect)
    # without gradient: the prefill (every node once), 2 epochs x 3 steps x 4 refreshes, and the
    # final encoding of every node that the head is refit on
    assert int(trainer.memory.free_encodings.sum()) == n + 2 * 3 * 4 + n
    assert bool((trainer.memory.free_encodings >= 1).all())


def test_refresh_fraction_one_refreshes_every_node_each_epoch(
    graph, splits, make_encoder, tiny_config
):
    cfg = tiny_config(refresh_fraction=1.0, prefill=False, epochs=3, patience=10)
    trainer = LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0)
    assert trainer.refresh_size == math.ceil(graph.num_nodes / trainer.steps_per_epoch) == 12
    per_epoch = []
    lm_epoch = trainer.lm_epoch

    def counting(bar):
        before = trainer.memory.free_encodings.clone()
        out = lm_epoch(bar)
        per_epoch.append(trainer.memory.free_encodings - before)
        return out

    trainer.lm_epoch = counting
    res = trainer.fit()
    assert len(per_epoch) == 3
    for refreshed in per_epoch:
        assert bool((refreshed >= 1).all())
    assert res.stats["encodings_per_node_per_epoch"] >= 1.0
    t = splits["train"].numel()
    assert res.stats["encodings_per_target_per_epoch"] == pytest.approx((3 * 12 + t) / t)


@pytest.mark.parametrize("refresh_batch_size, per_target", [(0, 1.0), (8, 3.0)])
def test_refresh_batch_size_sets_pipeline_2(
    graph, splits, make_encoder, tiny_config, refresh_batch_size, per_target
):
    cfg = tiny_config(refresh_batch_size=refresh_batch_size, epochs=1)
    trainer = LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0)
    assert trainer.refresh_size == refresh_batch_size  # 0 turns pipeline 2 off
    res = trainer.fit()
    assert res.stats["encodings_per_target_per_epoch"] == per_target
    prefill = final = graph.num_nodes  # before training, and the final encoding for the refit
    assert int(trainer.memory.free_encodings.sum()) == prefill + 3 * refresh_batch_size + final


def test_grad_accum_and_lr_schedule_count_optimizer_steps(graph, splits, make_encoder, tiny_config):
    cfg = tiny_config(grad_accum=2, epochs=2, patience=10)
    trainer = LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0)
    trainer.fit()
    # 3 micro-batches per epoch -> 2 optimizer steps (the last one on a partial accumulation)
    assert trainer.scheduler.last_epoch == 2 * 2
    assert trainer.optimizer.param_groups[0]["lr"] == 0.0  # linear decay ends at zero
    assert trainer.optimizer.param_groups[1]["lr"] == cfg.lr_head_finetune


# --------------------------------------------------------------------------------------------
# resume
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        dict(scope="full"),
        dict(scope="subgraph", pseudo_labels=0.25, lm_dropout=True, lr_lm=1e-3),
        dict(scope="full", refresh_order="influence", pseudo_labels=0.25, pseudo_relabel=True),
    ],
    ids=["full", "subgraph-pseudo-dropout", "influence-relabel"],
)
def test_resume_continues_to_the_uninterrupted_result(
    graph, splits, make_encoder, tiny_config, tmp_path, crash_after_epoch, changes
):
    cfg = tiny_config(epochs=2, patience=100, **changes)
    a = LeadingTrainer(graph, splits, make_encoder(seed=3), cfg, run_dir=tmp_path / "a", seed=1)
    res_a = a.fit()
    assert not (tmp_path / "a" / "checkpoint.pt").exists()

    disarm = crash_after_epoch(1)
    b = LeadingTrainer(graph, splits, make_encoder(seed=3), cfg, run_dir=tmp_path / "b", seed=1)
    with pytest.raises(KeyboardInterrupt):
        b.fit()
    disarm()
    assert (tmp_path / "b" / "checkpoint.pt").exists()
    assert len((tmp_path / "b" / "metrics.csv").read_text().splitlines()) == 1 + 2

    torch.manual_seed(12345)  # the global RNG must come from the checkpoint, not from here
    c = LeadingTrainer(
        graph, splits, make_encoder(seed=3), cfg.replace(resume=True), run_dir=tmp_path / "b",
        seed=1,
    )
    res_c = c.fit()
    assert not (tmp_path / "b" / "checkpoint.pt").exists()

    assert res_c.best_epoch == res_a.best_epoch
    assert_same_state(res_a.encoder.state_dict(), res_c.encoder.state_dict())
    assert_same_state(a.head.state_dict(), c.head.state_dict())
    torch.testing.assert_close(res_c.embeddings, res_a.embeddings, atol=1e-6, rtol=0)
    assert_same_history(res_a.history, res_c.history)
    assert res_c.e2e == pytest.approx(res_a.e2e)
    for k in ("encodings_per_target_per_epoch", "encodings_per_node_per_epoch", "lm_epochs_run"):
        assert res_c.stats[k] == res_a.stats[k]
    # the state after the last epoch (not only the best one) matches too
    assert torch.equal(c.targets, a.targets) and torch.equal(c.labels, a.labels)
    assert_same_state(a.memory.state_dict(), c.memory.state_dict())
    opt_a, opt_c = a.optimizer.state_dict()["state"], c.optimizer.state_dict()["state"]
    assert opt_a.keys() == opt_c.keys()
    for k in opt_a:
        assert_same_state(opt_a[k], opt_c[k])
    assert (tmp_path / "a" / "metrics.csv").read_text().splitlines()[0] == (
        (tmp_path / "b" / "metrics.csv").read_text().splitlines()[0]
    )


# --------------------------------------------------------------------------------------------
# pseudo-labels never read validation / test labels
# --------------------------------------------------------------------------------------------


def scrambled(graph: TextAttributedGraph, nodes: torch.Tensor) -> TextAttributedGraph:
    y = graph.y.clone()
    y[nodes] = (y[nodes] + 1 + nodes % 2) % graph.num_classes  # another valid class, always
    assert bool((y[nodes] != graph.y[nodes]).all())
    return TextAttributedGraph(graph.texts, graph.edge_index, y, graph.class_names, name="tiny")


def fit_summary(trainer: LeadingTrainer) -> dict:
    res = trainer.fit()
    return {
        "res": res,
        "encoder": {k: v.clone() for k, v in res.encoder.state_dict().items()},
        "head": copy.deepcopy(trainer.head.state_dict()),
        "labels": trainer.labels.clone(),
        "targets": trainer.targets.clone(),
        "memory": copy.deepcopy(trainer.memory.state_dict()),
    }


def assert_same_run(a: dict, b: dict, drop=("epoch_time_s",)) -> None:
    assert torch.equal(a["targets"], b["targets"]) and torch.equal(a["labels"], b["labels"])
    assert_same_state(a["encoder"], b["encoder"], atol=0)
    assert_same_state(a["head"], b["head"], atol=0)
    assert_same_state(a["memory"], b["memory"], atol=0)
    assert torch.equal(a["res"].embeddings, b["res"].embeddings)
    assert a["res"].best_epoch == b["res"].best_epoch
    assert_same_history(a["res"].history, b["res"].history, drop)


@pytest.mark.parametrize("relabel", [False, True], ids=["fixed", "relabel"])
def test_pseudo_labels_ignore_test_and_unlabelled_labels(
    graph, splits, make_encoder, tiny_config, relabel
):
    cfg = tiny_config(pseudo_labels=0.5, lr_lm=1e-3, pseudo_relabel=relabel, epochs=3)
    n = graph.num_nodes
    in_split = torch.zeros(n, dtype=torch.bool)
    for v in splits.values():
        in_split[v] = True
    hidden = torch.cat([splits["test"], (~in_split).nonzero().view(-1)])
    assert hidden.numel() == 9 + 6

    ref = fit_summary(LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0))
    other = fit_summary(
        LeadingTrainer(scrambled(graph, hidden), splits, make_encoder(), cfg, seed=0)
    )
    num_pseudo = round(0.5 * (n - splits["train"].numel()))
    assert ref["targets"].numel() == splits["train"].numel() + num_pseudo == 24
    pseudo = ref["targets"][splits["train"].numel():]
    assert bool((ref["labels"][pseudo] >= 0).all())
    # identical runs; only the reported test accuracy may differ
    assert_same_run(ref, other, drop=("epoch_time_s", "test_acc"))


def test_pseudo_relabel_renews_the_pseudo_labels_every_epoch(
    graph, splits, make_encoder, tiny_config
):
    cfg = tiny_config(pseudo_labels=0.5, lr_lm=1e-3, pseudo_relabel=True, epochs=3, patience=9)
    trainer = LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0)
    seen = []
    add = trainer.task.pseudo_label

    def recording_add(trainer_):
        add(trainer_)
        # only the training nodes and the current pseudo-labelled targets carry a label
        assert torch.equal((trainer.labels >= 0).nonzero().view(-1), trainer.targets.sort().values)
        seen.append((trainer.targets.clone(), trainer.labels.clone()))

    trainer.task.pseudo_label = recording_add
    trainer.fit()
    assert len(seen) == 3  # after the warm-up, then before LM epochs 2 and 3
    num_train = splits["train"].numel()
    for targets, labels in seen:
        assert targets.numel() == num_train + 12
        assert torch.equal(targets[:num_train], splits["train"])
        assert torch.equal(labels[splits["train"]], graph.y[splits["train"]])


def test_validation_labels_are_read_only_by_evaluation(graph, splits, make_encoder, tiny_config):
    r"""Every non-training label scrambled, but :meth:`evaluate` (model selection and reports)
    scores against the true labels: the run must be the same as with the true labels."""
    cfg = tiny_config(pseudo_labels=0.5, lr_lm=1e-3)
    train = torch.zeros(graph.num_nodes, dtype=torch.bool)
    train[splits["train"]] = True
    ref = fit_summary(LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0))

    other_graph = scrambled(graph, (~train).nonzero().view(-1))
    trainer = LeadingTrainer(other_graph, splits, make_encoder(), cfg, seed=0)
    evaluate = trainer.evaluate

    def evaluate_with_true_labels(*args, **kwargs):
        y, other_graph.y = other_graph.y, graph.y
        try:
            return evaluate(*args, **kwargs)
        finally:
            other_graph.y = y

    trainer.evaluate = evaluate_with_true_labels
    other = fit_summary(trainer)
    assert_same_run(ref, other)
    pseudo = other["targets"][splits["train"].numel():]
    assert pseudo.numel() == 12
    assert not bool(torch.isin(pseudo, splits["train"]).any())


# --------------------------------------------------------------------------------------------
# learning, model selection, outputs
# --------------------------------------------------------------------------------------------


def test_training_makes_progress(graph, splits, make_encoder, tiny_config, tmp_path):
    enc = make_encoder()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    cfg = tiny_config(head_epochs=30, epochs=3, patience=10, lr_lm=1e-3)
    trainer = LeadingTrainer(graph, splits, enc, cfg, run_dir=tmp_path, seed=0)
    res = trainer.fit()
    warm, first, last = res.history[0], res.history[1], res.history[-1]
    assert warm["epoch"] == 0 and math.isnan(warm["train_loss"])
    assert warm["train_acc"] >= 0.9  # the head warm-up fits the training nodes
    assert warm["valid_acc"] > 0.5  # and generalizes beyond chance (1/3)
    assert last["epoch"] == 3 and last["train_loss"] < first["train_loss"]
    assert res.e2e["valid_acc"] > 0.5
    assert res.embeddings.shape == (graph.num_nodes, 32)
    assert torch.isfinite(res.embeddings).all()
    # the embeddings are an ordinary tensor: a downstream model can train on them
    assert not res.embeddings.is_inference()
    torch.nn.Linear(32, 3)(res.embeddings).sum().backward()
    if res.best_epoch > 0:  # the LM returned is the fine-tuned one
        assert any(not torch.equal(before[k], v) for k, v in enc.state_dict().items())
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].split(",")[:2] == ["epoch", "train_loss"] and len(lines) == 1 + 4
    assert not (tmp_path / "checkpoint.pt").exists()


def constant_validation(trainer: LeadingTrainer, monkeypatch) -> None:
    evaluate = trainer.evaluate
    monkeypatch.setattr(
        trainer, "evaluate", lambda *a, **k: {**evaluate(*a, **k), "valid_acc": 0.5}
    )


def test_select_pretrained_keeps_the_pretrained_lm_and_stops_early(
    graph, splits, make_encoder, tiny_config, monkeypatch
):
    enc = make_encoder()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    cfg = tiny_config(epochs=5, patience=2, lr_lm=1e-3, select_pretrained=True)
    trainer = LeadingTrainer(graph, splits, enc, cfg, seed=0)
    constant_validation(trainer, monkeypatch)  # epoch 0 (the pretrained LM) stays the best
    res = trainer.fit()
    assert res.best_epoch == 0 and res.stats["lm_epochs_run"] == 2
    assert [r["epoch"] for r in res.history] == [0, 1, 2]
    assert_same_state(before, enc.state_dict(), atol=0)
    assert res.encoder is enc
    with torch.no_grad():
        ref = enc.encode_all(trainer.tokens, progress=False)
    assert torch.equal(res.embeddings, ref)


def test_default_selection_returns_a_fine_tuned_lm(
    graph, splits, make_encoder, tiny_config, monkeypatch
):
    enc = make_encoder()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    cfg = tiny_config(epochs=5, patience=2, lr_lm=1e-3)
    trainer = LeadingTrainer(graph, splits, enc, cfg, seed=0)
    constant_validation(trainer, monkeypatch)
    epoch_states = []
    record = trainer.record_epoch

    def snapshot(*args):
        epoch_states.append({k: v.clone() for k, v in enc.state_dict().items()})
        return record(*args)

    trainer.record_epoch = snapshot
    res = trainer.fit()
    # epoch 1 replaces epoch 0 even without a better validation accuracy; later ties do not
    assert res.best_epoch == 1 and res.stats["lm_epochs_run"] == 3
    assert_same_state(epoch_states[1], enc.state_dict(), atol=0)
    assert any(not torch.equal(before[k], v) for k, v in enc.state_dict().items())


def test_unlabelled_graph_is_refused(graph, splits, make_encoder, tiny_config):
    unlabelled = TextAttributedGraph(graph.texts, graph.edge_index, name="nolabels")
    with pytest.raises(ValueError, match="nolabels: node classification needs labels"):
        LeadingTrainer(unlabelled, splits, make_encoder(), tiny_config())


@pytest.mark.parametrize("head", ["appnp", "gcn", "sage"])
@pytest.mark.parametrize("scope", ["full", "subgraph"])
def test_every_head_and_scope_trains(graph, splits, make_encoder, tiny_config, head, scope):
    cfg = tiny_config(head=head, scope=scope, epochs=1, head_epochs=2)
    res = LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0).fit()
    assert len(res.history) == 2 and math.isfinite(res.history[1]["train_loss"])
    assert res.stats["encodings_per_target_per_epoch"] == 2.0


def test_refit_head_fits_the_head_on_the_final_embeddings(graph, splits, make_encoder, tiny_config):
    n = graph.num_nodes
    for refit in (False, True):
        trainer = LeadingTrainer(
            graph, splits, make_encoder(), tiny_config(refit_head=refit, lr_lm=1e-3), seed=0
        )
        seen = []
        warmup = trainer.head_warmup

        def recording(warmup=warmup, trainer=trainer, seen=seen):
            seen.append(trainer.memory.read(torch.arange(n)).clone())
            warmup()

        trainer.head_warmup = recording
        res = trainer.fit()
        # the warm-up on the prefilled memory, then (refit_head) again on the final embeddings
        assert len(seen) == 1 + refit
        if refit:
            torch.testing.assert_close(seen[1], res.embeddings, atol=0, rtol=0)
            assert not torch.equal(seen[0], seen[1])  # the LM moved
        # the reported figure is the head's accuracy on the returned embeddings
        assert res.e2e == trainer.evaluate(res.embeddings)


def test_default_epochs_run_one_lm_epoch_for_leading(graph, splits, make_encoder, tiny_config):
    cfg = tiny_config(epochs=None, pseudo_labels=1.0, patience=9)
    trainer = LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0)
    res = trainer.fit()
    assert [row["epoch"] for row in res.history] == [0, 1] and res.best_epoch == 1
    # every node is a target, so the epoch encodes each node once with gradient
    assert trainer.targets.numel() == graph.num_nodes
    assert torch.equal(trainer.memory.grad_encodings, torch.ones(graph.num_nodes, dtype=torch.long))
