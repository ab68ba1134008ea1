r"""``--fsdp`` in one process: what it refuses, and the gradient clipping it shares with the
unsharded path. Training under FSDP with two processes is in ``test_distributed.py``."""

import pytest
import torch
from tiny import tiny_graph

from leading.data.splits import per_class_split
from leading.errors import ConfigError
from leading.fsdp import clip_grad_norm, load_module_state
from leading.text.encoder import TextEncoder
from leading.text.lora import apply_lora
from leading.train import LeadingTrainer
from leading.train.glem import GlemTrainer


@pytest.fixture
def encoder(tiny_bert, bert_tokenizer):
    return TextEncoder(tiny_bert, bert_tokenizer, "mean", 16)


def test_fsdp_needs_several_processes(encoder, tiny_config):
    graph = tiny_graph()
    splits = per_class_split(graph.y, 4, 9, 9, seed=0)
    with pytest.raises(ConfigError, match=r"--fsdp shards the LM over several processes.*--nproc"):
        LeadingTrainer(graph, splits, encoder, tiny_config(fsdp=True))
    assert not encoder.sharded


def test_fsdp_refuses_lora_and_glem(encoder, tiny_config):
    graph = tiny_graph()
    splits = per_class_split(graph.y, 4, 9, 9, seed=0)
    apply_lora(encoder, r=2, alpha=4.0)
    with pytest.raises(ConfigError, match=r"--fsdp with LoRA"):
        LeadingTrainer(graph, splits, encoder, tiny_config(fsdp=True, lora_r=2))
    with pytest.raises(ConfigError, match=r"--fsdp is not supported with --method glem"):
        GlemTrainer(graph, splits, encoder, tiny_config(method="glem", fsdp=True))


def test_clip_grad_norm_is_torchs_without_shards():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 4)
    for m in (a, b):
        (m(x) ** 2).sum().mul(10).backward()
    ours = clip_grad_norm(list(a.parameters()), 0.5)
    torchs = torch.nn.utils.clip_grad_norm_(list(b.parameters()), 0.5)
    assert torch.equal(ours, torchs) and float(ours) > 0.5
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad)


def test_load_module_state_of_an_unsharded_module_is_load_state_dict():
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    load_module_state(b, a.state_dict())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
