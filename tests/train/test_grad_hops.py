r"""``grad_hops``: how many hops of each sampled subgraph are encoded with gradient. 0 is LEADING's
neighbor decoupling, 1 the GAS baseline, -1 the coupled (no decoupling) baseline."""


import pytest
import torch
from test_methods import check_results
from test_node import fill_memory, spy_encode

from leading.config import Config
from leading.errors import ConfigError
from leading.run import run
from leading.train import LeadingTrainer
from leading.train.methods import method_overrides


@pytest.fixture(scope="module")
def method_config(tiny_config):
    r"""``method_config(method, **changes)``: the tiny configuration of :obj:`method` on sampled
    subgraphs, with the method's overrides."""

    def make(method: str, **changes) -> Config:
        cfg = tiny_config(method=method, scope="subgraph", **changes)
        return cfg.replace(**method_overrides(method))

    return make


def test_grad_hops_needs_the_subgraph_scope():
    with pytest.raises(ConfigError, match="needs scope 'subgraph'"):
        Config(grad_hops=1, scope="full")
    with pytest.raises(ConfigError, match="grad_hops must be >= -1"):
        Config(grad_hops=-2, scope="subgraph")
    for m in ("coupled", "gas"):
        cfg = Config(method=m).replace(**method_overrides(m))
        assert (cfg.scope, cfg.head, cfg.refresh_batch_size, cfg.refresh_fraction) == (
            "subgraph", "sage", 0, None
        )
    assert Config(method="coupled").replace(**method_overrides("coupled")).grad_hops == -1
    assert Config(method="gas").replace(**method_overrides("gas")).grad_hops == 1


@pytest.mark.parametrize(
    "method, hops", [("leading", 0), ("gas", 1), ("coupled", -1), ("coupled", 2)]
)
def test_the_first_hops_are_encoded_with_gradient(
    graph, splits, make_encoder, method_config, method, hops
):
    cfg = method_config(method, grad_hops=hops, fanouts=[3, 2], refresh_batch_size=0)
    enc = make_encoder()
    trainer = LeadingTrainer(graph, splits, enc, cfg, seed=0)
    n = graph.num_nodes
    fill_memory(trainer)
    subgraphs = []
    sample = trainer.sampler.sample
    trainer.sampler.sample = lambda t: subgraphs.append(sample(t)) or subgraphs[-1]
    calls, encode = spy_encode(enc)
    targets = splits["train"][torch.tensor([5, 0, 9, 2])]
    before = trainer.memory.grad_encodings.clone()
    trainer.training_step(targets, with_lm=True)

    (sub,) = subgraphs
    assert sub.num_sampled_nodes[1] > 0 and sub.num_sampled_nodes[2] > 0
    k = sub.num_nodes if hops == -1 else sum(sub.num_sampled_nodes[: hops + 1])
    expected = sub.node_ids[:k]
    assert torch.equal(expected[: targets.numel()], targets)
    (with_grad,) = [ids for ids, g in calls if g]
    assert torch.equal(with_grad, expected)
    counted = torch.zeros(n, dtype=torch.long)
    counted[expected] = 1
    assert torch.equal(trainer.memory.grad_encodings - before, counted)
    # every LM parameter that matters got a gradient, and the rows written are fresh
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())
    with torch.no_grad():
        torch.testing.assert_close(trainer.memory.read(expected), encode(trainer.tokens, expected))


@pytest.mark.parametrize("method", ["coupled", "gas"])
def test_coupled_and_gas_train(graph, splits, make_encoder, method_config, method):
    cfg = method_config(
        method, epochs=4, patience=10, lr_lm=1e-3, lr_head_finetune=1e-2, dropout=0.0
    )
    enc = make_encoder()
    before = {k: v.detach().clone() for k, v in enc.state_dict().items()}
    trainer = LeadingTrainer(graph, splits, enc, cfg, seed=0)
    assert trainer.refresh_size == 0  # no pipeline 2: the memory is only written by pipeline 1
    res = trainer.fit()
    assert res.embeddings.shape == (graph.num_nodes, 32)
    assert any(not torch.equal(before[k], v) for k, v in enc.state_dict().items())
    losses = [row["train_loss"] for row in res.history[1:]]
    assert losses[-1] < 0.8 * losses[0]
    # more than one LM encoding per target per epoch: the sampled neighbors are encoded too
    assert res.stats["encodings_per_target_per_epoch"] > 1.5


def test_coupled_encodes_more_than_gas_more_than_leading(
    graph, splits, make_encoder, method_config
):
    per_target = {}
    for method in ("leading", "gas", "coupled"):
        cfg = method_config(method, epochs=1, refresh_batch_size=0, fanouts=[3, 2])
        res = LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0).fit()
        per_target[method] = res.stats["encodings_per_target_per_epoch"]
    assert per_target["leading"] == 1.0
    assert 1.0 < per_target["gas"] < per_target["coupled"]


@pytest.mark.parametrize("method", ["coupled", "gas"])
def test_run_coupled_and_gas(run_config, method):
    cfg = run_config(method=method)
    result = run(cfg)
    check_results(cfg)
    assert result["method_overrides"]["head"] == "sage"
    assert result["train"]["encodings_per_target_per_epoch"] > 1.0
