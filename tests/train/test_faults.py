r"""Faults during training: a non-finite loss or gradient stops the run with its cause, and a
damaged or foreign checkpoint is refused with a message instead of a wrong resume."""

import pytest
import torch

from leading.errors import ConfigError, DataError, NumericalError
from leading.train import LeadingTrainer
from leading.train.node import NodeTask


@pytest.fixture
def checkpointed(graph, splits, make_encoder, tiny_config, tmp_path, crash_after_epoch):
    r"""A run directory holding the checkpoint of epoch 1 of a run that was stopped there."""
    cfg = tiny_config(epochs=2, patience=100)
    disarm = crash_after_epoch(1)
    with pytest.raises(KeyboardInterrupt):
        LeadingTrainer(graph, splits, make_encoder(seed=3), cfg, run_dir=tmp_path, seed=1).fit()
    disarm()
    assert (tmp_path / "checkpoint.pt").exists()
    return cfg, tmp_path


@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_non_finite_value_stops_the_run_naming_step_and_causes(
    graph, splits, make_encoder, tiny_config, tmp_path, monkeypatch, where
):
    loss = NodeTask.loss

    def poisoned(self, out, info, model):
        value = loss(self, out, info, model)
        if not model.training or not torch.is_grad_enabled():
            return value
        if where == "loss" and trainer.epoch >= 1:
            return value * float("nan")
        if where == "gradient" and trainer.epoch >= 1:  # a finite loss, non-finite gradients
            out.register_hook(lambda grad: grad * float("inf"))
        return value

    monkeypatch.setattr(NodeTask, "loss", poisoned)
    cfg = tiny_config(epochs=2, patience=100)
    trainer = LeadingTrainer(graph, splits, make_encoder(), cfg, run_dir=tmp_path, seed=0)
    with pytest.raises(NumericalError) as e:
        trainer.fit()
    msg = str(e.value)
    what = "the loss is nan" if where == "loss" else "the gradient norm is"
    assert "seed 0, LM epoch 1, LM step 1" in msg and what in msg, msg
    assert "--lr-lm 2e-05" in msg and "--precision fp32" in msg, msg
    # the checkpoint of the warm-up (epoch 0) is kept for --resume
    assert f"{tmp_path / 'checkpoint.pt'}, is kept" in msg
    assert (tmp_path / "checkpoint.pt").exists()


def test_non_finite_value_in_the_warmup_names_the_head_rate(
    graph, splits, make_encoder, tiny_config, monkeypatch
):
    loss = NodeTask.loss
    monkeypatch.setattr(NodeTask, "loss", lambda *a: loss(*a) * float("inf"))
    trainer = LeadingTrainer(graph, splits, make_encoder(), tiny_config(), seed=0)
    with pytest.raises(NumericalError, match=r"seed 0, head warm-up: the loss is inf.*--lr-head"):
        trainer.fit()


def test_truncated_checkpoint_is_refused_with_its_path(
    graph, splits, make_encoder, checkpointed
):
    cfg, run_dir = checkpointed
    path = run_dir / "checkpoint.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    trainer = LeadingTrainer(graph, splits, make_encoder(seed=3), cfg.replace(resume=True),
                             run_dir=run_dir, seed=1)
    with pytest.raises(DataError, match=f"{path}: cannot read this checkpoint.*truncated or "
                                        "corrupt. Delete it"):
        trainer.fit()


def test_checkpoint_of_other_settings_or_graph_is_refused(
    graph, splits, make_encoder, tiny_graph, checkpointed
):
    cfg, run_dir = checkpointed
    other = LeadingTrainer(graph, splits, make_encoder(seed=3),
                           cfg.replace(resume=True, hidden=32), run_dir=run_dir, seed=1)
    with pytest.raises(ConfigError, match=r"written by another run \(hidden 16, now 32\)"):
        other.fit()
    bigger = tiny_graph(per_class=13)
    from leading.data.splits import per_class_split

    other = LeadingTrainer(bigger, per_class_split(bigger.y, 4, 9, 9, seed=0),
                           make_encoder(seed=3), cfg.replace(resume=True), run_dir=run_dir,
                           seed=1)
    with pytest.raises(ConfigError, match=r"another run \(nodes 36, now 39\)"):
        other.fit()
    other = LeadingTrainer(graph, splits, make_encoder(seed=3), cfg.replace(resume=True),
                           run_dir=run_dir, seed=2)
    with pytest.raises(ConfigError, match=r"another run \(seed 1, now 2\)"):
        other.fit()


def test_resume_with_a_changed_learning_rate_says_so(
    graph, splits, make_encoder, checkpointed, capsys
):
    cfg, run_dir = checkpointed
    trainer = LeadingTrainer(graph, splits, make_encoder(seed=3),
                             cfg.replace(resume=True, lr_lm=1e-4), run_dir=run_dir, seed=1)
    trainer.fit()
    assert "with changed settings: lr_lm: 2e-05 -> 0.0001" in capsys.readouterr().err
