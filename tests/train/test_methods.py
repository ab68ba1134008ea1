r"""The baselines of ``leading run --method``: ``shallow`` (TF-IDF / bag-of-words features) and
``supervised`` (the LM fine-tuned with a graph-less MLP head, via the LEADING trainer), on a tiny
graph with a tiny random BERT."""

import copy
import json
from pathlib import Path

import pytest
import torch

from leading.config import Config
from leading.data.graph import TextAttributedGraph
from leading.errors import ConfigError
from leading.graph.head import EndToEndHead
from leading.run import run
from leading.text.shallow import shallow_features
from leading.train import LeadingTrainer
from leading.train.methods import FINETUNING_METHODS, method_overrides


@pytest.fixture(scope="module")
def supervised_config(tiny_config):
    r"""``supervised_config(**changes)``: the tiny configuration of method supervised, with the
    method's overrides."""

    def make(**changes) -> Config:
        return tiny_config(method="supervised", **changes).replace(
            **method_overrides("supervised")
        )

    return make


# --------------------------------------------------------------------------------- overrides


def test_method_overrides():
    assert method_overrides("supervised") == {
        "head": "mlp", "refresh_batch_size": 0, "refresh_fraction": None, "pseudo_labels": 0.0,
        "eval_reencode": True,
    }
    for m in ("leading", "pretrained", "shallow"):
        assert method_overrides(m) == {}
    assert set(FINETUNING_METHODS) == {"leading", "supervised", "coupled", "gas", "glem"}
    method_overrides("supervised")["head"] = "gcn"  # a copy: the mapping is not changed
    assert method_overrides("supervised")["head"] == "mlp"
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        method_overrides("magic")
    # the user's head and refresh settings give way to the method's
    cfg = Config(method="supervised", head="gcn", refresh_fraction=0.5)
    cfg = cfg.replace(**method_overrides(cfg.method))
    assert (cfg.head, cfg.refresh_batch_size, cfg.refresh_fraction) == ("mlp", 0, None)
    # the graph-less head belongs to the supervised baseline only
    with pytest.raises(ConfigError, match="mlp only with method supervised"):
        Config(head="mlp")
    with pytest.raises(ConfigError, match="method must be one of"):
        Config(method="magic")


def test_mlp_head_ignores_the_graph(graph):
    n = graph.num_nodes
    head = EndToEndHead("mlp", n, 8, 16, 3).eval()
    assert head.prop is None and head.gnn is None and "mlp" in repr(head)
    h = torch.randn(n, 8)
    ids = torch.arange(n)
    out = head(h, graph.edge_index, ids)
    assert out.shape == (n, 3)
    torch.testing.assert_close(out, head(h, torch.empty(2, 0, dtype=torch.long), ids))
    torch.testing.assert_close(out[:5], head(h[:5], graph.edge_index[:, :0], ids[:5]))


# -------------------------------------------------------------------------------- supervised


def test_supervised_trains_the_lm_without_the_graph(graph, splits, make_encoder,
                                                    supervised_config):
    cfg = supervised_config(epochs=4, patience=10, lr_lm=1e-3, lr_head_finetune=1e-2, dropout=0.0)
    enc = make_encoder()
    before = {k: v.detach().clone() for k, v in enc.state_dict().items()}
    trainer = LeadingTrainer(graph, splits, enc, cfg, seed=0)
    assert trainer.refresh_size == 0  # no pipeline 2: plain supervised fine-tuning
    res = trainer.fit()
    assert res.embeddings.shape == (graph.num_nodes, 32)
    assert res.best_epoch >= 1
    # the LM learns: parameters change, and the training loss falls from epoch 1 to the last
    assert any(not torch.equal(before[k], v) for k, v in enc.state_dict().items())
    losses = [row["train_loss"] for row in res.history[1:]]
    assert len(losses) == 4 and losses == sorted(losses, reverse=True)
    assert losses[-1] < 0.8 * losses[0]
    # each epoch encodes the targets once with gradient and nothing else: the validation's
    # re-encoding of the validation and test nodes is not training cost
    assert res.stats["encodings_per_target_per_epoch"] == 1.0
    assert int(trainer.memory.grad_encodings.sum()) == 4 * splits["train"].numel()
    assert set(res.e2e) == {"train_acc", "valid_acc", "test_acc"}

    # no graph dependence: other edges (here none at all) give the same training trajectory
    empty = TextAttributedGraph(
        graph.texts, torch.empty(2, 0, dtype=torch.long), graph.y, graph.class_names, name="tiny"
    )
    enc2 = make_encoder()
    res2 = LeadingTrainer(empty, splits, enc2, cfg, seed=0).fit()
    assert res2.best_epoch == res.best_epoch
    for a, b in zip(res.history, res2.history, strict=True):
        for k in ("train_loss", "train_acc", "valid_acc", "test_acc", "lm_encodings"):
            assert a[k] == pytest.approx(b[k], abs=1e-6, nan_ok=True), (a["epoch"], k)
    torch.testing.assert_close(res2.embeddings, res.embeddings)

    # control: with a graph head (LEADING, pipeline 2 off too) the edges do change the trajectory
    graph_cfg = cfg.replace(method="leading", head="implicit", epochs=1)
    h1 = LeadingTrainer(graph, splits, make_encoder(), graph_cfg, seed=0).fit().history
    h2 = LeadingTrainer(empty, splits, make_encoder(), graph_cfg, seed=0).fit().history
    assert h1[1]["train_loss"] != pytest.approx(h2[1]["train_loss"], abs=1e-4)


