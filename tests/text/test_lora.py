r"""LoRA adapters on the text encoder (:mod:`leading.text.lora`), with tiny random BERT, GPT-2 and
Llama models."""

from __future__ import annotations

import argparse
import copy
import functools
import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from leading.arguments import add_config_arguments, config_from_args
from leading.config import Config
from leading.errors import ConfigError, ModelError
from leading.text import (
    TextEncoder,
    apply_lora,
    default_target_modules,
    is_lora,
    maybe_apply_lora,
    merge_lora,
    merged_model,
    save_encoder,
    trainable_fraction,
)

peft = pytest.importorskip("peft")

MAX_LEN = 12




@pytest.fixture
def bert_encoder(make_bert, bert_tokenizer) -> TextEncoder:
    model = make_bert(len(bert_tokenizer), dtype=torch.float32)
    return TextEncoder(model, bert_tokenizer, "mean", MAX_LEN, bf16=False, name="tiny-bert")


@pytest.fixture
def make_encoder(request, bert_tokenizer, make_bert):
    r"""Builds a float32 encoder of architecture ``bert``, ``gpt2`` or ``llama``."""

    def make(arch: str) -> TextEncoder:
        if arch == "bert":
            return TextEncoder(
                make_bert(len(bert_tokenizer), dtype=torch.float32),
                bert_tokenizer,
                "mean",
                MAX_LEN,
                bf16=False,
                name=arch,
            )
        tok = request.getfixturevalue("gpt2_tokenizer")
        if arch == "gpt2":
            model = request.getfixturevalue("tiny_gpt2").float()
        else:
            model = request.getfixturevalue("make_llama")(len(tok), tok.eos_token_id)
        return TextEncoder(model, tok, "last", MAX_LEN, bf16=False, name=arch)

    return make


def lora_modules(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if hasattr(m, "lora_A") and len(m.lora_A)}


