r"""LEADING for link prediction on a tiny text-attributed graph (36 nodes in 3 communities whose
texts give the community away) with a tiny random BERT: which rows reach the LM, the encoding
counters, the graph the head propagates over, and that training lowers the loss."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from test_node import (
    assert_lm_grad_is_vjp,
    assert_same_history,
    assert_step_encodings,
    capture_head_inputs,
    fill_memory,
    spy_encode,
)

from leading.config import Config
from leading.data.link_splits import make_link_split
from leading.errors import ConfigError
from leading.train import LinkTrainer
from leading.train.methods import method_overrides


@pytest.fixture(scope="module")
def graph(tiny_graph):
    r"""The tiny graph without its labels: 36 nodes in 3 communities."""
    return tiny_graph(labelled=False)


@pytest.fixture(scope="module")
def link_config(tiny_config):
    r"""``link_config(**changes)``: the tiny configuration of ``task="link"``."""
    return functools.partial(tiny_config, task="link")


@pytest.fixture(scope="module")
def split(graph):
    return make_link_split(graph, "60/20/20", seed=0, num_neg_targets=10)


def held_out_keys(split) -> set[tuple[int, int]]:
    return {tuple(sorted(e)) for e in torch.cat([split.valid, split.test], 1).t().tolist()}


# --------------------------------------------------------------------------------------------
# pipeline 1: only the endpoints of the batch's pairs are encoded with gradient
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["full", "subgraph"])
def test_only_endpoint_rows_receive_lm_gradient(graph, split, make_encoder, link_config, scope):
    enc = make_encoder()
    trainer = LinkTrainer(graph, split, enc, link_config(scope=scope, link_negatives=2), seed=0)
    fill_memory(trainer)
    calls, encode = spy_encode(enc)  # (node ids, grad enabled) of every LM call
    drawn = []
    pairs = trainer.task.pairs

    def record(edges, generator):
        out = pairs(edges, generator)
        drawn.append(out)
        return out

    trainer.task.pairs = record
    head_inputs = capture_head_inputs(trainer.head)

    edges = split.train[:, :4]
    before = trainer.memory.grad_encodings.clone(), trainer.memory.free_encodings.clone()
    loss = trainer.training_step(edges, with_lm=True)
    assert math.isfinite(loss)

    (pair_ids, labels), = drawn
    assert pair_ids.shape == (2, 4 * 3) and labels.tolist() == [1.0] * 4 + [0.0] * 8
    endpoints = torch.unique(pair_ids)
    # positives are the batch's edges (randomly oriented); negatives share their source
    assert {tuple(sorted(e)) for e in pair_ids[:, :4].t().tolist()} == {
        tuple(sorted(e)) for e in edges.t().tolist()
    }
    assert torch.equal(pair_ids[0, 4:], pair_ids[0, :4].repeat_interleave(2))
    # the LM ran with gradient once, on exactly the distinct endpoints; pipeline 2 without, on
    # 4 nodes; the memory counted exactly these
    assert trainer.refresh_size == 4
    assert_step_encodings(trainer, calls, before, endpoints)
    assert not trainer.memory.values.requires_grad

    # the head propagated over training edges only
    (h, edge_index, node_ids), = head_inputs
    glob = node_ids[edge_index]
    assert not ({tuple(sorted(e)) for e in glob.t().tolist()} & held_out_keys(split))
    if scope == "subgraph":
        assert torch.equal(node_ids[: endpoints.numel()], endpoints)
        assert h.size(0) > endpoints.numel()

    # the LM gradient is the vector-Jacobian product of the endpoint rows alone
    rows = endpoints if scope == "full" else torch.arange(endpoints.numel())
    assert_lm_grad_is_vjp(enc, encode, trainer.tokens, endpoints, h, rows)


def test_message_passing_never_sees_held_out_edges(graph, split, make_encoder, link_config):
    trainer = LinkTrainer(graph, split, make_encoder(), link_config(), seed=0)
    assert torch.equal(trainer.task.edge_index, split.message_passing_edge_index())
    seen = []
    trainer.head.register_forward_pre_hook(lambda m, args: seen.append(args[1].clone()))
    trainer.fit()  # warm-up, LM epochs, evaluation, refit, final evaluation
    assert len(seen) > 10
    held = held_out_keys(split)
    train = {tuple(sorted(e)) for e in split.train.t().tolist()}
    for ei in seen:
        pairs = {tuple(sorted(e)) for e in ei.t().tolist()}
        assert pairs == train and not (pairs & held)


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------


def test_training_steps_lower_the_loss(graph, split, make_encoder, link_config):
    cfg = link_config(lr_lm=1e-3, lr_head_finetune=1e-2, dropout=0.0, epochs=20)
    trainer = LinkTrainer(graph, split, make_encoder(), cfg, seed=0)
    fill_memory(trainer)
    fixed = trainer.pairs(split.train[:, :8])
    trainer.task.pairs = lambda edges, generator: fixed  # the same pairs every step
    lm_before = {k: v.clone() for k, v in trainer.encoder.state_dict().items()}
    losses = []
    for _ in range(40):
        losses.append(trainer.training_step(split.train[:, :8], with_lm=True))
        trainer.optimizer_step(with_lm=True)
    assert losses[-1] < 0.75 * losses[0]  # the start is chance (scores near 0: about ln 2)
    changed = [k for k, v in trainer.encoder.state_dict().items()
               if not torch.equal(v, lm_before[k])]
    assert changed  # the LM itself was updated


def test_fit_counts_encodings_and_reports_metrics(
    graph, split, make_encoder, link_config, tmp_path
):
    cfg = link_config(epochs=2, patience=10)
    trainer = LinkTrainer(graph, split, make_encoder(), cfg, run_dir=tmp_path, seed=0)
    assert trainer.edges_per_epoch == 12 and trainer.steps_per_epoch == 3  # capped epoch
    calls, _ = spy_encode(trainer.encoder)
    res = trainer.fit()
    grad_calls = [ids.numel() for ids, with_grad in calls if with_grad]
    n = graph.num_nodes
    assert len(grad_calls) == 2 * 3
    assert int(trainer.memory.grad_encodings.sum()) == sum(grad_calls)
    # without gradient: the prefill, 2 epochs x 3 steps x 4 refreshes, the final encoding
    assert int(trainer.memory.free_encodings.sum()) == n + 2 * 3 * 4 + n
    assert res.stats["grad_encodings_per_epoch"] == sum(grad_calls) / 2
    assert res.stats["encodings_per_target_per_epoch"] == pytest.approx(
        (sum(grad_calls) + 2 * 3 * 4) / sum(grad_calls)
    )
    assert res.stats["lm_epochs_run"] == 2 and res.best_epoch in (1, 2)
    assert res.embeddings.shape == (n, 32)
    assert [r["epoch"] for r in res.history] == [0, 1, 2]
    for key in ("valid_auc", "valid_mrr", "valid_hits@1", "test_hits@5"):
        assert 0.0 <= res.history[-1][key] <= 1.0
        assert 0.0 <= res.e2e[key] <= 1.0
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,train_loss,valid_auc,valid_mrr") and len(lines) == 4


@pytest.mark.parametrize("scope", ["full", "subgraph"])
def test_resume_continues_to_the_uninterrupted_result(
    graph, split, make_encoder, link_config, tmp_path, crash_after_epoch, scope
):
    cfg = link_config(epochs=3, patience=100, scope=scope, link_decoder="mlp")

    def make(run: str, **changes) -> LinkTrainer:
        return LinkTrainer(graph, split, make_encoder(seed=3), cfg.replace(**changes),
                           run_dir=tmp_path / run, seed=1)

    res_a = make("a").fit()
    disarm = crash_after_epoch(2)
    with pytest.raises(KeyboardInterrupt):
        make("b").fit()
    disarm()
    assert (tmp_path / "b" / "checkpoint.pt").exists()
    torch.manual_seed(12345)  # the global RNG must come from the checkpoint, not from here
    c = make("b", resume=True)
    res_c = c.fit()
    assert not (tmp_path / "b" / "checkpoint.pt").exists()
    assert res_c.best_epoch == res_a.best_epoch
    torch.testing.assert_close(res_c.embeddings, res_a.embeddings, atol=1e-6, rtol=0)
    assert_same_history(res_a.history, res_c.history)
    assert res_c.e2e == pytest.approx(res_a.e2e)
    assert res_c.stats["grad_encodings_per_epoch"] == res_a.stats["grad_encodings_per_epoch"]
    assert (tmp_path / "a" / "metrics.csv").read_text().splitlines()[0] == (
        (tmp_path / "b" / "metrics.csv").read_text().splitlines()[0]
    )


def test_supervised_overrides_give_a_graph_free_head(graph, split, make_encoder, link_config):
    cfg = link_config(method="supervised").replace(**method_overrides("supervised"))
    trainer = LinkTrainer(graph, split, make_encoder(), cfg, seed=0)
    assert trainer.head.kind == "mlp" and trainer.refresh_size == 0  # pipeline 2 off
    res = trainer.fit()
    n = graph.num_nodes
    assert res.embeddings.shape == (n, 32)
    # validation re-encodes every node but neither counts nor stores it: only the prefill and
    # the final encoding are gradient-free encodings
    assert int(trainer.memory.free_encodings.sum()) == 2 * n
    assert res.stats["encodings_per_target_per_epoch"] == 1.0


def test_config_errors_for_link_task():
    with pytest.raises(ConfigError, match="task link supports methods"):
        Config(task="link", method="glem")
    with pytest.raises(ConfigError, match="link_decoder must be dot or mlp"):
        Config(task="link", link_decoder="cosine")
    with pytest.raises(ConfigError, match=r"hits_k: every value must be >= 1, got 0 in \[0\]"):
        Config(task="link", hits_k=[0])
    with pytest.raises(ConfigError, match="link_edges_per_epoch must be >= 1"):
        Config(task="link", link_edges_per_epoch=0)
    with pytest.raises(ConfigError, match="neighbor decoupling only"):
        Config(task="link", grad_hops=1, scope="subgraph")
