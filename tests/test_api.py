r"""The Python API, :func:`leading.finetune`: a tiny random BERT saved with ``save_pretrained``
(``lm_dir``) fine-tuned on the 5-node graph of ``small_dir``."""

import pytest
import torch

import leading
from leading.api import TrainResult
from leading.data import load_dataset, make_split
from leading.data.graph import TextAttributedGraph
from leading.errors import ConfigError
from leading.text import TextEncoder, is_lora

#: Settings small enough for a 5-node graph and a 2-layer BERT of width 32.
TINY = dict(
    epochs=1, head_epochs=2, batch_size=2, hidden=8, max_length=16, pooling="mean",
    precision="fp32", progress=False,
)


@pytest.fixture
def graph(small_dir) -> TextAttributedGraph:
    r"""5 nodes, 3 classes, its own splits (train 0 1, valid 2, test 3 4)."""
    return load_dataset(str(small_dir))


def without_splits(graph: TextAttributedGraph) -> TextAttributedGraph:
    return TextAttributedGraph(graph.texts, graph.edge_index, graph.y, graph.class_names)


def test_finetune_returns_the_fine_tuned_encoder_and_embeddings(graph, lm_dir, tmp_path):
    res = leading.finetune(graph, str(lm_dir), run_dir=tmp_path / "run", **TINY)
    assert isinstance(res, TrainResult) and isinstance(res.encoder, TextEncoder)
    assert res.embeddings.shape == (graph.num_nodes, 32)
    assert res.embeddings.dtype == torch.float32
    tokens = res.encoder.tokenize(graph.texts)
    torch.testing.assert_close(res.embeddings, res.encoder.encode_all(tokens, progress=False))
    assert set(res.e2e) == {"train_acc", "valid_acc", "test_acc"}
    assert res.stats["trainable_params"]["lora_r"] == 0
    assert res.stats["trainable_params"]["fraction"] == 1.0
    assert (tmp_path / "run" / "metrics.csv").exists()


def test_finetune_uses_the_given_or_drawn_splits(graph, lm_dir):
    def embeddings(g, **kwargs) -> torch.Tensor:
        return leading.finetune(g, str(lm_dir), **kwargs, **TINY).embeddings

    plain = without_splits(graph)
    given = {"train": torch.tensor([2, 3]), "valid": torch.tensor([4]), "test": torch.arange(2)}
    with_given = embeddings(graph, splits=given)
    assert torch.equal(with_given, embeddings(plain, splits=given))  # not the graph's own
    assert not torch.equal(with_given, embeddings(graph))  # the graph's own splits
    # no splits anywhere: the split setting, drawn with the seed
    drawn = embeddings(plain, split="60/20/20", seed=1)
    assert torch.equal(drawn, embeddings(plain, splits=make_split(plain, "60/20/20", 1), seed=1))


def test_finetune_accepts_an_encoder_and_adds_lora(graph, lm_dir):
    pytest.importorskip("peft")
    enc = TextEncoder.from_pretrained(lm_dir, "mean", 16, "fp32")
    res = leading.finetune(graph, enc, lora_r=2, **TINY)
    assert res.encoder is enc and is_lora(enc)
    info = res.stats["trainable_params"]
    assert info["lora_r"] == 2 and 0 < info["fraction"] < 0.1


def test_finetune_rejects_unknown_or_invalid_settings(graph):
    with pytest.raises(ConfigError, match="no_such_setting"):
        leading.finetune(graph, "no-such-model", no_such_setting=1)
    with pytest.raises(ConfigError, match="epochs"):
        leading.finetune(graph, "no-such-model", epochs=-1)