def randomize_adapters(model: nn.Module, seed: int = 1) -> None:
    r"""lora_B starts at zero (the adapter is then a no-op): give it values, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))


# ------------------------------------------------------------------ targets
@pytest.mark.parametrize(
    "arch, expected",
    [
        ("bert", {"query", "key", "value", "dense"}),
        ("gpt2", {"c_attn", "c_proj", "c_fc"}),
        ("llama", {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}),
    ],
)
def test_default_target_modules_per_architecture(make_encoder, arch, expected):
    enc = make_encoder(arch)
    assert set(default_target_modules(enc.model)) == expected
    apply_lora(enc, r=2, alpha=4.0)
    assert is_lora(enc) and is_lora(enc.model)
    adapted = lora_modules(enc.model)
    assert {n.rsplit(".", 1)[-1] for n in adapted} == expected
    # every layer got them (2 layers), and the unused BERT pooler did not
    assert {c for n in adapted for c in n.split(".") if c.isdigit()} == {"0", "1"}
    assert not any("pooler" in n for n in adapted)
    assert enc.hidden_size == 32 and f"type={arch}" in repr(enc)
    assert enc.decoder_only == (arch != "bert")


def test_bad_target_module_and_unknown_architecture(bert_encoder):
    with pytest.raises(ModelError, match=r"\['qery'\] match no module .*'query'"):
        apply_lora(bert_encoder, r=2, alpha=4.0, target_modules=["query", "qery"])
    assert not is_lora(bert_encoder)
    with pytest.raises(ModelError, match="empty"):
        apply_lora(bert_encoder, r=2, alpha=4.0, target_modules=[])
    with pytest.raises(ModelError, match="rank must be >= 1"):
        apply_lora(bert_encoder, r=0, alpha=4.0)
    apply_lora(bert_encoder, r=2, alpha=4.0, target_modules=["query"])
    with pytest.raises(ModelError, match="already has LoRA adapters"):
        apply_lora(bert_encoder, r=2, alpha=4.0)

    toy = nn.Module()
    toy.config = SimpleNamespace(model_type="toy")
    toy.proj = nn.Linear(4, 4)
    with pytest.raises(ModelError, match=r"model type 'toy'.*--lora-target-modules.*\['proj'\]"):
        default_target_modules(toy)


# ------------------------------------------------------------------ training
def test_lora_freezes_base_weights_and_trains_adapters(bert_encoder, texts):
    base = {k: v.clone() for k, v in bert_encoder.model.state_dict().items()}
    apply_lora(bert_encoder, r=4, alpha=8.0)
    named = dict(bert_encoder.model.named_parameters())
    trainable = {n for n, p in named.items() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    before = {n: p.detach().clone() for n, p in named.items()}
    opt = torch.optim.AdamW([named[n] for n in trainable], lr=1e-2, weight_decay=0.0)
    tokens = bert_encoder.tokenize(texts, cache=False)
    bert_encoder.train()
    target = torch.randn(len(texts), 32, generator=torch.Generator().manual_seed(0))

    def step() -> None:
        loss = (bert_encoder.encode(tokens, torch.arange(len(texts))) - target).pow(2).mean()
        loss.backward()
        assert all(named[n].grad is None for n in named if n not in trainable)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def changed(kind: str) -> bool:
        names = [n for n in trainable if kind in n and "pooler" not in n]
        return all(not torch.equal(named[n], before[n]) for n in names)

    step()  # B = 0 at the start, so only B gets a gradient at first ...
    assert changed("lora_B") and not any(
        not torch.equal(named[n], before[n]) for n in trainable if "lora_A" in n
    )
    step()  # ... and A from the second step on
    assert changed("lora_A") and changed("lora_B")
    for n, p in named.items():
        if n not in trainable:
            assert torch.equal(p, before[n]), n
    # the base model's own state is exactly the original one
    merged_base = bert_encoder.model.get_base_model().state_dict()
    for k, v in base.items():
        wrapped = k.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        got = merged_base[k] if k in merged_base else merged_base[wrapped]
        assert torch.equal(got, v), k


def test_trainable_fraction_is_exact(make_encoder):
    r = 4
    bert = make_encoder("bert")
    n_base = sum(p.numel() for p in bert.parameters())
    assert trainable_fraction(bert) == (n_base, n_base, 1.0)
    apply_lora(bert, r=r, alpha=8.0)
    # per layer: query, key, value, attention output dense (32 -> 32): r * (32 + 32) each;
    # intermediate dense 32 -> 37 and output dense 37 -> 32: r * (32 + 37) each; 2 layers
    per_layer = 4 * r * 64 + 2 * r * 69
    lora = 2 * per_layer
    assert lora == 3152
    assert trainable_fraction(bert) == (lora, n_base + lora, lora / (n_base + lora))
    assert trainable_fraction(bert)[2] < 0.1

    gpt2 = make_encoder("gpt2")
    n_base = sum(p.numel() for p in gpt2.parameters())
    apply_lora(gpt2, r=r, alpha=8.0)
    # per layer: c_attn 32 -> 96, attn c_proj 32 -> 32, c_fc 32 -> 128, mlp c_proj 128 -> 32
    lora = 2 * r * ((32 + 96) + (32 + 32) + (32 + 128) + (128 + 32))
    assert trainable_fraction(gpt2) == (lora, n_base + lora, lora / (n_base + lora))


@pytest.fixture
def lora_config(tiny_config):
    r"""``lora_config(**changes)``: the tiny configuration with LoRA rank 2, one LM epoch and
    :data:`MAX_LEN` tokens."""
    return functools.partial(tiny_config, lora_r=2, epochs=1, max_length=MAX_LEN)


def test_trainer_optimizer_gets_only_trainable_parameters(bert_encoder, tiny_graph, lora_config):
    from leading.train import LeadingTrainer

    graph = tiny_graph(per_class=6)
    splits = {
        "train": torch.arange(0, 8),
        "valid": torch.arange(8, 13),
        "test": torch.arange(13, 18),
    }
    cfg = lora_config()
    info = maybe_apply_lora(bert_encoder, cfg.lora_r, seed=0, log=False)
    assert info["lora_r"] == 2 and info["trainable"] == trainable_fraction(bert_encoder)[0]
    frozen = {
        n: p.detach().clone() for n, p in bert_encoder.named_parameters() if not p.requires_grad
    }
    trainer = LeadingTrainer(graph, splits, bert_encoder, cfg, seed=0)
    lm_group = trainer.optimizer.param_groups[0]["params"]
    expected = [p for p in bert_encoder.parameters() if p.requires_grad]
    assert {id(p) for p in lm_group} == {id(p) for p in expected}
    assert sum(p.numel() for p in lm_group) == info["trainable"]
    lora_b = {n: p.detach().clone() for n, p in bert_encoder.named_parameters() if "lora_B" in n}
    res = trainer.fit()
    assert res.encoder is bert_encoder and is_lora(res.encoder)
    params = dict(bert_encoder.named_parameters())
    assert all(torch.equal(params[n], v) for n, v in frozen.items())
    assert any(not torch.equal(params[n], v) for n, v in lora_b.items())


# ------------------------------------------------------------------ merging and saving
@pytest.mark.parametrize("arch", ["bert", "gpt2", "llama"])
def test_merged_model_equals_lora_model(make_encoder, texts, arch):
    enc = make_encoder(arch)
    apply_lora(enc, r=4, alpha=8.0)
    randomize_adapters(enc.model)
    tokens = enc.tokenize(texts, cache=False)
    with_lora = enc.encode_all(tokens, progress=False)
    merged = merge_lora(enc)
    assert merged is not enc and is_lora(enc) and not is_lora(merged)
    assert not any("lora" in k for k in merged.model.state_dict())
    assert type(merged.model).__module__.startswith("transformers.")
    torch.testing.assert_close(
        merged.encode_all(tokens, progress=False), with_lora, atol=1e-5, rtol=1e-4
    )
    torch.testing.assert_close(enc.encode_all(tokens, progress=False), with_lora)  # unchanged
    assert merge_lora(merged) is merged
    # the encoder module's own merge (what TextEncoder.save_pretrained saves)
    assert merged_model(merged.model) is merged.model
    assert type(merged_model(enc.model)) is type(merged.model) and is_lora(enc)


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing")  # from peft's own loading
def test_save_encoder_writes_adapter_and_loadable_merged_model(bert_encoder, texts, tmp_path):
    from transformers import AutoModel

    base = copy.deepcopy(bert_encoder.model)
    apply_lora(bert_encoder, r=4, alpha=8.0)
    randomize_adapters(bert_encoder.model)
    tokens = bert_encoder.tokenize(texts, cache=False)
    expected = bert_encoder.encode_all(tokens, progress=False)

    save_encoder(bert_encoder, tmp_path)
    assert is_lora(bert_encoder)  # not inplace: the encoder keeps its adapters
    cfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["peft_type"] == "LORA"
    plain = AutoModel.from_pretrained(tmp_path / "model")
    assert type(plain).__name__ == "BertModel"
    back = TextEncoder(plain, bert_encoder.tokenizer, "mean", MAX_LEN, bf16=False)
    torch.testing.assert_close(
        back.encode_all(tokens, progress=False), expected, atol=1e-5, rtol=1e-4
    )
    reloaded = TextEncoder.from_pretrained(tmp_path / "model", "mean", MAX_LEN, bf16=False)
    torch.testing.assert_close(
        reloaded.encode_all(tokens, progress=False), expected, atol=1e-5, rtol=1e-4
    )
    # the adapter alone on the original base model gives the same encoder
    adapted = peft.PeftModel.from_pretrained(base, tmp_path / "adapter")
    again = TextEncoder(adapted, bert_encoder.tokenizer, "mean", MAX_LEN, bf16=False)
    torch.testing.assert_close(again.encode_all(tokens, progress=False), expected)
    # TextEncoder.save_pretrained saves the merged model too
    bert_encoder.save_pretrained(tmp_path / "direct")
    assert not (tmp_path / "direct" / "adapter_config.json").exists()
    assert type(AutoModel.from_pretrained(tmp_path / "direct")).__name__ == "BertModel"
    # inplace: the encoder itself holds the merged model afterwards, with the same outputs
    save_encoder(bert_encoder, tmp_path / "inplace", inplace=True)
    assert not is_lora(bert_encoder)
    torch.testing.assert_close(
        bert_encoder.encode_all(tokens, progress=False), expected, atol=1e-5, rtol=1e-4
    )


def test_save_encoder_without_lora_saves_model_only(bert_encoder, tmp_path):
    save_encoder(bert_encoder, tmp_path)
    assert (tmp_path / "model" / "config.json").exists() and not (tmp_path / "adapter").exists()


# ------------------------------------------------------------------ configuration
def test_config_lora_fields_and_flags():
    cfg = Config()
    assert cfg.lora_r == 0 and cfg.lora_alpha == 16.0 and cfg.lora_target_modules is None
    for bad in (dict(lora_r=-1), dict(lora_alpha=0.0), dict(lora_dropout=1.0)):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Config(**bad)
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(
        ["--lora-r", "8", "--lora-alpha", "32", "--lora-target-modules", "query", "value"]
    )
    cfg = config_from_args(args)
    assert cfg.lora_r == 8 and cfg.lora_alpha == 32.0
    assert cfg.lora_target_modules == ["query", "value"]
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_maybe_apply_lora(make_encoder, capsys):
    enc = make_encoder("bert")
    full = maybe_apply_lora(enc, 0, seed=0)
    assert not is_lora(enc) and full["fraction"] == 1.0 and full["lora_r"] == 0
    assert capsys.readouterr().out == ""
    state = torch.get_rng_state()
    info = maybe_apply_lora(enc, 4, target_modules=["query"], seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # the global random state is untouched
    assert is_lora(enc) and info["trainable"] == 2 * 4 * 64
    assert f"{100 * info['fraction']:.2f}% of" in capsys.readouterr().out
    # the same seed gives the same adapters; alpha and dropout reach peft's configuration
    other = make_encoder("bert")
    maybe_apply_lora(other, 4, 32.0, 0.1, ["query"], seed=3, log=False)
    lora_config = other.model.peft_config["default"]
    assert lora_config.lora_alpha == 32.0 and lora_config.lora_dropout == 0.1
    assert enc.model.peft_config["default"].lora_alpha == 16.0  # the default
    a = {n: p for n, p in enc.named_parameters() if "lora_A" in n}
    b = {n: p for n, p in other.named_parameters() if "lora_A" in n}
    assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)
    # an encoder that already has adapters is left as is
    assert maybe_apply_lora(enc, 8, log=False) == {**info, "lora_r": 8}


def test_run_seed_with_lora_saves_adapter_and_merged_model(
    bert_encoder, tiny_graph, lora_config, tmp_path, capsys
):
    from transformers import AutoModel

    from leading.run import run_seed

    bert_encoder.save_pretrained(tmp_path / "lm")
    cfg = lora_config(lm=tmp_path / "lm", split="50/25/25")
    graph = tiny_graph(per_class=6)
    out = run_seed(cfg, graph, 0, tmp_path / "seed_0", {})
    info = out["trainable_params"]
    assert info["lora_r"] == 2 and 0 < info["fraction"] < 0.2
    assert info["trainable"] == 2 * (4 * 2 * 64 + 2 * 2 * 69)  # 2 layers, r = 2: see above
    assert f"LoRA r=2: {100 * info['fraction']:.2f}% of" in capsys.readouterr().out
    assert (tmp_path / "seed_0" / "adapter" / "adapter_config.json").exists()
    merged = AutoModel.from_pretrained(tmp_path / "seed_0" / "model")
    assert type(merged).__name__ == "BertModel"
    enc = TextEncoder.from_pretrained(tmp_path / "seed_0" / "model", "mean", MAX_LEN, bf16=False)
    x = torch.load(tmp_path / "seed_0" / "embeddings.pt")
    torch.testing.assert_close(
        enc.encode_all(enc.tokenize(graph.texts), progress=False), x, atol=1e-5, rtol=1e-4
    )
    assert "gcn" in out["downstream"]