def test_eval_reencode_validates_on_fresh_embeddings_without_counting(
    graph, splits, make_encoder, supervised_config
):
    trainer = LeadingTrainer(graph, splits, make_encoder(), supervised_config(), seed=0)
    assert trainer.cfg.eval_reencode
    n = graph.num_nodes
    fresh = trainer.encoder.encode_all(trainer.tokens, progress=False)
    # a memory that knows nothing: validation over it would be chance
    trainer.memory.write(torch.arange(n), torch.randn(n, 32), with_grad=False)
    state = copy.deepcopy(trainer.memory.state_dict())
    trainer.epoch = 1
    got = trainer.evaluate_epoch()
    # exactly the head over the validation / test nodes encoded by the current LM
    h = trainer.memory.read(torch.arange(n))
    evaluated = torch.cat([splits["valid"], splits["test"]])
    h[evaluated] = fresh[evaluated]
    assert got == trainer.evaluate(h)
    assert got != trainer.evaluate()
    # the memory and its counters are untouched: evaluation is not training
    for k, v in trainer.memory.state_dict().items():
        assert torch.equal(torch.as_tensor(v), torch.as_tensor(state[k])), k


# ----------------------------------------------------------------------- leading run --method


def check_results(cfg: Config) -> dict:
    result = json.loads((Path(cfg.out_dir) / "results.json").read_text())
    assert result["method"] == cfg.method and result["seeds"] == [0, 1]
    gcn = result["downstream"]["gcn"]
    assert set(gcn) == {"test_acc", "valid_acc", "mean", "std"}
    assert len(gcn["test_acc"]) == 2 and all(0.0 <= a <= 1.0 for a in gcn["test_acc"])
    assert [r["method"] for r in result["per_seed"]] == [cfg.method] * 2
    assert result["train"]["peak_rss_mb"] > 0
    return result


def test_run_shallow(run_config, tmp_path, monkeypatch, graph):
    import leading.run as run_module

    calls = []
    features = run_module.shallow_features

    def counting(*args, **kwargs):
        calls.append(args)
        return features(*args, **kwargs)

    monkeypatch.setattr(run_module, "shallow_features", counting)
    # no LM is loaded: the lm setting names nothing that exists
    cfg = run_config(lm=tmp_path / "no-such-lm", method="shallow", shallow_kind="bow",
                     shallow_max_features=10)
    result = run(cfg)
    assert result == check_results(cfg)
    assert len(calls) == 1  # computed once, shared by both seeds
    assert result["shallow"] == {"kind": "bow", "max_features": 10}
    assert result["method_overrides"] == {}
    assert "e2e" not in result and "best_epoch" not in result
    assert result["train"]["encodings_per_node_per_epoch"] == 0.0
    x = torch.load(tmp_path / "out" / "seed_1" / "embeddings.pt")
    torch.testing.assert_close(x, shallow_features(graph.texts, "bow", 10))
    assert x.shape == (graph.num_nodes, 10)


def test_run_supervised(run_config, graph, tmp_path):
    cfg = run_config(method="supervised")
    n = graph.num_nodes
    result = run(cfg)
    check_results(cfg)
    assert result["method_overrides"]["head"] == "mlp"
    assert len(result["e2e"]["test_acc"]) == 2 and len(result["best_epoch"]) == 2
    # one LM encoding per target with gradient, nothing else
    train = result["train"]
    assert train["encodings_per_target_per_epoch"] == 1.0
    assert train["encodings_per_node_per_epoch"] == pytest.approx(12 / n)
    assert torch.load(tmp_path / "out" / "seed_0" / "embeddings.pt").shape == (n, 32)
    assert Config.load(tmp_path / "out" / "config.yaml") == cfg
