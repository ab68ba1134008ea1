r"""The size rule (:mod:`leading.train.scale`): on a large graph a training step touches a number of
rows that depends on the batch and the fanouts, not on the number of nodes."""

import math

import pytest
import torch
from test_node import small_config, tiny_graph

from leading.data.graph import TextAttributedGraph
from leading.train import LeadingTrainer
from leading.train.scale import DEFAULT_LARGE_TARGETS, resolve_scale

WORDS = ["graph", "protein", "market", "node", "cell", "price", "edge", "gene", "trade"]


def random_graph(n: int, degree: int = 6, seed: int = 0) -> TextAttributedGraph:
    r""":obj:`n` nodes of 3 classes, each with :obj:`degree` random out-edges (made undirected)
    and a 3-word text."""
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(n).repeat_interleave(degree)
    dst = torch.randint(0, n, (n * degree,), generator=g)
    words = torch.randint(0, len(WORDS), (n, 3), generator=g).tolist()
    texts = [" ".join(WORDS[w] for w in row) for row in words]
    y = torch.arange(n) % 3
    return TextAttributedGraph(texts, torch.stack([src, dst]), y, ["a", "b", "c"], name=f"r{n}")


@pytest.fixture(scope="module")
def graph():
    return tiny_graph()


def splits_of(n: int) -> dict[str, torch.Tensor]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    return {"train": perm[:60].sort().values, "valid": perm[60:90], "test": perm[90:120]}


def test_resolve_scale():
    cfg = small_config(full_graph_nodes=1000, refresh_fraction=1.0)
    small, large = resolve_scale(cfg, 1000), resolve_scale(cfg, 1001)
    assert (small.large, small.scope, small.targets_per_epoch, small.refresh_cap) == (
        False, "full", None, None)
    assert (large.large, large.scope, large.targets_per_epoch, large.refresh_cap) == (
        True, "subgraph", DEFAULT_LARGE_TARGETS, cfg.batch_size)
    # refresh_fraction of the graph per epoch, capped per step on the large graph only
    assert small.refresh_size(cfg, 10) == 100 and large.refresh_size(cfg, 10) == cfg.batch_size
    # explicit settings win; 0 targets per epoch means all; grad_hops needs subgraphs
    cfg = small_config(full_graph_nodes=1000, scope="full", targets_per_epoch=0,
                       refresh_batch_size=7)
    large = resolve_scale(cfg, 5000)
    assert (large.scope, large.targets_per_epoch, large.refresh_cap) == ("full", None, 7)
    assert resolve_scale(small_config(grad_hops=1), 10).scope == "subgraph"
    assert "5,000 nodes (large): scope full" in large.describe()


@pytest.fixture
def measure(make_encoder):
    def run(n: int, **changes) -> tuple[list[int], list[int], int]:
        graph = random_graph(n)
        cfg = small_config(full_graph_nodes=1000, pseudo_labels=0.0, prefill=False, **changes)
        trainer = LeadingTrainer(graph, splits_of(n), make_encoder(), cfg, seed=0)
        head_rows, encoded = [], []
        trainer.head.register_forward_pre_hook(lambda m, args: head_rows.append(args[0].size(0)))
        encode = trainer.encoder.encode

        def spy(tokens, node_ids):
            encoded.append(node_ids.numel())
            return encode(tokens, node_ids)

        trainer.encoder.encode = spy
        for batch in trainer.task.epoch_batches(trainer.gen, cfg.batch_size)[:5]:
            trainer.training_step(batch, with_lm=True)
            trainer.optimizer_step(with_lm=True)
        return head_rows, encoded, trainer.refresh_size

    return run


def test_step_cost_does_not_depend_on_the_number_of_nodes(measure):
    # batch 4, fanouts [3, 2]: at most 4 (1 + 3 + 3 * 2) = 40 rows, whatever the graph's size
    bound = 4 * (1 + 3 + 3 * 2)
    for n in (2_000, 20_000):
        head_rows, encoded, refresh = measure(n)
        assert len(head_rows) == 5 and max(head_rows) <= bound, (n, head_rows)
        assert refresh == 4  # pipeline 2 as large as pipeline 1
        # per step: the refresh (in batches of encode_batch_size) and the 4 targets
        assert sum(encoded) == 5 * (4 + 4)
    # the same steps over the whole graph touch every row: the count above can fail
    head_rows, _, _ = measure(2_000, scope="full")
    assert head_rows == [2_000] * 5


def test_targets_per_epoch_draws_training_nodes_first(graph, splits, make_encoder):
    n_train = splits["train"].numel()  # 12
    cfg = small_config(pseudo_labels=1.0, targets_per_epoch=20)
    trainer = LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0)
    trainer.task.pseudo_label(trainer)
    assert trainer.targets.numel() == graph.num_nodes
    assert trainer.steps_per_epoch == math.ceil(20 / cfg.batch_size)
    seen = []
    for _ in range(3):
        epoch = torch.cat(trainer.task.epoch_batches(trainer.gen, cfg.batch_size))
        assert epoch.numel() == 20 and epoch.unique().numel() == 20
        assert bool(torch.isin(splits["train"], epoch).all())  # every training node
        seen.append(set(epoch.tolist()) - set(splits["train"].tolist()))
    assert len(seen[0]) == 20 - n_train and len(set.union(*seen)) > 20 - n_train  # fresh draws
    # a budget below the training set: a random subset of the training nodes
    trainer.task.set_epoch_budget(5)
    epoch = torch.cat(trainer.task.epoch_batches(trainer.gen, cfg.batch_size))
    assert epoch.numel() == 5 and bool(torch.isin(epoch, splits["train"]).all())


@pytest.mark.parametrize("head", ["implicit", "sage", "gcn"])
def test_chunked_inference_equals_the_whole_graph_pass(graph, splits, make_encoder, monkeypatch,
                                                       head):
    trainer = LeadingTrainer(graph, splits, make_encoder(), small_config(head=head), seed=0)
    trainer.prefill()
    whole = trainer.predict()
    monkeypatch.setattr(trainer, "PREDICT_CHUNK", 5)
    chunked = trainer.predict()  # the MLP by chunks, or a GNN head layer by layer
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("full_graph_nodes", [20_000, 10])
def test_head_warmup_validates_ten_times_on_a_large_graph(
    graph, splits, make_encoder, monkeypatch, full_graph_nodes
):
    cfg = small_config(head_epochs=25, full_graph_nodes=full_graph_nodes)
    trainer = LeadingTrainer(graph, splits, make_encoder(), cfg, seed=0)
    calls = []
    evaluate = LeadingTrainer.evaluate
    monkeypatch.setattr(LeadingTrainer, "evaluate",
                        lambda self, *a, **k: calls.append(1) or evaluate(self, *a, **k))
    trainer.head_warmup()
    # small: the start and every epoch; large (36 nodes > 10): the start, epochs 3, 6, ... 24
    # and the last
    assert len(calls) == (1 + 25 if full_graph_nodes > graph.num_nodes else 1 + 8 + 1)
    assert [e for e in range(1, 26) if trainer.scale.validates_after(e, 25)] == (
        list(range(1, 26)) if full_graph_nodes > graph.num_nodes else [*range(3, 25, 3), 25])
