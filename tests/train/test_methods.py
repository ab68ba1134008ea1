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

CLASS_WORDS = [
    ["graph", "neural", "network", "node", "edge"],
    ["protein", "cell", "gene", "dna", "enzyme"],
    ["stock", "market", "price", "trade", "bank"],
]
COMMON_WORDS = ["the", "a", "study", "of", "new", "results"]
N = 36
SPLIT = "per_class:4:9:9"


def tiny_graph(seed: int = 0) -> TextAttributedGraph:
    r"""Node :obj:`i` of class :obj:`i % 3`: 3-5 class words and 2 common words; two edges to
    nodes of its class and one to a random node."""
    g = torch.Generator().manual_seed(seed)
    texts = []
    for i in range(N):
        k = int(torch.randint(3, 6, (1,), generator=g))
        words = [CLASS_WORDS[i % 3][j] for j in torch.randint(0, 5, (k,), generator=g).tolist()]
        words += [COMMON_WORDS[j] for j in torch.randint(0, 6, (2,), generator=g).tolist()]
        texts.append(" ".join(words))
    y = torch.arange(N) % 3
    src, dst = [], []
    for i in range(N):
        same = [j for j in range(i % 3, N, 3) if j != i]
        for k in torch.randperm(len(same), generator=g)[:2].tolist():
            src.append(i)
            dst.append(same[k])
        src.append(i)
        dst.append(int(torch.randint(0, N, (1,), generator=g)))
    return TextAttributedGraph(texts, torch.tensor([src, dst]), y, ["a", "b", "c"], name="tiny")


def supervised_config(**changes) -> Config:
    values = dict(
        # the paper's LEADING: equal pipeline batch sizes, no pseudo-labels
        refresh_fraction=None,
        pseudo_labels=0.0,
        method="supervised", epochs=2, head_epochs=5, batch_size=4, hidden=16, progress=False,
        downstream=["gcn"], seeds=1, eval_steps=20, bf16=False, max_length=16, pooling="mean",
    )
    values.update(changes)
    cfg = Config(**values)
    return cfg.replace(**method_overrides(cfg.method))


@pytest.fixture(scope="module")
def graph() -> TextAttributedGraph:
    return tiny_graph()




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
    head = EndToEndHead("mlp", N, 8, 16, 3).eval()
    assert head.prop is None and head.gnn is None and "mlp" in repr(head)
    h = torch.randn(N, 8)
    ids = torch.arange(N)
    out = head(h, graph.edge_index, ids)
    assert out.shape == (N, 3)
    torch.testing.assert_close(out, head(h, torch.empty(2, 0, dtype=torch.long), ids))
    torch.testing.assert_close(out[:5], head(h[:5], graph.edge_index[:, :0], ids[:5]))


# -------------------------------------------------------------------------------- supervised


def test_supervised_trains_the_lm_without_the_graph(graph, splits, make_encoder):
    cfg = supervised_config(epochs=4, patience=10, lr_lm=1e-3, lr_head_finetune=1e-2, dropout=0.0)
    enc = make_encoder()
    before = {k: v.detach().clone() for k, v in enc.state_dict().items()}
    trainer = LeadingTrainer(graph, splits, enc, cfg, seed=0)
    assert trainer.refresh_size == 0  # no pipeline 2: plain supervised fine-tuning
    res = trainer.fit()
    assert res.embeddings.shape == (N, 32)
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
    graph, splits, make_encoder
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


def write_dataset(make_dir, path: Path, graph: TextAttributedGraph) -> Path:
    r"""Writes :obj:`graph` as a dataset directory that ``--dataset`` reads."""
    nodes = [{"node_id": i, "text": t, "label": int(c)}
             for i, (t, c) in enumerate(zip(graph.texts, graph.y.tolist(), strict=True))]
    edges = graph.edge_index.t().tolist()
    return make_dir(path, nodes, edges, classes=["a", "b", "c"])


@pytest.fixture
def dataset(tmp_path, make_dir, graph):
    return write_dataset(make_dir, tmp_path / "tiny", graph)


def run_config(dataset, lm, out, **changes) -> Config:
    values = dict(
        # the paper's LEADING: equal pipeline batch sizes, no pseudo-labels
        refresh_fraction=None,
        pseudo_labels=0.0,
        dataset=str(dataset), lm=str(lm), split=SPLIT, epochs=1, head_epochs=5, batch_size=4,
        hidden=16, progress=False, downstream=["gcn"], seeds=2, eval_steps=20, bf16=False,
        max_length=16, pooling="mean", out_dir=str(out), save_model=False,
    )
    values.update(changes)
    return Config(**values)


def check_results(cfg: Config) -> dict:
    result = json.loads((Path(cfg.out_dir) / "results.json").read_text())
    assert result["method"] == cfg.method and result["seeds"] == [0, 1]
    gcn = result["downstream"]["gcn"]
    assert set(gcn) == {"test_acc", "valid_acc", "mean", "std"}
    assert len(gcn["test_acc"]) == 2 and all(0.0 <= a <= 1.0 for a in gcn["test_acc"])
    assert [r["method"] for r in result["per_seed"]] == [cfg.method] * 2
    assert result["train"]["peak_rss_mb"] > 0
    return result


def test_run_shallow(dataset, tmp_path, monkeypatch, graph):
    import leading.run as run_module

    calls = []
    features = run_module.shallow_features

    def counting(*args, **kwargs):
        calls.append(args)
        return features(*args, **kwargs)

    monkeypatch.setattr(run_module, "shallow_features", counting)
    # no LM is loaded: the lm setting names nothing that exists
    cfg = run_config(dataset, tmp_path / "no-such-lm", tmp_path / "out", method="shallow",
                     shallow_kind="bow", shallow_max_features=10)
    result = run(cfg)
    assert result == check_results(cfg)
    assert len(calls) == 1  # computed once, shared by both seeds
    assert result["shallow"] == {"kind": "bow", "max_features": 10}
    assert result["method_overrides"] == {}
    assert "e2e" not in result and "best_epoch" not in result
    assert result["train"]["encodings_per_node_per_epoch"] == 0.0
    x = torch.load(tmp_path / "out" / "seed_1" / "embeddings.pt")
    torch.testing.assert_close(x, shallow_features(graph.texts, "bow", 10))
    assert x.shape == (N, 10)


def test_run_supervised(dataset, lm_dir, tmp_path):
    cfg = run_config(dataset, lm_dir, tmp_path / "out", method="supervised")
    result = run(cfg)
    check_results(cfg)
    assert result["method_overrides"]["head"] == "mlp"
    assert len(result["e2e"]["test_acc"]) == 2 and len(result["best_epoch"]) == 2
    # one LM encoding per target with gradient, nothing else
    train = result["train"]
    assert train["encodings_per_target_per_epoch"] == 1.0
    assert train["encodings_per_node_per_epoch"] == pytest.approx(12 / N)
    assert torch.load(tmp_path / "out" / "seed_0" / "embeddings.pt").shape == (N, 32)
    assert Config.load(tmp_path / "out" / "config.yaml") == cfg
