r"""Shallow node features from the node texts: the classic bag-of-words / TF-IDF baseline.

The paper's "shallow embedding" baseline feeds a GNN hand-made word features instead of LM
embeddings. Planetoid Cora's pre-computed features (1,433 binary word indicators) are not part
of the text-attributed graphs used here, so the features are rebuilt from the node texts with
scikit-learn, in the same spirit: a vocabulary of the most frequent words (English stop words
dropped, words in fewer than :obj:`min_df` texts dropped), fitted on *all* node texts. This is
unsupervised (no label, and no split, is read), as are the classic features.

Two kinds:

* ``"tfidf"`` (the default): sublinear term frequency :math:`1 + \log tf` times smoothed inverse
  document frequency, rows normalized to unit L2 norm
  (:class:`~sklearn.feature_extraction.text.TfidfVectorizer`).
* ``"bow"``: binary word indicators, like Planetoid Cora's features
  (:class:`~sklearn.feature_extraction.text.CountVectorizer` with ``binary=True``).

The default was chosen on the packaged Cora (20 labels per class, 500 validation nodes, seeds
0 and 1) by the *validation* accuracy of the downstream GCN
(:func:`leading.eval.downstream.evaluate_downstream`, default grid, L2-normalized features);
the differences are within seed noise, and TF-IDF with 3,000 words was ahead by half a point:

===========================  ==========================
features                     GCN validation accuracy
===========================  ==========================
tfidf, 1,433 words           0.828, 0.850 (mean 0.839)
tfidf, 3,000 words           0.834, 0.854 (mean 0.844)
bow (binary), 1,433 words    0.814, 0.860 (mean 0.837)
bow (binary), 3,000 words    0.814, 0.860 (mean 0.837)
===========================  ==========================
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["SHALLOW_KINDS", "shallow_features"]

SHALLOW_KINDS = ("tfidf", "bow")


def shallow_features(
    texts: Sequence[str],
    kind: str = "tfidf",
    max_features: int | None = 3000,
    min_df: int = 2,
) -> Tensor:
    r"""Bag-of-words or TF-IDF features of every text, fitted on all :obj:`texts`.

    Words are lower-cased tokens of two or more letters or digits (scikit-learn's default token
    pattern); English stop words are dropped, and so are words found in fewer than :obj:`min_df`
    texts; the :obj:`max_features` words most frequent over all texts form the vocabulary (ties
    broken alphabetically by scikit-learn, so the result is deterministic).

    Args:
        texts (Sequence[str]): One text per node.
        kind (str): ``"tfidf"`` (sublinear tf times idf, unit-L2 rows) or ``"bow"`` (binary word
            indicators, like Planetoid Cora's 1,433 features). (default: :obj:`"tfidf"`)
        max_features (int, optional): Vocabulary size; :obj:`None` keeps every word that passes
            :obj:`min_df`. (default: :obj:`3000`)
        min_df (int): Minimum number of texts a word must occur in. (default: :obj:`2`)

    Returns:
        Tensor: Dense :obj:`float32` features :obj:`[N, F]`, :obj:`F <= max_features`.

    Raises:
        ValueError: For an unknown :obj:`kind`, a :obj:`max_features` or :obj:`min_df` below 1,
            or texts that leave no word in the vocabulary.
    """
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    if kind not in SHALLOW_KINDS:
        raise ValueError(f"unknown shallow feature kind {kind!r}; expected one of {SHALLOW_KINDS}")
    if max_features is not None and max_features < 1:
        raise ValueError(f"max_features must be >= 1 (or None), got {max_features}")
    if min_df < 1:
        raise ValueError(f"min_df must be >= 1, got {min_df}")
    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("shallow_features needs at least one text")
    common = dict(stop_words="english", min_df=min_df, max_features=max_features)
    if kind == "tfidf":
        vectorizer = TfidfVectorizer(sublinear_tf=True, **common)
    else:
        vectorizer = CountVectorizer(binary=True, **common)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError as e:  # "empty vocabulary; perhaps the documents only contain stop words"
        raise ValueError(f"shallow_features ({kind}): {e}") from e
    return torch.from_numpy(matrix.toarray()).to(torch.float32)
