r"""The fine-tuning optimizer: two AdamW groups and the LM's warm-up / linear-decay schedule
against hand-computed learning rates."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from leading.config import Config
from leading.train.optim import build_optimizer

LR_LM, LR_HEAD = 1e-3, 5e-2


def config(**changes) -> Config:
    values = dict(
        epochs=2,
        warmup_ratio=0.25,
        grad_accum=1,
        lr_lm=LR_LM,
        lr_head_finetune=LR_HEAD,
        weight_decay=0.01,
        head_weight_decay=5e-4,
    )
    values.update(changes)
    return Config(**values)


def modules() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    return nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 2), nn.Linear(2, 2))


def lrs(cfg: Config, steps_per_epoch: int, num_steps: int) -> tuple[list[float], list[float]]:
    r"""The two groups' learning rates before the first step and after every scheduler step."""
    lm, head = modules()
    opt, sched = build_optimizer(lm.parameters(), head.parameters(), cfg, steps_per_epoch)
    lm_lrs, head_lrs = [opt.param_groups[0]["lr"]], [opt.param_groups[1]["lr"]]
    for _ in range(num_steps):
        opt.step()
        sched.step()
        lm_lrs.append(opt.param_groups[0]["lr"])
        head_lrs.append(opt.param_groups[1]["lr"])
    return lm_lrs, head_lrs


def test_two_adamw_groups():
    lm, head = modules()
    opt, sched = build_optimizer(lm.parameters(), head.parameters(), config(), 10)
    assert isinstance(opt, torch.optim.AdamW)
    assert isinstance(sched, torch.optim.lr_scheduler.LambdaLR)
    g_lm, g_head = opt.param_groups
    assert [id(p) for p in g_lm["params"]] == [id(p) for p in lm.parameters()]
    assert [id(p) for p in g_head["params"]] == [id(p) for p in head.parameters()]
    assert g_lm["weight_decay"] == 0.01 and g_head["weight_decay"] == 5e-4
    assert g_lm["initial_lr"] == LR_LM and g_head["initial_lr"] == LR_HEAD


def test_generators_are_consumed_once():
    lm, head = modules()
    opt, _ = build_optimizer(
        (p for p in lm.parameters()), (p for p in head.parameters()), config(), 4
    )
    assert len(opt.param_groups[0]["params"]) == 2 and len(opt.param_groups[1]["params"]) == 4


@pytest.mark.parametrize(
    "changes, steps_per_epoch, expected",
    [
        # 2 epochs x 8 steps = 16 optimizer steps, warm-up int(0.25 * 16) = 4 steps
        (
            {},
            8,
            [1 / 4, 2 / 4, 3 / 4, 1, 1, 11 / 12, 10 / 12, 9 / 12, 8 / 12, 7 / 12, 6 / 12,
             5 / 12, 4 / 12, 3 / 12, 2 / 12, 1 / 12, 0, 0],
        ),
        # grad_accum 2: ceil(5 / 2) = 3 optimizer steps per epoch, 6 in all, warm-up 3 steps
        (
            {"grad_accum": 2, "warmup_ratio": 0.5},
            5,
            [1 / 3, 2 / 3, 1, 1, 2 / 3, 1 / 3, 0, 0],
        ),
        # int(0.25 * 6) = 1 warm-up step: full lr at once, then decay over the other 5
        ({"grad_accum": 2}, 5, [1, 1, 4 / 5, 3 / 5, 2 / 5, 1 / 5, 0, 0]),
        # no warm-up requested: at least one step
        ({"warmup_ratio": 0.0, "epochs": 1}, 4, [1, 1, 2 / 3, 1 / 3, 0]),
        # 3 epochs x 2 steps, warm-up int(0.5 * 6) = 3
        ({"epochs": 3, "warmup_ratio": 0.5}, 2, [1 / 3, 2 / 3, 1, 1, 2 / 3, 1 / 3, 0]),
    ],
)
def test_lm_schedule_warms_up_then_decays_to_zero(changes, steps_per_epoch, expected):
    lm_lrs, head_lrs = lrs(config(**changes), steps_per_epoch, len(expected) - 1)
    assert lm_lrs == pytest.approx([LR_LM * f for f in expected], abs=1e-15)
    assert head_lrs == [LR_HEAD] * len(expected)  # the head's stays constant


def test_schedule_uses_lm_epochs():
    # Config.lm_epochs: epochs unset is 1 for LEADING on node classification, 2 otherwise
    cfg = config(epochs=None, warmup_ratio=0.5)
    assert cfg.lm_epochs == 1
    lm_lrs, _ = lrs(cfg, 4, 4)  # 4 steps, warm-up 2
    assert lm_lrs == pytest.approx([LR_LM * f for f in [1 / 2, 1, 1, 1 / 2, 0]], abs=1e-15)
    cfg = config(epochs=None, warmup_ratio=0.5, method="supervised")
    assert cfg.lm_epochs == 2
    lm_lrs, _ = lrs(cfg, 4, 8)  # 8 steps, warm-up 4
    expected = [1 / 4, 2 / 4, 3 / 4, 1, 1, 3 / 4, 2 / 4, 1 / 4, 0]
    assert lm_lrs == pytest.approx([LR_LM * f for f in expected], abs=1e-15)


def test_zero_epochs_or_steps_do_not_divide_by_zero():
    for changes, steps in (({"epochs": 0}, 5), ({}, 0)):
        lm_lrs, head_lrs = lrs(config(**changes), steps, 2)
        assert lm_lrs == pytest.approx([LR_LM, 0.0, 0.0], abs=1e-15)
        assert head_lrs == [LR_HEAD] * 3


def test_weight_decay_is_applied_per_group():
    # one AdamW step from zero gradients moves a parameter only by its group's weight decay
    lm, head = modules()
    cfg = config(weight_decay=0.1, head_weight_decay=0.0, warmup_ratio=0.0, epochs=1)
    opt, _ = build_optimizer(lm.parameters(), head.parameters(), cfg, 10)
    before_lm = lm.weight.detach().clone()
    before_head = head[0].weight.detach().clone()
    for p in list(lm.parameters()) + list(head.parameters()):
        p.grad = torch.zeros_like(p)
    opt.step()
    torch.testing.assert_close(lm.weight.detach(), before_lm * (1 - LR_LM * 0.1))
    torch.testing.assert_close(head[0].weight.detach(), before_head)
