r"""Fixtures shared by the trainer tests: the tiny :obj:`graph` (a module may define its own),
its splits, tiny random BERT encoders, and a crash right after a checkpoint."""

import copy

import pytest
import torch

from leading.data.splits import per_class_split
from leading.text.encoder import TextEncoder


@pytest.fixture(scope="module")
def graph(tiny_graph):
    r"""The tiny labelled graph (``tiny.tiny_graph()``): 36 nodes, 3 classes."""
    return tiny_graph()


@pytest.fixture(scope="module")
def splits(graph):
    r"""4 training, 9 validation and 9 test nodes per class of the module's :obj:`graph`."""
    return per_class_split(graph.y, 4, 9, 9, seed=0)


@pytest.fixture
def make_encoder(bert_tokenizer, make_bert):
    r"""A factory of fresh tiny random BERT encoders (mean pooling, 16 tokens, fp32)."""

    def make(seed: int = 0) -> TextEncoder:
        model = make_bert(len(bert_tokenizer), seed=seed, dtype=torch.float32)
        return TextEncoder(model, copy.deepcopy(bert_tokenizer), "mean", 16, bf16=False)

    return make


@pytest.fixture
def crash_after_epoch(monkeypatch):
    r"""``crash_after_epoch(k)`` makes every trainer stop with :class:`KeyboardInterrupt` right
    after it wrote the checkpoint of epoch :obj:`k` (as if killed there); returns the undo."""
    from leading.train import Trainer

    def arm(epoch: int):
        save = Trainer.save_checkpoint

        def save_then_crash(self):
            save(self)
            if self.epoch == epoch:
                raise KeyboardInterrupt

        monkeypatch.setattr(Trainer, "save_checkpoint", save_then_crash)
        return monkeypatch.undo

    return arm
