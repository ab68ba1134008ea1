r"""Shallow (bag-of-words / TF-IDF) node features from the node texts."""

import inspect

import pytest
import torch

from leading.config import Config
from leading.errors import ConfigError
from leading.text.shallow import SHALLOW_KINDS, shallow_features

TEXTS = [
    "Graph neural networks pass messages over the edges of a graph.",
    "Neural networks learn node embeddings; the graph gives the edges.",
    "Proteins and genes: the cell expresses a gene that codes a protein.",
    "A gene, a cell and a protein in the cell.",
    "Stock market prices and the bank trade.",
    "The bank sets market prices for every trade.",
]


@pytest.mark.parametrize("kind", SHALLOW_KINDS)
def test_shape_dtype_and_values(kind):
    x = shallow_features(TEXTS, kind=kind)
    assert x.dtype == torch.float32 and x.dim() == 2 and x.size(0) == len(TEXTS)
    assert 0 < x.size(1) <= 3000
    assert (x >= 0).all()
    if kind == "bow":
        assert set(x.unique().tolist()) <= {0.0, 1.0}
    else:  # unit-L2 rows
        torch.testing.assert_close(x.norm(dim=1), torch.ones(len(TEXTS)))


def test_max_features_and_min_df():
    full = shallow_features(TEXTS, kind="bow")
    # words in two or more texts: graph neural networks edges gene cell protein market prices
    # bank trade (stop words and single-text words dropped)
    assert full.size(1) == 11
    assert shallow_features(TEXTS, kind="bow", max_features=4).size(1) == 4
    assert shallow_features(TEXTS, kind="bow", min_df=1).size(1) > 11


def test_deterministic_and_a_function_of_the_texts_alone():
    # no labels (nor splits) enter: the signature takes texts only, and reordering the nodes
    # reorders the rows
    assert list(inspect.signature(shallow_features).parameters) == [
        "texts", "kind", "max_features", "min_df"
    ]
    for kind in SHALLOW_KINDS:
        a = shallow_features(TEXTS, kind=kind, max_features=8)
        torch.testing.assert_close(a, shallow_features(TEXTS, kind=kind, max_features=8))
        perm = torch.randperm(len(TEXTS), generator=torch.Generator().manual_seed(0)).tolist()
        b = shallow_features([TEXTS[i] for i in perm], kind=kind, max_features=8)
        torch.testing.assert_close(b, a[perm])


def test_stop_words_are_dropped():
    texts = ["the graph and the node", "the graph of a node", "the cell", "and of the a"]
    x = shallow_features(texts, kind="bow")
    # vocabulary: graph, node (in two texts each); "cell" is in one text only
    assert x.shape == (4, 2)
    assert x.tolist() == [[1.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match="empty vocabulary"):
        shallow_features(["the and of", "a the", "of and"], kind="tfidf")


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match=r"unknown shallow feature kind 'word2vec'.*tfidf"):
        shallow_features(TEXTS, kind="word2vec")
    with pytest.raises(ValueError, match="max_features must be >= 1"):
        shallow_features(TEXTS, max_features=0)
    with pytest.raises(ValueError, match="min_df must be >= 1"):
        shallow_features(TEXTS, min_df=0)
    with pytest.raises(ValueError, match="at least one text"):
        shallow_features([])


def test_config_fields():
    cfg = Config(method="shallow", shallow_kind="bow", shallow_max_features=1433)
    assert cfg.shallow_kind == "bow" and cfg.shallow_max_features == 1433
    assert Config().shallow_kind == "tfidf"
    with pytest.raises(ConfigError, match="shallow_kind must be tfidf or bow"):
        Config(shallow_kind="word2vec")
    with pytest.raises(ConfigError, match="shallow_max_features must be >= 1"):
        Config(shallow_max_features=0)
