r"""The trainer is task-agnostic: a task that is neither node classification nor link prediction
(a per-node regression defined here, on the head's 1-d output, with an MSE loss) runs end to end
through :class:`~leading.train.trainer.Trainer`."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leading.train.task import Task
from leading.train.trainer import Trainer


class NodeRegression(Task):
    r"""Predicts a scalar per node (its class index plus noise) from the head's 1-d output;
    targets are the training nodes; model selection by the negative MSE on validation."""

    name = "regression"
    select_metric = "neg_mse"

    def __init__(self, graph, splits: dict[str, Tensor]) -> None:
        self.edge_index, self.num_nodes = graph.edge_index, graph.num_nodes
        self.out_channels = 1
        self.splits = splits
        self.eval_parts = ("valid", "test")
        noise = torch.randn(graph.num_nodes, generator=torch.Generator().manual_seed(0))
        self.y = graph.y.float() + 0.1 * noise
        self.lm_batches: list[Tensor] = []  # every LM epoch's batches, for the test
        self.setup_calls = 0

    def setup(self, trainer) -> None:
        self.setup_calls += 1

    def num_items(self) -> int:
        return self.splits["train"].numel()

    def warmup_batch(self) -> Tensor:
        return self.splits["train"]

    def epoch_batches(self, generator: torch.Generator, batch_size: int) -> list[Tensor]:
        train = self.splits["train"]
        batches = list(train[torch.randperm(train.numel(), generator=generator)].split(batch_size))
        self.lm_batches += batches
        return batches

    def batch_targets(self, batch: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return batch, self.y[batch]

    def loss(self, out: Tensor, info: Tensor, model: nn.ModuleDict) -> Tensor:
        assert out.shape == (info.numel(), 1)
        return F.mse_loss(out.squeeze(-1), info.to(out.device))

    def metrics(self, out: Tensor, parts: tuple[str, ...], model: nn.ModuleDict) -> dict:
        assert out.shape == (self.num_nodes, 1)
        pred = out.squeeze(-1).cpu()
        return {
            f"{k}_neg_mse": -float(F.mse_loss(pred[self.splits[k]], self.y[self.splits[k]]))
            for k in parts
        }


def test_custom_task_runs_end_to_end(graph, splits, make_encoder, tiny_config, tmp_path):
    enc = make_encoder()
    initial = {k: v.clone() for k, v in enc.state_dict().items()}
    tokens = enc.tokenize(graph.texts)
    task = NodeRegression(graph, splits)
    cfg = tiny_config(epochs=2, head_epochs=3, refresh_batch_size=0, refit_head=True)
    trainer = Trainer(task, enc, tokens, cfg, run_dir=tmp_path, seed=0)
    assert task.setup_calls == 1
    assert trainer.head.mlp.out_channels == 1  # sized by the task's out_channels
    n_train = splits["train"].numel()
    assert trainer.steps_per_epoch == math.ceil(n_train / cfg.batch_size)

    # every LM call with gradient, and the ids it encoded
    grad_calls = []
    encode = enc.encode

    def spy(toks, node_ids):
        if torch.is_grad_enabled():
            grad_calls.append(node_ids.clone())
        return encode(toks, node_ids)

    enc.encode = spy
    res = trainer.fit()

    # history: epoch 0 (after the head warm-up) and the 2 LM epochs, with the task's metric
    assert [row["epoch"] for row in res.history] == [0, 1, 2]
    for row in res.history:
        assert {"valid_neg_mse", "test_neg_mse", "train_loss", "lm_encodings"} <= row.keys()
        assert row["valid_neg_mse"] <= 0 and math.isfinite(row["valid_neg_mse"])
        assert "valid_acc" not in row
    assert math.isnan(res.history[0]["train_loss"])
    assert all(math.isfinite(row["train_loss"]) for row in res.history[1:])

    # model selection by valid_neg_mse, over the LM epochs (epoch 0 only with select_pretrained)
    scores = [row["valid_neg_mse"] for row in res.history[1:]]
    assert res.best_epoch == 1 + scores.index(max(scores))

    # the fine-tuned LM's embeddings of every node; the LM did move
    assert res.embeddings.shape == (graph.num_nodes, enc.hidden_size)
    assert torch.isfinite(res.embeddings).all()
    assert any(not torch.equal(v, initial[k]) for k, v in enc.state_dict().items())
    assert set(res.e2e) == {"valid_neg_mse", "test_neg_mse"}

    # only the task's targets were encoded with gradient: one call per batch, on that batch
    assert len(grad_calls) == len(task.lm_batches) == 2 * trainer.steps_per_epoch
    for ids, batch in zip(grad_calls, task.lm_batches, strict=True):
        assert torch.equal(ids.cpu(), batch)
    counts = trainer.memory.grad_encodings.cpu()
    train_mask = torch.zeros(graph.num_nodes, dtype=torch.bool)
    train_mask[splits["train"]] = True
    assert (counts[train_mask] == 2).all()  # each target once per LM epoch
    assert (counts[~train_mask] == 0).all()

    # the run directory holds the task's metrics and no checkpoint once finished
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["epoch", "train_loss"] and "valid_neg_mse" in header
    assert not (tmp_path / "checkpoint.pt").exists()


class ScriptedRegression(NodeRegression):
    r"""Reports a scripted validation score per LM epoch, to test model selection."""

    def __init__(self, graph, splits, scores: dict[int, float]) -> None:
        super().__init__(graph, splits)
        self.scores, self.epoch = scores, 0

    def before_epoch(self, trainer) -> None:
        self.epoch = trainer.epoch

    def metrics(self, out, parts, model) -> dict:
        return {f"{k}_neg_mse": self.scores[self.epoch] for k in parts}


@pytest.mark.parametrize(
    "scores, changes, best, epochs_run",
    [
        # epoch 0 is better than every LM epoch but is replaced (no select_pretrained)
        ({0: -1.0, 1: -3.0, 2: -2.0, 3: -2.5}, {}, 2, 3),
        ({0: -1.0, 1: -3.0, 2: -2.0, 3: -2.5}, {"select_pretrained": True}, 0, 3),
        # early stopping by the task's metric: no improvement for `patience` epochs
        ({0: -1.0, 1: -2.0, 2: -3.0, 3: -1.0}, {"patience": 1}, 1, 2),
        ({0: -9.0, 1: -2.0, 2: -3.0, 3: -1.0}, {"patience": 2}, 3, 3),
    ],
)
def test_selection_and_early_stopping_follow_the_task_metric(
    graph, splits, make_encoder, tiny_config, scores, changes, best, epochs_run
):
    enc = make_encoder()
    task = ScriptedRegression(graph, splits, scores)
    cfg = tiny_config(
        epochs=3, head_epochs=1, refresh_batch_size=0, refit_head=False, prefill=False,
        **changes,
    )
    res = Trainer(task, enc, enc.tokenize(graph.texts), cfg, seed=0).fit()
    assert res.best_epoch == best
    assert [row["epoch"] for row in res.history] == list(range(epochs_run + 1))
    assert [row["valid_neg_mse"] for row in res.history] == [
        scores[e] for e in range(epochs_run + 1)
    ]
